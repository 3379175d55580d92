//! Fuzz target of the pool's slot state machine: acquire, release, finalize,
//! trim and close decoded from the input and run through the harness of the
//! property tests (see core/tests/support/pool_model.rs). Built with
//! AddressSanitizer by cargo-fuzz, so the pool's raw allocations are checked
//! on every access too.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../core/tests/support/pool_model.rs"]
mod model;
#[path = "../../core/tests/support/runner.rs"]
mod runner;

/// Most operations run per input, so that one input cannot take long.
const MAX_OPS: usize = 4096;

fuzz_target!(|data: &[u8]| runner::run_bytes::<model::Harness>(data, MAX_OPS));
