//! Fuzz target of the off-heap store: operation sequences decoded from the
//! input, run through the harness of the property tests (the store checked
//! against a plain model after every step: answers, sizes, `calculated_size
//! <= max_size`, order, removed entries and reasons; see
//! core/tests/support/offheap_model.rs). Built with AddressSanitizer by
//! cargo-fuzz, so the unsafe block layout of core/src/offheap.rs is checked
//! on every access too.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../core/tests/support/offheap_model.rs"]
mod model;
#[path = "../../core/tests/support/runner.rs"]
mod runner;

/// Most operations run per input, so that one input cannot take long.
const MAX_OPS: usize = 2048;

fuzz_target!(|data: &[u8]| runner::run_bytes::<model::Harness>(data, MAX_OPS));
