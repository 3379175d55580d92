//! N-API surface of the heap LRU's recency core ([`leakless_core::recency`]).
//!
//! The JS side (`lib/lru.js`) keeps keys, values and a `stamps` array, and
//! logs inserts and deletes into a `Uint32Array`; these functions replay that
//! log and answer questions about the order. Each call takes the pending log
//! so that one crossing does both.

use std::cell::RefCell;
use std::thread::LocalKey;

use leakless_core::recency::Recency;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::accounting::Held;
use crate::handles::{self, Kind, Table};

/// Recency state of one heap LRU.
pub struct HeapLru {
  recency: Recency,
  held: Held,
}

thread_local! {
  static TABLE: RefCell<Table<HeapLru>> = RefCell::new(Table::default());
}

impl Kind for HeapLru {
  fn table() -> &'static LocalKey<RefCell<Table<Self>>> {
    &TABLE
  }
}

impl HeapLru {
  fn replay(&mut self, log: &[u32], n: u32, stamps: &[u32], expires: Option<&[f64]>) -> Result<()> {
    let log = log
      .get(..n as usize)
      .ok_or_else(|| Error::new(Status::InvalidArg, "operation count exceeds the log"))?;
    let result = match expires {
      Some(exp) => self.recency.apply(log, stamps, true, |slot| {
        exp.get(slot as usize).copied().unwrap_or(f64::INFINITY)
      }),
      None => self.recency.apply(log, stamps, false, |_| f64::INFINITY),
    };
    self.held.set(self.recency.heap_bytes());
    result.map_err(|e| Error::new(Status::InvalidArg, e.to_string()))
  }
}

/// Creates the recency core of a heap LRU. Returns `[id, owner]`: `id` names
/// it in the other calls, `owner` frees it when collected.
#[napi]
pub fn lru_create(env: &Env) -> Result<Array<'_>> {
  let (id, owner) = handles::adopt(
    env,
    HeapLru {
      recency: Recency::new(),
      held: Held::default(),
    },
  )?;
  handles::pair(env, id, owner)
}

/// Replays the first `n` words of `log` (`(op | slot, stamp)` pairs).
/// `expires[slot]` is the expiry time of each slot when the cache has a TTL.
#[napi]
pub fn lru_apply(
  id: u32,
  log: &[u32],
  n: u32,
  stamps: &[u32],
  expires: Option<&[f64]>,
) -> Result<()> {
  handles::with::<HeapLru, _>(id, |lru| lru.replay(log, n, stamps, expires))
}

/// Replays the log, then writes the next victims and their stamps (expired
/// first, then least recently used). Writes the number of expired victims to
/// `meta[0]` and the earliest expiry not in the batch to `meta[1]`. Returns
/// the number of victims.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn lru_refill(
  id: u32,
  log: &[u32],
  n: u32,
  stamps: &[u32],
  expires: Option<&[f64]>,
  mut victims: Uint32ArraySlice,
  mut victim_stamps: Uint32ArraySlice,
  now: f64,
  mut meta: Float64ArraySlice,
) -> Result<u32> {
  // SAFETY: distinct typed arrays owned by the caller, alive for the duration
  // of this call, and not touched by JS meanwhile.
  let (victims, victim_stamps, meta) =
    unsafe { (victims.as_mut(), victim_stamps.as_mut(), meta.as_mut()) };
  if meta.len() < 2 {
    return Err(Error::new(Status::InvalidArg, "meta array too short"));
  }
  handles::with::<HeapLru, _>(id, |lru| {
    lru.replay(log, n, stamps, expires)?;
    let batch = lru.recency.victims(victims, victim_stamps, stamps, now);
    meta[0] = batch.expired as f64;
    meta[1] = batch.next_expiry;
    lru.held.set(lru.recency.heap_bytes());
    Ok(batch.count as u32)
  })
}

/// Replays the log, then writes live slots from most to least recently used
/// into `out`. Returns how many were written.
#[napi]
pub fn lru_order(
  id: u32,
  log: &[u32],
  n: u32,
  stamps: &[u32],
  expires: Option<&[f64]>,
  mut out: Uint32ArraySlice,
) -> Result<u32> {
  // SAFETY: a typed array owned by the caller, alive during this call.
  let out = unsafe { out.as_mut() };
  handles::with::<HeapLru, _>(id, |lru| {
    lru.replay(log, n, stamps, expires)?;
    let order = lru.recency.order(stamps);
    let count = order.len().min(out.len());
    out[..count].copy_from_slice(&order[..count]);
    Ok(count as u32)
  })
}

/// Replays the log, then returns the least recently used slot, or -1.
#[napi]
pub fn lru_oldest(
  id: u32,
  log: &[u32],
  n: u32,
  stamps: &[u32],
  expires: Option<&[f64]>,
) -> Result<i64> {
  handles::with::<HeapLru, _>(id, |lru| {
    lru.replay(log, n, stamps, expires)?;
    let oldest = lru.recency.oldest(stamps).map_or(-1, i64::from);
    lru.held.set(lru.recency.heap_bytes());
    Ok(oldest)
  })
}

/// Replays the log, then renumbers the stamps 1, 2, 3... in the same order.
/// Returns the largest stamp in use.
#[napi]
pub fn lru_renumber(
  id: u32,
  log: &[u32],
  n: u32,
  mut stamps: Uint32ArraySlice,
  expires: Option<&[f64]>,
) -> Result<u32> {
  // SAFETY: a typed array owned by the caller, alive during this call.
  let stamps = unsafe { stamps.as_mut() };
  handles::with::<HeapLru, _>(id, |lru| {
    lru.replay(log, n, stamps, expires)?;
    let top = lru.recency.renumber(stamps);
    lru.held.set(lru.recency.heap_bytes());
    Ok(top)
  })
}

/// Forgets every entry and gives the memory back.
#[napi]
pub fn lru_reset(id: u32) -> Result<()> {
  handles::with::<HeapLru, _>(id, |lru| {
    lru.recency.clear();
    lru.held.set(0);
    Ok(())
  })
}

/// Native bytes held by the recency core `id`; 0 once it was freed.
#[napi]
pub fn lru_native_bytes(id: u32) -> f64 {
  TABLE.with(|t| t.borrow().get(id).map_or(0.0, |lru| lru.held.get() as f64))
}

/// Number of heap LRUs alive on this thread.
pub fn live_instances() -> usize {
  TABLE.with(|t| t.borrow().live())
}
