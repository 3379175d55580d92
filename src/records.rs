//! What the napi-rs entry points of the off-heap and the shared store hand
//! to JS in the same shape: `[key, value]` pairs, flat entry records
//! (`[key, value]` or `DUMP_RECORD` wide) and the stats array.

use leakless_core::offheap::{KeyRef, ValueRef};
use napi::bindgen_prelude::*;

use crate::args;
use crate::errors::{self, Failure};
use crate::offheap::{
  DUMP_RECORD, STATS_LEN, STAT_CALCULATED_SIZE, STAT_EVICTIONS, STAT_EXPIRATIONS, STAT_HITS,
  STAT_MISSES, STAT_NATIVE_BYTES, STAT_SETS, STAT_SIZE,
};
use crate::raw;

/// One entry as it leaves a store: key, value, ttl, expires.
pub type Record<'a> = (KeyRef<'a>, ValueRef<'a>, f64, f64);

/// The key alone, as a JS value.
pub fn js_key<'env>(env: &'env Env, key: KeyRef<'_>) -> errors::Result<Unknown<'env>> {
  // SAFETY: `env` is the running callback's; the value is made in it, with
  // no table borrowed and no lock held.
  unsafe {
    let key = raw::key_to_js(env.raw(), key)?;
    Ok(Unknown::from_raw_unchecked(env.raw(), key))
  }
}

/// The value alone, as a JS value.
pub fn js_value<'env>(env: &'env Env, value: ValueRef<'_>) -> errors::Result<Unknown<'env>> {
  // SAFETY: as for `js_key`.
  unsafe {
    let value = raw::value_to_js(env.raw(), value)?;
    Ok(Unknown::from_raw_unchecked(env.raw(), value))
  }
}

/// `[key, value]`.
pub fn pair<'env>(
  env: &'env Env,
  key: KeyRef<'_>,
  value: ValueRef<'_>,
) -> errors::Result<Array<'env>> {
  let mut pair = env.create_array(2)?;
  pair.set(0, js_key(env, key)?)?;
  pair.set(1, js_value(env, value)?)?;
  Ok(pair)
}

/// A flat array of `width` numbers per record: `[key, value, ...]` when
/// `width` is 2, `[key, value, ttl, expires, ...]` when it is `DUMP_RECORD`.
pub fn flat<'env, 'a>(
  env: &'env Env,
  width: usize,
  records: impl ExactSizeIterator<Item = Record<'a>>,
) -> errors::Result<Array<'env>> {
  let mut out = env.create_array((records.len() * width) as u32)?;
  for (i, (key, value, ttl, expires)) in records.enumerate() {
    let i = (i * width) as u32;
    out.set(i, js_key(env, key)?)?;
    out.set(i + 1, js_value(env, value)?)?;
    if width == DUMP_RECORD {
      out.set(i + 2, ttl)?;
      out.set(i + 3, expires)?;
    }
  }
  Ok(out)
}

/// A store's figures for `stats()`: hits, misses, sets, evictions and
/// expirations; then size, calculated size and native bytes.
pub type Stats = ([u64; 5], usize, usize, usize);

/// The entry point `xStats(id, out)`: checks that `out` is a `Float64Array`
/// of at least `STATS_LEN`, then writes into it what `read` returns for
/// the structure `id`.
pub fn stats(
  env: &Env,
  id: &Unknown<'_>,
  out: &Unknown<'_>,
  read: impl FnOnce(u32) -> errors::Result<Stats>,
) -> Result<()> {
  let run = || {
    let id = args::id(id, "id")?;
    let mut out = args::typed::<f64>(out, "out")?;
    if out.len() < STATS_LEN {
      return Err(Failure::arg_value(
        "out",
        &format!("must have a length of at least {STATS_LEN}"),
        &format!("an instance of Float64Array of length {}", out.len()),
      ));
    }
    let ([hits, misses, sets, evictions, expirations], size, calculated, native) = read(id)?;
    // SAFETY: the only typed array of the call, borrowed once.
    let out = unsafe { out.as_mut_slice() };
    out[STAT_HITS] = hits as f64;
    out[STAT_MISSES] = misses as f64;
    out[STAT_SETS] = sets as f64;
    out[STAT_EVICTIONS] = evictions as f64;
    out[STAT_EXPIRATIONS] = expirations as f64;
    out[STAT_SIZE] = size as f64;
    out[STAT_CALCULATED_SIZE] = calculated as f64;
    out[STAT_NATIVE_BYTES] = native as f64;
    Ok(())
  };
  errors::js(env, run())
}
