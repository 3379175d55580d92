//! The numbers `lib/` and this crate must agree on, read by JS once at load
//! (`lib/common/protocol.js`): the recency log's opcodes, the pool mailbox's
//! slots and statuses, the off-heap stats indexes, and the widths of the flat
//! records some calls return. Every value is the constant the Rust code
//! itself uses, so the two sides cannot drift.

use leakless_core::recency;
use leakless_core::s3fifo;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{offheap, pool};

fn group<'env>(env: &Env, fields: &[(&str, f64)]) -> Result<Object<'env>> {
  let mut out = Object::new(env)?;
  for &(name, value) in fields {
    out.set(name, value)?;
  }
  Ok(out)
}

/// `{ recency, offheap, pool }`: each an object of named integers.
#[napi]
pub fn protocol(env: &Env) -> Result<Object<'_>> {
  let recency = group(
    env,
    &[
      ("OP_INSERT", f64::from(recency::OP_INSERT)),
      ("OP_EXPIRY", f64::from(recency::OP_EXPIRY)),
      ("OP_DELETE", f64::from(recency::OP_DELETE)),
      ("MAX_SLOT", f64::from(recency::MAX_SLOT)),
      ("STAMP_LIMIT", f64::from(recency::STAMP_LIMIT)),
      ("S3_FREQ_MAX", f64::from(s3fifo::FREQ_MAX)),
      ("S3_MOVE_TO_MAIN", f64::from(s3fifo::MOVE_TO_MAIN)),
    ],
  )?;
  let offheap = group(
    env,
    &[
      ("REMOVED_PENDING", offheap::REMOVED_PENDING),
      ("REMOVED_RECORD", offheap::REMOVED_RECORD as f64),
      ("DUMP_RECORD", offheap::DUMP_RECORD as f64),
      ("STAT_HITS", offheap::STAT_HITS as f64),
      ("STAT_MISSES", offheap::STAT_MISSES as f64),
      ("STAT_SETS", offheap::STAT_SETS as f64),
      ("STAT_EVICTIONS", offheap::STAT_EVICTIONS as f64),
      ("STAT_EXPIRATIONS", offheap::STAT_EXPIRATIONS as f64),
      ("STAT_SIZE", offheap::STAT_SIZE as f64),
      ("STAT_CALCULATED_SIZE", offheap::STAT_CALCULATED_SIZE as f64),
      ("STAT_NATIVE_BYTES", offheap::STAT_NATIVE_BYTES as f64),
      ("STATS_LEN", offheap::STATS_LEN as f64),
    ],
  )?;
  let pool = group(
    env,
    &[
      ("MB_POOL", pool::MB_POOL as f64),
      ("MB_ARG", pool::MB_ARG as f64),
      ("MB_STATUS", pool::MB_STATUS as f64),
      ("MB_SLOT", pool::MB_SLOT as f64),
      ("MB_SERIAL", pool::MB_SERIAL as f64),
      ("MB_LEAKS", pool::MB_LEAKS as f64),
      ("MB_LEN", pool::MB_LEN as f64),
      ("ST_OK", pool::ST_OK),
      ("ST_CLOSED", pool::ST_CLOSED),
      ("ST_BAD_SIZE", pool::ST_BAD_SIZE),
      ("ST_EXHAUSTED", pool::ST_EXHAUSTED),
      ("ST_NO_EXTERNAL", pool::ST_NO_EXTERNAL),
      ("ST_FAILED", pool::ST_FAILED),
      ("ST_NOT_LENT", pool::ST_NOT_LENT),
      ("ST_MISMATCH", pool::ST_MISMATCH),
      ("ST_NOT_BUFFER", pool::ST_NOT_BUFFER),
      ("ST_NO_POOL", pool::ST_NO_POOL),
      ("LEAK_RECORD", pool::LEAK_RECORD as f64),
    ],
  )?;
  let mut out = Object::new(env)?;
  out.set("recency", recency)?;
  out.set("offheap", offheap)?;
  out.set("pool", pool)?;
  Ok(out)
}
