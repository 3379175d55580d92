//! Property tests of [`leakless_core::pool::Pool`]'s slot state machine:
//! acquire, release, finalize (leaked or late), trim and close in every order,
//! checked against a model after every step (see `support/pool_model.rs`):
//! a slot is never handed out twice, never reused before its Buffer was
//! detached or finalized, zero-filled leases show no old bytes, late
//! finalizers are ignored, `max_bytes` holds and the counters agree.
//!
//! `PROPTEST_CASES` overrides the number of cases.

#[path = "support/pool_model.rs"]
mod model;
#[macro_use]
#[path = "support/runner.rs"]
mod runner;

use leakless_core::pool::PoolConfig;
use model::{Harness, Op};
use proptest::prelude::*;

fn config() -> impl Strategy<Value = PoolConfig> {
  (
    prop_oneof![Just(64usize), Just(100), Just(1024), Just(4096)],
    1usize..=6,
    any::<bool>(),
  )
    .prop_map(|(buffer_size, n, zero_fill)| PoolConfig {
      buffer_size,
      max_bytes: buffer_size * n,
      zero_fill,
    })
}

fn op(buffer_size: usize) -> impl Strategy<Value = Op> {
  prop_oneof![
    8 => prop_oneof![8 => 1..=buffer_size, 1 => Just(0), 1 => Just(buffer_size + 1)].prop_map(Op::Acquire),
    5 => any::<usize>().prop_map(Op::Release),
    5 => any::<usize>().prop_map(Op::Finalize),
    1 => Just(Op::Trim),
    1 => prop::bool::weighted(0.2).prop_map(|close| if close { Op::Close } else { Op::Trim }),
  ]
}

fn case() -> impl Strategy<Value = (PoolConfig, Vec<Op>)> {
  config().prop_flat_map(|cfg| {
    (
      Just(cfg),
      prop::collection::vec(op(cfg.buffer_size), 1..300),
    )
  })
}

model_tests!(Harness, pool_agrees_with_the_model, case(), "pool", 2048);
