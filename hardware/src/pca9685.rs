//! PCA9685 16-channel PWM driver over embedded-hal 1.0 I²C, for heads wired
//! straight to the Pi. Each servo output is a [`Pca9685Channel`] that
//! implements `SetDutyCycle`, so the firmware's [`attune_firmware::Firmware`]
//! (motion, limits, watchdog) drives it unchanged.
//!
//! Register numbers from the NXP PCA9685 datasheet rev. 4, §7.3: MODE1 0x00,
//! LED0_ON_L 0x06 (+4 per channel), PRE_SCALE 0xFE; prescale =
//! round(25 MHz / (4096 · f)) − 1, which is 121 for 50 Hz.

use embedded_hal::i2c::I2c;
use embedded_hal::pwm::{ErrorKind, ErrorType, SetDutyCycle};
use std::sync::{Arc, Mutex};

/// MODE1 register.
pub const MODE1: u8 = 0x00;
/// First channel's ON_L register.
pub const LED0_ON_L: u8 = 0x06;
/// Prescaler register.
pub const PRE_SCALE: u8 = 0xFE;
/// MODE1: sleep (oscillator off; needed to change the prescaler).
pub const MODE1_SLEEP: u8 = 0x10;
/// MODE1: register auto-increment.
pub const MODE1_AI: u8 = 0x20;
/// Prescale for 50 Hz with the internal 25 MHz oscillator.
pub const PRESCALE_50HZ: u8 = 121;
/// Counts per PWM period.
pub const COUNTS: u16 = 4096;

/// The chip.
pub struct Pca9685<I> {
    /// The bus.
    i2c: I,
    /// 7-bit address.
    addr: u8,
}

impl<I: I2c> Pca9685<I> {
    /// Configures the chip for 50 Hz servo pulses with auto-increment.
    pub fn new(mut i2c: I, addr: u8) -> Result<Self, I::Error> {
        i2c.write(addr, &[MODE1, MODE1_SLEEP | MODE1_AI])?;
        i2c.write(addr, &[PRE_SCALE, PRESCALE_50HZ])?;
        i2c.write(addr, &[MODE1, MODE1_AI])?;
        Ok(Pca9685 { i2c, addr })
    }

    /// Sets one channel to be on for `counts` of 4096 (0 = fully off).
    pub fn set_counts(&mut self, channel: u8, counts: u16) -> Result<(), I::Error> {
        let reg = LED0_ON_L + 4 * (channel & 0x0F);
        let off = counts.min(COUNTS - 1);
        // ON at 0, OFF at `off`; OFF bit 12 (full off) when zero.
        let off_h = if counts == 0 { 0x10 } else { (off >> 8) as u8 };
        self.i2c.write(self.addr, &[reg, 0, 0, off as u8, off_h])
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.i2c
    }
}

/// One PCA9685 output as an embedded-hal PWM channel (shared chip).
pub struct Pca9685Channel<I> {
    /// The chip, shared by the four channels of the head.
    chip: Arc<Mutex<Pca9685<I>>>,
    /// Output number 0..=15.
    channel: u8,
}

impl<I> Pca9685Channel<I> {
    /// Channel `channel` of `chip`.
    pub fn new(chip: Arc<Mutex<Pca9685<I>>>, channel: u8) -> Self {
        Pca9685Channel { chip, channel }
    }
}

/// Why a channel write failed.
#[derive(Debug)]
pub enum ChannelError<E> {
    /// The I²C transfer failed.
    Bus(E),
    /// The chip was locked by another channel's write (or poisoned).
    Busy,
}

impl<E: core::fmt::Debug> embedded_hal::pwm::Error for ChannelError<E> {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

impl<I: I2c> ErrorType for Pca9685Channel<I> {
    type Error = ChannelError<I::Error>;
}

impl<I: I2c> SetDutyCycle for Pca9685Channel<I> {
    fn max_duty_cycle(&self) -> u16 {
        COUNTS
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Self::Error> {
        let mut chip = self.chip.try_lock().map_err(|_| ChannelError::Busy)?;
        chip.set_counts(self.channel, duty).map_err(ChannelError::Bus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_firmware::{duty_for_pulse, Firmware, HeadParams};
    use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as T};

    const A: u8 = 0x40;

    fn init() -> Vec<T> {
        vec![
            T::write(A, vec![MODE1, MODE1_SLEEP | MODE1_AI]),
            T::write(A, vec![PRE_SCALE, PRESCALE_50HZ]),
            T::write(A, vec![MODE1, MODE1_AI]),
        ]
    }

    #[test]
    fn the_firmware_drives_park_pulses_through_exact_pca9685_register_writes() {
        // Park: yaw 1500 µs, pitch 1389 µs (-10°), roll/lean 1500 µs;
        // counts = µs · 4096 / 20000, rounded: 1500 → 307, 1389 → 284.
        assert_eq!(duty_for_pulse(1500, 20_000, COUNTS), 307);
        assert_eq!(duty_for_pulse(1389, 20_000, COUNTS), 284);
        let channels = [4u8, 5, 6, 7];
        let counts = [307u16, 284, 307, 307];
        let mut tx = init();
        for (c, n) in channels.iter().zip(counts) {
            tx.push(T::write(A, vec![LED0_ON_L + 4 * c, 0, 0, n as u8, (n >> 8) as u8]));
        }
        let mock = I2cMock::new(&tx);
        let chip = Arc::new(Mutex::new(Pca9685::new(mock, A).unwrap()));
        let chans = channels.map(|c| Pca9685Channel::new(chip.clone(), c));
        let fw = Firmware::new(HeadParams::DEFAULT, "pca", chans, 0).unwrap();
        drop(fw);
        let Ok(m) = Arc::try_unwrap(chip) else { panic!("chip still shared") };
        m.into_inner().unwrap().release().done();
    }

    #[test]
    fn zero_duty_turns_the_output_fully_off() {
        let mut tx = init();
        tx.push(T::write(A, vec![LED0_ON_L + 4 * 15, 0, 0, 0, 0x10]));
        let mock = I2cMock::new(&tx);
        let mut chip = Pca9685::new(mock, A).unwrap();
        chip.set_counts(15, 0).unwrap();
        chip.release().done();
    }
}
