//! Fuzz target of the recency core: operation sequences decoded from the
//! input, run through the harness of the property tests (a caller that
//! behaves like lib/lru.js, checked against a plain model after every step).
//! Any disagreement or broken invariant panics, which libFuzzer reports.

#![no_main]

use leakless_core::recency::STAMP_LIMIT;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "../../core/tests/support/recency_model.rs"]
mod model;

use model::{Config, Harness, Op};

/// Most operations run per input, so that one input cannot take long.
const MAX_OPS: usize = 4096;

fn config(u: &mut Unstructured<'_>) -> Result<Config> {
  let max = match u.int_in_range(0..=3u8)? {
    0 => u.int_in_range(1..=4usize)?,
    1 | 2 => u.int_in_range(5..=64usize)?,
    _ => u.int_in_range(65..=600usize)?,
  };
  let batch = match u.int_in_range(0..=2u8)? {
    0 => 1,
    1 => u.int_in_range(2..=16usize)?,
    _ => 128,
  };
  let log_size = 2 * u.int_in_range(1..=512usize)?;
  let first_tick = if u.ratio(1, 4)? {
    STAMP_LIMIT - u.int_in_range(1..=500u32)?
  } else {
    0
  };
  Ok(Config {
    max,
    batch,
    log_size,
    first_tick,
    ttl_allowed: u.arbitrary()?,
    update_age_on_get: u.arbitrary()?,
  })
}

fn ttl(u: &mut Unstructured<'_>) -> Result<u8> {
  Ok(if u.ratio(2, 3)? {
    0
  } else {
    u.int_in_range(1..=60)?
  })
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
  Ok(match u.int_in_range(0..=43u8)? {
    0..=11 => Op::Insert {
      ttl: ttl(u)?,
      plain: u.arbitrary()?,
    },
    12..=21 => Op::Touch(u.arbitrary()?),
    22..=25 => Op::Update {
      i: u.arbitrary()?,
      ttl: ttl(u)?,
    },
    26..=29 => Op::Delete {
      i: u.arbitrary()?,
      log: u.arbitrary()?,
    },
    30..=31 => Op::Evict(u.int_in_range(1..=4)?),
    32..=33 => Op::Pop,
    34..=35 => Op::Order,
    36..=38 => Op::Advance(u.int_in_range(1..=30)?),
    39 => Op::Renumber,
    40 => Op::Clear,
    41 => Op::Churn {
      n: if u.ratio(1, 8)? {
        u.int_in_range(600..=1500)?
      } else {
        u.int_in_range(1..=8)?
      },
      log: u.arbitrary()?,
    },
    _ => Op::Batch,
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
    let Ok(op) = op(&mut u) else { break };
    h.step(&op);
  }
  h.finish();
});
