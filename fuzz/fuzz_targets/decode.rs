//! Fuzzes the head-link frame decoder (both directions) with arbitrary
//! bytes. Run with nightly: `cargo +nightly fuzz run decode` in fuzz/.
//! The same body runs on stable as the proptest
//! `the_shared_fuzz_body_holds_on_arbitrary_input` in attune-protocol.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    attune_protocol::fuzzing::decode_stream(data);
});
