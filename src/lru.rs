//! N-API surface of the heap LRU's recency core ([`leakless_core::recency`]).
//!
//! The JS side (`lib/lru.js`) keeps keys, values and a `stamps` array, and
//! logs inserts and deletes into a `Uint32Array`; these functions replay that
//! log and answer questions about the order. Each call takes the pending log
//! so that one crossing does both.

use std::cell::RefCell;
use std::thread::LocalKey;

use leakless_core::recency::{Recency, MAX_SLOT, OP_DELETE, OP_EXPIRY, OP_INSERT};
use leakless_core::s3fifo::S3Fifo;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::accounting::Held;
use crate::handles::{self, Kind, Table};

/// Recency state of one heap LRU: the exact LRU order, or S3-FIFO queues
/// under `policy: 's3fifo'`.
pub struct HeapLru {
  recency: Recency,
  s3: Option<S3Fifo>,
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
      s3: None,
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
    if let Some(s3) = lru.s3.as_mut() {
      s3.clear();
    }
    lru.held.set(0);
    Ok(())
  })
}

/// Native bytes held by the recency core `id`; 0 once it was freed.
#[napi]
pub fn lru_native_bytes(id: u32) -> f64 {
  TABLE.with(|t| t.borrow().get(id).map_or(0.0, |lru| lru.held.get() as f64))
}

/// Creates the S3-FIFO queues of a heap LRU with `policy: 's3fifo'`, for
/// `capacity` size units (entries, or the `maxSize` units when `weighted`).
/// Returns `[id, owner]` as [`lru_create`] does.
#[napi]
pub fn lru_create_s3fifo(env: &Env, capacity: f64, weighted: bool) -> Result<Array<'_>> {
  let (id, owner) = handles::adopt(
    env,
    HeapLru {
      recency: Recency::new(),
      s3: Some(S3Fifo::new(
        capacity.clamp(1.0, u64::MAX as f64) as u64,
        weighted,
      )),
      held: Held::default(),
    },
  )?;
  handles::pair(env, id, owner)
}

/// Arrays the JS side of an S3-FIFO heap LRU keeps per slot.
struct Slots<'a> {
  stamps: &'a [u32],
  freq: &'a mut [u8],
  sizes: Option<&'a [f64]>,
  expires: Option<&'a [f64]>,
}

impl HeapLru {
  /// Settles the last batch of victims, then replays the log: inserts carry
  /// the key's hash, `OP_EXPIRY` means the size or expiry changed.
  fn s3_replay(&mut self, log: &[u32], n: u32, slots: &Slots<'_>) -> Result<&mut S3Fifo> {
    let s3 = self
      .s3
      .as_mut()
      .ok_or_else(|| Error::new(Status::InvalidArg, "not an S3-FIFO cache"))?;
    let log = log
      .get(..n as usize)
      .filter(|l| l.len() % 2 == 0)
      .ok_or_else(|| Error::new(Status::InvalidArg, "malformed operation log"))?;
    s3.settle(slots.stamps);
    let weight = |slot: usize| {
      slots
        .sizes
        .and_then(|s| s.get(slot))
        .map_or(1, |&w| w.max(0.0) as u64)
    };
    let expiry = |slot: usize| {
      slots
        .expires
        .and_then(|e| e.get(slot))
        .copied()
        .unwrap_or(f64::INFINITY)
    };
    for pair in log.chunks_exact(2) {
      let slot = pair[0] & MAX_SLOT;
      let s = slot as usize;
      if s >= slots.stamps.len() || s >= slots.freq.len() {
        return Err(Error::new(
          Status::InvalidArg,
          format!("slot {slot} is beyond the arrays"),
        ));
      }
      match pair[0] & !MAX_SLOT {
        OP_INSERT => s3.insert(slot, pair[1], weight(s), expiry(s)),
        OP_EXPIRY => {
          s3.reweigh(slot, weight(s));
          if s3.contains(slot) {
            s3.set_expiry(slot, expiry(s));
          }
        }
        OP_DELETE => s3.remove(slot),
        _ => return Err(Error::new(Status::InvalidArg, "unknown log operation")),
      }
    }
    Ok(s3)
  }
}

