//! attune head firmware for the Raspberry Pi Pico.
//!
//! Wiring: servos on GP2 (yaw), GP3 (pitch), GP4 (roll), GP5 (lean), 50 Hz
//! PWM from slices 1 and 2; the head link on UART0, GP0 = TX, GP1 = RX,
//! 115 200 baud 8N1 (a USB-UART adapter shows up on the host as
//! /dev/ttyUSB0; `attune head ping --port /dev/ttyUSB0`).
//!
//! Everything but the pin set-up is `attune_firmware::Firmware`, the same
//! code the host simulator runs.
#![no_std]
#![no_main]

use attune_firmware::{Firmware, HeadParams};
use attune_protocol::HeadMsg;
use core::convert::Infallible;
use embedded_hal::pwm::SetDutyCycle;
use panic_halt as _;
use rp_pico::entry;
use rp_pico::hal::{
    self,
    fugit::RateExtU32,
    gpio::FunctionUart,
    pac,
    uart::{DataBits, Enabled, StopBits, UartConfig, UartDevice, UartPeripheral, ValidUartPinout},
    Clock,
};

/// Firmware name reported in the handshake.
const FIRMWARE: &str = concat!("attune-head-pico ", env!("CARGO_PKG_VERSION"));

/// PWM counter runs at 1 MHz (125 MHz / 125), so one count is one µs and a
/// 20 000-count period is the 50 Hz servo frame.
const PWM_DIV: u8 = 125;
const PWM_TOP: u16 = 19_999;

/// Halts on an unrecoverable set-up error (the watchdog of the host link
/// cannot help before the PWM exists; the servos get no pulses and stay limp).
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// The UART as the firmware's serial port: the HAL implements embedded-io
/// `Read`/`Write`; readiness comes from the RX FIFO flag.
struct Link<'a, D: UartDevice, P: ValidUartPinout<D>>(&'a mut UartPeripheral<Enabled, D, P>);

impl<D: UartDevice, P: ValidUartPinout<D>> embedded_io::ErrorType for Link<'_, D, P> {
    type Error = <UartPeripheral<Enabled, D, P> as embedded_io::ErrorType>::Error;
}

impl<D: UartDevice, P: ValidUartPinout<D>> embedded_io::Read for Link<'_, D, P> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        embedded_io::Read::read(self.0, buf)
    }
}

impl<D: UartDevice, P: ValidUartPinout<D>> embedded_io::ReadReady for Link<'_, D, P> {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.0.uart_is_readable())
    }
}

impl<D: UartDevice, P: ValidUartPinout<D>> embedded_io::Write for Link<'_, D, P> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        embedded_io::Write::write(self.0, buf)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        embedded_io::Write::flush(self.0)
    }
}

#[entry]
fn main() -> ! {
    let Some(mut pac) = pac::Peripherals::take() else { halt() };
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = hal::clocks::init_clocks_and_plls(
        rp_pico::XOSC_CRYSTAL_FREQ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    ) else {
        halt()
    };
    let sio = hal::Sio::new(pac.SIO);
    let pins = rp_pico::Pins::new(pac.IO_BANK0, pac.PADS_BANK0, sio.gpio_bank0, &mut pac.RESETS);
    let timer = hal::Timer::new(pac.TIMER, &mut pac.RESETS, &clocks);

    let uart_pins = (pins.gpio0.into_function::<FunctionUart>(), pins.gpio1.into_function::<FunctionUart>());
    let Ok(mut uart) = UartPeripheral::new(pac.UART0, uart_pins, &mut pac.RESETS).enable(
        UartConfig::new(115_200.Hz(), DataBits::Eight, None, StopBits::One),
        clocks.peripheral_clock.freq(),
    ) else {
        halt()
    };

    let mut slices = hal::pwm::Slices::new(pac.PWM, &mut pac.RESETS);
    let s1 = &mut slices.pwm1;
    s1.set_div_int(PWM_DIV);
    s1.set_top(PWM_TOP);
    s1.enable();
    let s2 = &mut slices.pwm2;
    s2.set_div_int(PWM_DIV);
    s2.set_top(PWM_TOP);
    s2.enable();
    let mut yaw = slices.pwm1.channel_a;
    yaw.output_to(pins.gpio2);
    let mut pitch = slices.pwm1.channel_b;
    pitch.output_to(pins.gpio3);
    let mut roll = slices.pwm2.channel_a;
    roll.output_to(pins.gpio4);
    let mut lean = slices.pwm2.channel_b;
    lean.output_to(pins.gpio5);

    // Design: the four channels have four distinct types; the firmware takes
    // one type per array, so they go in as trait objects.
    let chans: [&mut dyn SetDutyCycle<Error = Infallible>; 4] = [&mut yaw, &mut pitch, &mut roll, &mut lean];
    let now_ms = |t: &hal::Timer| (t.get_counter().ticks() / 1000) as u32;
    // The PWM error type is Infallible, so this cannot fail.
    let Ok(mut fw) = Firmware::new(HeadParams::DEFAULT, FIRMWARE, chans, now_ms(&timer));

    loop {
        let now = now_ms(&timer);
        fw.service_rx(&mut Link(&mut uart), now);
        if let Ok(Some(t)) = fw.poll_tick(now) {
            fw.send(&mut Link(&mut uart), &HeadMsg::Telemetry(t));
        }
    }
}
