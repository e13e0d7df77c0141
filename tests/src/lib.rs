//! End-to-end tests live in `tests/tests/`; see `tests/src/lib.rs` helpers.