/// S3-FIFO: replays the log, then writes the next victims, their stamps and
/// read limits (expired first, then at most `want` chosen by S3-FIFO). A
/// victim is to be evicted only while its slot's stamp is unchanged and its
/// counter is below its limit. `ghost_filter` receives the ghost's counting
/// filter: the batch is to be ended at an insert whose hash it flags. Writes the number of expired victims to
/// `meta[0]` and the earliest expiry not in the batch to `meta[1]`. Returns
/// the number of victims.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn lru_s3_refill(
  id: u32,
  log: &[u32],
  n: u32,
  stamps: &[u32],
  mut freq: Uint8ArraySlice,
  sizes: Option<&[f64]>,
  expires: Option<&[f64]>,
  mut victims: Uint32ArraySlice,
  mut victim_stamps: Uint32ArraySlice,
  mut victim_limits: Uint8ArraySlice,
  now: f64,
  mut meta: Float64ArraySlice,
  want: u32,
  mut ghost_filter: Uint8ArraySlice,
) -> Result<u32> {
  // SAFETY: distinct typed arrays owned by the caller, alive for the duration
  // of this call, and not touched by JS meanwhile.
  let (freq, victims, victim_stamps, victim_limits, meta, ghost_filter) = unsafe {
    (
      freq.as_mut(),
      victims.as_mut(),
      victim_stamps.as_mut(),
      victim_limits.as_mut(),
      meta.as_mut(),
      ghost_filter.as_mut(),
    )
  };
  if meta.len() < 2 {
    return Err(Error::new(Status::InvalidArg, "meta array too short"));
  }
  handles::with::<HeapLru, _>(id, |lru| {
    let slots = Slots {
      stamps,
      freq,
      sizes,
      expires,
    };
    let s3 = lru.s3_replay(log, n, &slots)?;
    let batch = s3.victims(
      victims,
      victim_stamps,
      victim_limits,
      stamps,
      slots.freq,
      now,
      want as usize,
    );
    meta[0] = batch.expired as f64;
    meta[1] = batch.next_expiry;
    s3.mirror_ghost_filter(ghost_filter);
    let bytes = s3.heap_bytes();
    lru.held.set(bytes);
    Ok(batch.count as u32)
  })
}

/// S3-FIFO: replays the log, then writes live slots in the policy's order
/// (main queue newest first, then the small queue newest first) into `out`.
/// Returns how many were written; with an empty `out`, only replays.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn lru_s3_order(
  id: u32,
  log: &[u32],
  n: u32,
  stamps: &[u32],
  mut freq: Uint8ArraySlice,
  sizes: Option<&[f64]>,
  expires: Option<&[f64]>,
  mut out: Uint32ArraySlice,
  mut ghost_filter: Uint8ArraySlice,
) -> Result<u32> {
  // SAFETY: distinct typed arrays owned by the caller, alive during this call.
  let (freq, out, ghost_filter) = unsafe { (freq.as_mut(), out.as_mut(), ghost_filter.as_mut()) };
  handles::with::<HeapLru, _>(id, |lru| {
    let slots = Slots {
      stamps,
      freq,
      sizes,
      expires,
    };
    let s3 = lru.s3_replay(log, n, &slots)?;
    s3.mirror_ghost_filter(ghost_filter);
    if out.is_empty() {
      // Only the replay was asked for.
      let bytes = s3.heap_bytes();
      lru.held.set(bytes);
      return Ok(0);
    }
    let order = s3.order();
    let count = order.len().min(out.len());
    out[..count].copy_from_slice(&order[..count]);
    let bytes = s3.heap_bytes();
    lru.held.set(bytes);
    Ok(count as u32)
  })
}

/// S3-FIFO: a new capacity in size units (`resize`).
#[napi]
pub fn lru_s3_set_capacity(id: u32, capacity: f64) -> Result<()> {
  handles::with::<HeapLru, _>(id, |lru| {
    if let Some(s3) = lru.s3.as_mut() {
      s3.set_capacity(capacity.clamp(1.0, u64::MAX as f64) as u64);
    }
    Ok(())
  })
}

/// Number of heap LRUs alive on this thread.
pub fn live_instances() -> usize {
  TABLE.with(|t| t.borrow().live())
}
