//! Fuzz target of the off-heap store: operation sequences decoded from the
//! input, run through the harness of the property tests (the store checked
//! against a plain model after every step: answers, sizes, `calculated_size
//! <= max_size`, order, removed entries and reasons). Built with
//! AddressSanitizer by cargo-fuzz, so the unsafe block layout of
//! `core/src/offheap.rs` is checked on every access too.

#![no_main]

use leakless_core::offheap::{number_key, Limits, ENTRY_OVERHEAD};
use leakless_core::recency::STAMP_LIMIT;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "../../core/tests/support/offheap_model.rs"]
mod model;

use model::{Config, Harness, Key, Op, Value};

/// Most operations run per input, so that one input cannot take long.
const MAX_OPS: usize = 2048;

fn config(u: &mut Unstructured<'_>) -> Result<Config> {
  let max = if u.ratio(1, 3)? {
    usize::MAX
  } else {
    u.int_in_range(1..=12usize)?
  };
  let max_size = match u.int_in_range(0..=4u8)? {
    0 => usize::MAX,
    1 => ENTRY_OVERHEAD + u.int_in_range(0..=64usize)?,
    _ => u.int_in_range(ENTRY_OVERHEAD..=4096usize)?,
  };
  let first_tick = if u.ratio(1, 4)? {
    STAMP_LIMIT - u.int_in_range(1..=200u32)?
  } else {
    0
  };
  Ok(Config {
    limits: Limits {
      max,
      max_size,
      update_age_on_get: u.arbitrary()?,
      allow_stale: u.arbitrary()?,
    },
    collect: !u.ratio(1, 5)?,
    first_tick,
  })
}

const NUMS: [f64; 8] = [
  0.0,
  -0.0,
  1.0,
  1.5,
  -1e300,
  f64::INFINITY,
  f64::NAN,
  -f64::NAN,
];
const STRS: [&str; 6] = ["", "a", "b", "c", "dd", "é"];
const UNITS: [&[u16]; 4] = [&[0xd800], &[0xd800, 0x41], &[0xdc00, 0xdc00, 0x42], &[]];

fn key(u: &mut Unstructured<'_>) -> Result<Key> {
  Ok(match u.int_in_range(0..=9u8)? {
    0..=2 => Key::Num(number_key(*u.choose(&NUMS)?)),
    3..=6 => Key::Utf8(u.choose(&STRS)?.as_bytes().to_vec()),
    7 => Key::Utf8(vec![b'k'; u.int_in_range(0..=300usize)?]),
    8 => Key::Utf16(u.choose(&UNITS)?.to_vec()),
    // Any bits: numbers the store never normalises itself.
    _ => Key::Num(u.arbitrary()?),
  })
}

fn value(u: &mut Unstructured<'_>) -> Result<Value> {
  let len = match u.int_in_range(0..=9u8)? {
    0..=5 => u.int_in_range(0..=4usize)?,
    6..=8 => u.int_in_range(5..=64usize)?,
    _ => u.int_in_range(65..=2048usize)?,
  };
  let seed: u8 = if u.ratio(3, 4)? {
    u.int_in_range(0..=1)?
  } else {
    u.arbitrary()?
  };
  let bytes: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
  Ok(match u.int_in_range(0..=2u8)? {
    0 => Value::Utf8(bytes),
    1 => Value::Utf16(
      (0..len / 2)
        .map(|i| 0xd7f0 + (seed as u16 + i as u16) % 32)
        .collect(),
    ),
    _ => Value::Bytes(bytes),
  })
}

fn ttl(u: &mut Unstructured<'_>) -> Result<f64> {
  Ok(match u.int_in_range(0..=7u8)? {
    0..=3 => 0.0,
    4..=6 => f64::from(u.int_in_range(1..=50u8)?),
    _ => -5.0,
  })
}

fn op(u: &mut Unstructured<'_>, now: f64) -> Result<Op> {
  Ok(match u.int_in_range(0..=39u8)? {
    0..=7 => Op::Get(key(u)?),
    8..=9 => Op::Peek(key(u)?, u.arbitrary()?),
    10..=11 => Op::Has(key(u)?),
    12 => Op::RemainingTtl(key(u)?),
    13..=24 => {
      let expires_at = if u.ratio(1, 10)? {
        Some(now + f64::from(u.int_in_range(-20..=50i8)?))
      } else {
        None
      };
      Op::Set(key(u)?, value(u)?, ttl(u)?, expires_at)
    }
    25..=27 => Op::Delete(key(u)?),
    28 => Op::Clear,
    29..=30 => Op::Pop,
    31 => Op::Resize(if u.ratio(1, 4)? {
      usize::MAX
    } else {
      u.int_in_range(1..=12)?
    }),
    32 => Op::PurgeStale,
    33..=36 => Op::Advance(f64::from(u.int_in_range(1..=20u8)?)),
    _ => Op::Entries,
  })
}

fuzz_target!(|data: &[u8]| {
  let mut u = Unstructured::new(data);
  let Ok(cfg) = config(&mut u) else { return };
  let mut h = Harness::new(cfg);
  for _ in 0..MAX_OPS {
    if u.is_empty() {
      break;
    }
    let Ok(op) = op(&mut u, h.now()) else { break };
    h.step(&op);
  }
  h.finish();
});
