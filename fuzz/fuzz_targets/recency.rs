//! Fuzz target of the recency core: operation sequences decoded from the
//! input, run through the harness of the property tests (a caller that
//! behaves like lib/lru.js, checked against a plain model after every step;
//! see core/tests/support/recency_model.rs). Any disagreement or broken
//! invariant panics, which libFuzzer reports as a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../core/tests/support/recency_model.rs"]
mod model;
#[path = "../../core/tests/support/runner.rs"]
mod runner;

/// Most operations run per input, so that one input cannot take long.
const MAX_OPS: usize = 4096;

fuzz_target!(|data: &[u8]| runner::run_bytes::<model::Harness>(data, MAX_OPS));
