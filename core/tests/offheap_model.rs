//! Property tests of [`leakless_core::offheap::OffHeap`]: random operation
//! sequences checked against a plain model after every step (see
//! `support/offheap_model.rs`): answers, sizes, `calculated_size <=
//! max_size`, counters, order, and removed entries with their reasons.
//!
//! `PROPTEST_CASES` overrides the number of cases. Under Miri the proptest
//! cases are skipped and the byte-driven runs (the fuzz targets' decoder)
//! take their place.

#[path = "support/offheap_model.rs"]
mod model;
#[macro_use]
#[path = "support/runner.rs"]
mod runner;

use leakless_core::offheap::{number_key, Limits, ENTRY_OVERHEAD};
use leakless_core::recency::STAMP_LIMIT;
use model::{Config, Harness, Key, Op, Value};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = Key> {
  let nums = prop_oneof![
    Just(0.0),
    Just(-0.0),
    Just(1.0),
    Just(1.5),
    Just(-1e300),
    Just(f64::INFINITY),
    Just(f64::NAN),
    Just(f64::from_bits(0xfff8_0000_0000_0001)),
  ]
  .prop_map(|n| Key::Num(number_key(n)));
  let utf8 = prop_oneof![
    Just(String::new()),
    Just("a".to_string()),
    Just("b".to_string()),
    Just("c".to_string()),
    Just("dd".to_string()),
    Just("é".to_string()),
    Just("k".repeat(200)),
  ]
  .prop_map(|s| Key::Utf8(s.into_bytes()));
  let utf16 = prop_oneof![
    Just(vec![0xd800u16]),
    Just(vec![0xd800, 0x41]),
    Just(vec![0xdc00, 0xdc00, 0x42]),
    Just(vec![]),
  ]
  .prop_map(Key::Utf16);
  prop_oneof![3 => nums, 5 => utf8, 2 => utf16]
}

fn value() -> impl Strategy<Value = Value> {
  // Few distinct small values, so that a key is often set again to an equal
  // value (which is not a replacement).
  let len = prop_oneof![6 => 0usize..=4, 3 => 5usize..=40, 1 => 100usize..=400];
  (0u8..3, len, prop_oneof![3 => 0u8..2, 1 => any::<u8>()])
    .prop_map(|(kind, len, seed)| model::value_of(kind, len, seed))
}

fn ttl() -> impl Strategy<Value = f64> {
  prop_oneof![4 => Just(0.0), 3 => (1u8..=50).prop_map(f64::from), 1 => Just(-5.0)]
}

fn op() -> impl Strategy<Value = Op> {
  prop_oneof![
    8 => key().prop_map(Op::Get),
    2 => (key(), any::<bool>()).prop_map(|(k, s)| Op::Peek(k, s)),
    2 => key().prop_map(Op::Has),
    1 => key().prop_map(Op::RemainingTtl),
    12 => (key(), value(), ttl(), prop::option::weighted(0.1, -20i8..50))
      .prop_map(|(k, v, ttl, at)| Op::Set(k, v, ttl, at.map(|d| 100.0 + f64::from(d)))),
    3 => key().prop_map(Op::Delete),
    1 => Just(Op::Clear),
    2 => Just(Op::Pop),
    1 => prop_oneof![1usize..=6, Just(usize::MAX)].prop_map(Op::Resize),
    1 => Just(Op::PurgeStale),
    3 => (1u8..=20).prop_map(|d| Op::Advance(f64::from(d))),
    2 => Just(Op::Entries),
  ]
}

fn config() -> impl Strategy<Value = Config> {
  (
    prop_oneof![1usize..=8, Just(usize::MAX)],
    prop_oneof![
      Just(usize::MAX),
      Just(ENTRY_OVERHEAD + 8),
      Just(2 * ENTRY_OVERHEAD + 40),
      Just(4 * ENTRY_OVERHEAD + 300),
      Just(1000usize),
    ],
    any::<bool>(),
    any::<bool>(),
    prop::bool::weighted(0.8),
    prop_oneof![3 => Just(0u32), 1 => (1u32..100).prop_map(|k| STAMP_LIMIT - k)],
  )
    .prop_map(
      |(max, max_size, update_age_on_get, allow_stale, collect, first_tick)| Config {
        limits: Limits {
          max,
          max_size,
          update_age_on_get,
          allow_stale,
        },
        collect,
        first_tick,
      },
    )
}

model_tests!(
  Harness,
  offheap_agrees_with_the_model,
  (config(), prop::collection::vec(op(), 1..300)),
  "offheap",
  2048
);
