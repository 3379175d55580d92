//! Property tests of [`leakless_core::recency::Recency`]: random operation
//! sequences from a caller that behaves like `lib/lru.js`, checked against a
//! plain model after every step (see `support/recency_model.rs`).
//!
//! `PROPTEST_CASES` overrides the number of cases. Under Miri the proptest
//! cases are skipped and the byte-driven runs (the fuzz targets' decoder)
//! take their place.

#[path = "support/recency_model.rs"]
mod model;
#[macro_use]
#[path = "support/runner.rs"]
mod runner;

use leakless_core::recency::STAMP_LIMIT;
use model::{Config, Harness, Op};
use proptest::prelude::*;
use runner::Model;

fn config() -> impl Strategy<Value = Config> {
  (
    prop_oneof![1usize..=4, 5usize..=40, Just(200usize)],
    prop_oneof![Just(1usize), 2usize..=8, Just(128usize)],
    prop_oneof![Just(2usize), Just(8usize), Just(1024usize)],
    prop_oneof![3 => Just(0u32), 1 => (1u32..400).prop_map(|k| STAMP_LIMIT - k)],
    any::<bool>(),
    any::<bool>(),
    prop_oneof![3 => Just(true), 1 => Just(false)],
  )
    .prop_map(
      |(max, batch, log_size, first_tick, ttl_allowed, update_age_on_get, fresh)| Config {
        max,
        batch,
        log_size,
        first_tick,
        ttl_allowed,
        update_age_on_get,
        fresh,
      },
    )
}

fn ttl() -> impl Strategy<Value = u8> {
  prop_oneof![2 => Just(0u8), 1 => 1u8..=60]
}

fn op() -> impl Strategy<Value = Op> {
  prop_oneof![
    12 => (ttl(), any::<bool>()).prop_map(|(ttl, plain)| Op::Insert { ttl, plain }),
    10 => any::<u16>().prop_map(Op::Touch),
    4 => (any::<u16>(), ttl()).prop_map(|(i, ttl)| Op::Update { i, ttl }),
    4 => (any::<u16>(), any::<bool>()).prop_map(|(i, log)| Op::Delete { i, log }),
    2 => (1u8..=4).prop_map(Op::Evict),
    2 => Just(Op::Pop),
    2 => Just(Op::Order),
    3 => (1u8..=30).prop_map(Op::Advance),
    1 => Just(Op::Renumber),
    1 => Just(Op::Clear),
    1 => (prop_oneof![1u16..=8, 600u16..=1500], any::<bool>()).prop_map(|(n, log)| Op::Churn { n, log }),
    1 => Just(Op::Batch),
  ]
}

model_tests!(
  Harness,
  recency_agrees_with_the_model,
  (config(), prop::collection::vec(op(), 1..300)),
  "recency",
  4096
);

/// A run that is sure to cross the stamp limit several times and to reuse
/// slots from partly consumed batches, whatever the random cases did.
#[test]
fn renumbering_mid_batch_keeps_victims_exact() {
  let mut h = Harness::new(Config {
    max: 8,
    batch: 3,
    log_size: 8,
    first_tick: STAMP_LIMIT - 30,
    ttl_allowed: false,
    update_age_on_get: false,
    fresh: true,
  });
  for round in 0..200u16 {
    h.step(&Op::Insert {
      ttl: 0,
      plain: round % 3 != 0,
    });
    h.step(&Op::Touch(round * 7));
    if round % 5 == 0 {
      h.step(&Op::Renumber);
    }
  }
  h.finish();
  assert!(h.evictions > 100);
}

/// Fresh slots in every state a replay can find them in: read, deleted,
/// deleted and handed out again from the free list, expired, renumbered,
/// and interleaved with logged inserts into older slots.
#[test]
fn fresh_slots_filed_at_replay_keep_victims_exact() {
  for log_size in [2, 16, 1024] {
    let mut h = Harness::new(Config {
      max: 40,
      batch: 4,
      log_size,
      first_tick: STAMP_LIMIT - 150,
      ttl_allowed: true,
      update_age_on_get: true,
      fresh: true,
    });
    for round in 0..120u16 {
      h.step(&Op::Insert {
        ttl: (round % 7 == 0) as u8 * 5,
        plain: round % 2 == 0,
      });
      h.step(&Op::Touch(round * 3));
      if round % 4 == 0 {
        h.step(&Op::Delete {
          i: round,
          log: false,
        });
      }
      if round % 9 == 0 {
        h.step(&Op::Advance(3));
        h.step(&Op::Evict(1));
      }
      if round % 11 == 0 {
        h.step(&Op::Order);
      }
      if round == 100 {
        h.step(&Op::Clear);
      }
    }
    h.finish();
    assert!(h.unlogged > 50, "{} inserts unlogged", h.unlogged);
    assert!(h.renumbers > 0);
  }
}
