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

/// `&[("NAME", module::NAME as f64), ...]`: each constant under its own name,
/// or under the one `NAME as KEY` gives it; `;` starts another module's list.
macro_rules! named {
  (@key $name:ident) => { stringify!($name) };
  (@key $name:ident $key:ident) => { stringify!($key) };
  ($($module:ident: $($name:ident $(as $key:ident)?),+ $(,)?);+ $(;)?) => {
    &[$($((named!(@key $name $($key)?), $module::$name as f64)),+),+]
  };
}

/// `{ recency, offheap, pool }`: each an object of named integers.
#[napi]
#[allow(clippy::unnecessary_cast)] // the constants are u32, usize or f64
pub fn protocol(env: &Env) -> Result<Object<'_>> {
  let recency = group(
    env,
    named!(
      recency: OP_INSERT, OP_EXPIRY, OP_DELETE, MAX_SLOT, STAMP_LIMIT;
      s3fifo: FREQ_MAX as S3_FREQ_MAX, EVICTED as S3_EVICTED,
    ),
  )?;
  let offheap = group(
    env,
    named!(offheap:
      REMOVED_PENDING, REMOVED_RECORD, DUMP_RECORD,
      STAT_HITS, STAT_MISSES, STAT_SETS, STAT_EVICTIONS, STAT_EXPIRATIONS,
      STAT_SIZE, STAT_CALCULATED_SIZE, STAT_NATIVE_BYTES, STATS_LEN,
    ),
  )?;
  let pool = group(
    env,
    named!(pool:
      MB_POOL, MB_ARG, MB_STATUS, MB_SLOT, MB_SERIAL, MB_LEAKS, MB_LEN,
      ST_OK, ST_CLOSED, ST_BAD_SIZE, ST_EXHAUSTED, ST_NO_EXTERNAL, ST_FAILED,
      ST_NOT_LENT, ST_MISMATCH, ST_NOT_BUFFER, ST_NO_POOL,
      LEAK_RECORD,
    ),
  )?;
  let mut out = Object::new(env)?;
  out.set("recency", recency)?;
  out.set("offheap", offheap)?;
  out.set("pool", pool)?;
  Ok(out)
}
