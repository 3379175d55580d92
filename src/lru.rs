//! N-API surface of the heap LRU's recency core ([`leakless_core::recency`]).
//!
//! The JS side (`lib/lru/heap.js`) keeps keys, values and a `stamps` array,
//! and logs inserts and deletes into a `Uint32Array`; these functions replay
//! that log and answer questions about the order. Each call takes the pending
//! log so that one crossing does both, and ends with an optional `used`: how
//! many slots the caller has handed out, so that inserts into slots handed
//! out since the last call need no log (see [`Recency::apply`]).
//!
//! The typed arrays are read in place. A call that writes one of them first
//! checks that it shares no memory with the others ([`args::refuse_aliases`]),
//! so that a writable slice never overlaps another slice.

use std::cell::RefCell;
use std::thread::LocalKey;

use leakless_core::recency::{Recency, MAX_SLOT, OP_DELETE, OP_EXPIRY, OP_INSERT};
use leakless_core::s3fifo::S3Fifo;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::accounting::Held;
use crate::args::{self, Span, View};
use crate::errors::{self, describe_number, Failure};
use crate::handles::{self, Kind, Table};

/// Recency state of one heap LRU: the exact LRU order, or S3-FIFO queues
/// under `policy: 's3fifo'`.
pub struct HeapLru {
  recency: Recency,
  s3: Option<S3Fifo>,
  held: Held,
}

thread_local! {
  static TABLE: RefCell<Table<HeapLru>> = const { RefCell::new(Table::new()) };
}

impl Kind for HeapLru {
  const NAME: &'static str = "LRU";

  fn table() -> &'static LocalKey<RefCell<Table<Self>>> {
    &TABLE
  }
}

/// The arguments every call starts with: `id, log, n, stamps, expires`.
struct Replay<'env> {
  id: u32,
  log: View<'env, u32>,
  n: usize,
  stamps: View<'env, u32>,
  expires: Option<View<'env, f64>>,
}

impl<'env> Replay<'env> {
  fn read(
    id: &Unknown<'env>,
    log: &Unknown<'env>,
    n: &Unknown<'env>,
    stamps: &Unknown<'env>,
    expires: &Unknown<'env>,
  ) -> errors::Result<Replay<'env>> {
    let id = args::id(id, "id")?;
    let log = args::typed::<u32>(log, "log")?;
    let n_value = args::number(n, "n")?;
    if !(n_value >= 0.0 && n_value <= log.len() as f64 && n_value.fract() == 0.0) {
      return Err(Failure::out_of_range(
        "n",
        &format!("an integer >= 0 && <= log.length ({})", log.len()),
        &describe_number(n_value),
      ));
    }
    Ok(Replay {
      id,
      log,
      n: n_value as usize,
      stamps: args::typed::<u32>(stamps, "stamps")?,
      expires: args::optional_typed::<f64>(expires, "expires")?,
    })
  }

  /// The arrays only read by the call.
  fn read_only(&self) -> Vec<Span> {
    // Room for the arrays every entry point adds, so that it allocates once.
    let mut spans = Vec::with_capacity(8);
    spans.push(self.log.reads());
    spans.extend(self.expires.as_ref().map(View::reads));
    spans
  }

  /// `log[..n]` and `expires`.
  ///
  /// # Safety
  ///
  /// No writable slice over `log` or `expires` is alive: every array the
  /// call writes was accepted by [`args::refuse_aliases`] against them.
  unsafe fn inputs(&self) -> (&'env [u32], Option<&'env [f64]>) {
    // SAFETY: the caller's contract.
    let log = unsafe { self.log.as_slice() };
    // SAFETY: as above.
    let expires = self.expires.as_ref().map(|e| unsafe { e.as_slice() });
    (&log[..self.n], expires)
  }
}

/// The optional `used` argument: an integer from 0 to `stamps.length`, or
/// `undefined` (every insert was logged).
fn used_arg(v: &Unknown<'_>, stamps: usize) -> errors::Result<Option<usize>> {
  let Some(used) = args::optional_number(v, "used")? else {
    return Ok(None);
  };
  if !(used >= 0.0 && used <= stamps as f64 && used.fract() == 0.0) {
    return Err(Failure::out_of_range(
      "used",
      &format!("an integer >= 0 && <= stamps.length ({stamps})"),
      &describe_number(used),
    ));
  }
  Ok(Some(used as usize))
}

impl HeapLru {
  fn replay(
    &mut self,
    log: &[u32],
    stamps: &[u32],
    expires: Option<&[f64]>,
    used: Option<usize>,
  ) -> errors::Result<()> {
    let result = match expires {
      Some(exp) => self.recency.apply(log, stamps, used, true, |slot| {
        exp.get(slot as usize).copied().unwrap_or(f64::INFINITY)
      }),
      None => self
        .recency
        .apply(log, stamps, used, false, |_| f64::INFINITY),
    };
    self.held.set(self.recency.heap_bytes());
    result.map_err(|e| {
      Failure::arg_value(
        "log",
        &format!("must hold valid operations ({e})"),
        "an instance of Uint32Array",
      )
    })
  }
}

/// Creates the recency core of a heap LRU. Returns `[id, owner]`: `id` names
/// it in the other calls, `owner` frees it when collected.
#[napi]
pub fn lru_create(env: &Env) -> Result<Array<'_>> {
  let created = handles::adopt(
    env,
    HeapLru {
      recency: Recency::new(),
      s3: None,
      held: Held::default(),
    },
  )
  .and_then(|(id, owner)| handles::pair(env, id, owner));
  errors::js(env, created)
}

/// A `#[napi]` entry point whose arguments are `id, log, n, stamps, expires`
/// (read into the [`Replay`] bound by `|r|`), then the named extra ones. The
/// body returns an [`errors::Result`], thrown through the error map.
///
/// The docs are written as `#[doc = "..."]`: napi-derive copies them into
/// `binding.d.ts`, and reads a `///` comment forwarded through `macro_rules!`
/// as a raw string (`r" ..."`), prefix included. The five common arguments
/// make long lists, hence the `too_many_arguments` allowance on every one.
macro_rules! replay_entry {
  ($(
    $(#[$attr:meta])*
    fn $name:ident(|$r:pat_param $(, $extra:ident)*|) -> $ret:ty $body:block
  )+) => {$(
    $(#[$attr])*
    #[allow(clippy::too_many_arguments)]
    pub fn $name<'env>(
      env: &Env,
      id: Unknown<'env>,
      log: Unknown<'env>,
      n: Unknown<'env>,
      stamps: Unknown<'env>,
      expires: Unknown<'env>,
      $($extra: Unknown<'env>,)*
    ) -> Result<$ret> {
      let run = || {
        let $r = Replay::read(&id, &log, &n, &stamps, &expires)?;
        $body
      };
      errors::js(env, run())
    }
  )+};
}

replay_entry! {
  #[doc = " Replays the first `n` words of `log` (`(op | slot, stamp)` pairs)."]
  #[doc = " `expires[slot]` is the expiry time of each slot when the cache has a TTL."]
  #[doc = " `used`, the number of slots handed out (in order), files those handed out"]
  #[doc = " since the last call, whose inserts were not logged; the same applies to"]
  #[doc = " every call below that takes it."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires?: Float64Array | undefined | null, used?: number | undefined | null"
  )]
  fn lru_apply(|r, used|) -> () {
    let used = used_arg(&used, r.stamps.len())?;
    // SAFETY: this call writes no array, so shared slices may overlap.
    let ((log, expires), stamps) = unsafe { (r.inputs(), r.stamps.as_slice()) };
    handles::with::<HeapLru, _>(r.id, |lru| lru.replay(log, stamps, expires, used))
  }

  #[doc = " Replays the log, then writes the next victims and their stamps (expired"]
  #[doc = " first, then least recently used). Writes the number of expired victims to"]
  #[doc = " `meta[0]` and the earliest expiry not in the batch to `meta[1]`. Returns"]
  #[doc = " the number of victims."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires: Float64Array | undefined | null, victims: Uint32Array, victimStamps: Uint32Array, now: number, meta: Float64Array, used?: number | undefined | null"
  )]
  fn lru_refill(|r, victims, victim_stamps, now, meta, used|) -> u32 {
    let mut victims = args::typed::<u32>(&victims, "victims")?;
    let mut victim_stamps = args::typed::<u32>(&victim_stamps, "victimStamps")?;
    let now = args::number(&now, "now")?;
    let mut meta = args::typed::<f64>(&meta, "meta")?;
    if meta.len() < 2 {
      return Err(Failure::arg_value(
        "meta",
        "must have a length of at least 2",
        &format!("an instance of Float64Array of length {}", meta.len()),
      ));
    }
    let used = used_arg(&used, r.stamps.len())?;
    let mut spans = r.read_only();
    spans.extend([
      r.stamps.reads(),
      victims.writes(),
      victim_stamps.writes(),
      meta.writes(),
    ]);
    args::refuse_aliases(&spans)?;
    // SAFETY: `refuse_aliases` accepted the three written arrays against
    // each other and against every array read; each is borrowed mutably once.
    let (victims, victim_stamps, meta) = unsafe {
      (
        victims.as_mut_slice(),
        victim_stamps.as_mut_slice(),
        meta.as_mut_slice(),
      )
    };
    // SAFETY: as above: no written array overlaps the ones read.
    let ((log, expires), stamps) = unsafe { (r.inputs(), r.stamps.as_slice()) };
    handles::with::<HeapLru, _>(r.id, |lru| {
      lru.replay(log, stamps, expires, used)?;
      let batch = lru.recency.victims(victims, victim_stamps, stamps, now);
      meta[0] = batch.expired as f64;
      meta[1] = batch.next_expiry;
      lru.held.set(lru.recency.heap_bytes());
      Ok(batch.count as u32)
    })
  }

  #[doc = " Replays the log, then writes live slots from most to least recently used"]
  #[doc = " into `out`. Returns how many were written."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires: Float64Array | undefined | null, out: Uint32Array, used?: number | undefined | null"
  )]
  fn lru_order(|r, out, used|) -> u32 {
    let mut out = args::typed::<u32>(&out, "out")?;
    let used = used_arg(&used, r.stamps.len())?;
    let mut spans = r.read_only();
    spans.extend([r.stamps.reads(), out.writes()]);
    args::refuse_aliases(&spans)?;
    // SAFETY: `refuse_aliases` accepted `out` against every array read; it
    // is borrowed mutably once.
    let out = unsafe { out.as_mut_slice() };
    // SAFETY: as above: `out` overlaps none of these.
    let ((log, expires), stamps) = unsafe { (r.inputs(), r.stamps.as_slice()) };
    handles::with::<HeapLru, _>(r.id, |lru| {
      lru.replay(log, stamps, expires, used)?;
      let order = lru.recency.order(stamps);
      let count = order.len().min(out.len());
      out[..count].copy_from_slice(&order[..count]);
      Ok(count as u32)
    })
  }

  #[doc = " Replays the log, then returns the least recently used slot, or -1."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires?: Float64Array | undefined | null, used?: number | undefined | null"
  )]
  fn lru_oldest(|r, used|) -> i64 {
    let used = used_arg(&used, r.stamps.len())?;
    // SAFETY: this call writes no array, so shared slices may overlap.
    let ((log, expires), stamps) = unsafe { (r.inputs(), r.stamps.as_slice()) };
    handles::with::<HeapLru, _>(r.id, |lru| {
      lru.replay(log, stamps, expires, used)?;
      let oldest = lru.recency.oldest(stamps).map_or(-1, i64::from);
      lru.held.set(lru.recency.heap_bytes());
      Ok(oldest)
    })
  }

  #[doc = " Replays the log, then renumbers the stamps 1, 2, 3... in the same order."]
  #[doc = " Returns the largest stamp in use."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires?: Float64Array | undefined | null, used?: number | undefined | null"
  )]
  fn lru_renumber(|mut r, used|) -> u32 {
    let used = used_arg(&used, r.stamps.len())?;
    let mut spans = r.read_only();
    spans.push(r.stamps.writes());
    args::refuse_aliases(&spans)?;
    // SAFETY: `refuse_aliases` accepted `stamps` against `log` and
    // `expires`; it is borrowed mutably once, and read only through this
    // borrow.
    let stamps = unsafe { r.stamps.as_mut_slice() };
    // SAFETY: as above: `stamps` overlaps neither.
    let (log, expires) = unsafe { r.inputs() };
    handles::with::<HeapLru, _>(r.id, |lru| {
      lru.replay(log, stamps, expires, used)?;
      let top = lru.recency.renumber(stamps);
      lru.held.set(lru.recency.heap_bytes());
      Ok(top)
    })
  }
}

/// Forgets every entry and gives the memory back.
#[napi(ts_args_type = "id: number")]
pub fn lru_reset(env: &Env, id: Unknown<'_>) -> Result<()> {
  let run = || {
    handles::with::<HeapLru, _>(args::id(&id, "id")?, |lru| {
      lru.recency.clear();
      if let Some(s3) = lru.s3.as_mut() {
        s3.clear();
      }
      lru.held.set(0);
      Ok(())
    })
  };
  errors::js(env, run())
}

/// Native bytes held by the recency core `id`; 0 once it was freed.
#[napi(ts_args_type = "id: number")]
pub fn lru_native_bytes(env: &Env, id: Unknown<'_>) -> Result<f64> {
  handles::native_bytes::<HeapLru>(env, &id, |lru| lru.held.get())
}

/// Creates the S3-FIFO queues of a heap LRU with `policy: 's3fifo'`, for
/// `capacity` size units (entries, or the `maxSize` units when `weighted`).
/// Returns `[id, owner, smallCapacity]`: the pair [`lru_create`] returns,
/// and the small queue's capacity (an entry heavier than it goes to main).
#[napi(ts_args_type = "capacity: number, weighted: boolean")]
pub fn lru_create_s3fifo<'env>(
  env: &'env Env,
  capacity: Unknown<'env>,
  weighted: Unknown<'env>,
) -> Result<Array<'env>> {
  let run = || {
    let capacity = s3_capacity(&capacity)?;
    let weighted = args::boolean(&weighted, "weighted")?;
    let s3 = S3Fifo::new(capacity, weighted);
    let small_capacity = s3.small_capacity() as f64;
    let lru = HeapLru {
      recency: Recency::new(),
      s3: Some(s3),
      held: Held::default(),
    };
    let (id, owner) = handles::adopt(env, lru)?;
    let mut created = handles::pair(env, id, owner)?;
    created.set(2, small_capacity)?;
    Ok(created)
  };
  errors::js(env, run())
}

/// A capacity in size units: a number >= 1 (`Infinity` is unbounded).
fn s3_capacity(v: &Unknown<'_>) -> errors::Result<u64> {
  let capacity = args::number(v, "capacity")?;
  if capacity.is_nan() || capacity < 1.0 {
    return Err(Failure::out_of_range(
      "capacity",
      ">= 1",
      &describe_number(capacity),
    ));
  }
  // Saturates at u64::MAX, which `Infinity` means.
  Ok(capacity as u64)
}

/// The arrays an S3-FIFO call takes besides the [`Replay`] ones: the read
/// counters (`freq`, written: a victim's counter is spent as it leaves a
/// queue), the sizes of the logged entries (read: one per pair of the log,
/// the entry's size when it was logged, for caches bounded by size) and the
/// ghost's filter (written).
struct S3Arrays<'env> {
  freq: View<'env, u8>,
  log_sizes: Option<View<'env, f64>>,
  ghost_filter: View<'env, u8>,
}

impl<'env> S3Arrays<'env> {
  fn read(
    freq: &Unknown<'env>,
    log_sizes: &Unknown<'env>,
    ghost_filter: &Unknown<'env>,
  ) -> errors::Result<S3Arrays<'env>> {
    Ok(S3Arrays {
      freq: args::typed::<u8>(freq, "freq")?,
      log_sizes: args::optional_typed::<f64>(log_sizes, "logSizes")?,
      ghost_filter: args::typed::<u8>(ghost_filter, "ghostFilter")?,
    })
  }

  /// Their spans, for [`args::refuse_aliases`].
  fn spans(&self) -> Vec<Span> {
    let mut spans = vec![self.freq.writes(), self.ghost_filter.writes()];
    spans.extend(self.log_sizes.as_ref().map(View::reads));
    spans
  }
}

/// Arrays the JS side of an S3-FIFO heap LRU keeps per slot (and the sizes
/// it logged, per pair of the log).
struct Slots<'a> {
  stamps: &'a [u32],
  freq: &'a mut [u8],
  log_sizes: Option<&'a [f64]>,
  expires: Option<&'a [f64]>,
}

/// A malformed S3-FIFO operation log.
fn bad_log(what: &str) -> Failure {
  Failure::arg_value(
    "log",
    &format!("must hold valid operations ({what})"),
    "an instance of Uint32Array",
  )
}

/// What the S3-FIFO entry points share: replays the log of `r`, lets `body`
/// use the queues (with the stamps and the read counters), then mirrors the
/// ghost's filter into `ghost_filter` and accounts the memory held.
///
/// # Safety
///
/// Every array the call writes (`freq`, `ghost_filter` and those `body`
/// writes) was accepted by [`args::refuse_aliases`] against each other and
/// against the ones read (the log, stamps and expiry times of `r`,
/// `log_sizes`).
unsafe fn with_s3<R>(
  r: &Replay<'_>,
  log_sizes: Option<&View<'_, f64>>,
  freq: &mut [u8],
  ghost_filter: &mut [u8],
  body: impl FnOnce(&mut S3Fifo, &[u32], &mut [u8]) -> R,
) -> errors::Result<R> {
  // SAFETY: the caller's contract: no written array overlaps the ones read.
  let ((log, expires), stamps, log_sizes) = unsafe {
    (
      r.inputs(),
      r.stamps.as_slice(),
      log_sizes.map(|s| s.as_slice()),
    )
  };
  handles::with::<HeapLru, _>(r.id, |lru| {
    let slots = Slots {
      stamps,
      freq,
      log_sizes,
      expires,
    };
    let s3 = lru.s3_replay(r.id, log, &slots)?;
    let out = body(s3, stamps, slots.freq);
    s3.mirror_ghost_filter(ghost_filter);
    s3.flag_pending(ghost_filter);
    let bytes = s3.heap_bytes();
    lru.held.set(bytes);
    Ok(out)
  })
}

impl HeapLru {
  /// Replays the log (inserts carry the key's hash, `OP_EXPIRY` means the
  /// size or expiry changed, a delete marked `EVICTED` an evicted victim),
  /// then settles the last batch of victims.
  fn s3_replay(&mut self, id: u32, log: &[u32], slots: &Slots<'_>) -> errors::Result<&mut S3Fifo> {
    let s3 = self.s3.as_mut().ok_or_else(|| {
      Failure::arg_value(
        "id",
        "must name an LRU created with policy 's3fifo'",
        &format!("type number ({id})"),
      )
    })?;
    if !log.len().is_multiple_of(2) {
      return Err(bad_log("an odd number of words"));
    }
    // The whole log is checked before any of it is applied: a refused call
    // leaves the queues as they were.
    for pair in log.chunks_exact(2) {
      let slot = pair[0] & MAX_SLOT;
      if slot as usize >= slots.stamps.len().min(slots.freq.len()) {
        return Err(bad_log(&format!("slot {slot} is beyond the arrays")));
      }
      let op = pair[0] & !MAX_SLOT;
      if ![OP_INSERT, OP_EXPIRY, OP_DELETE].contains(&op) {
        return Err(bad_log(&format!("unknown operation {op:#x}")));
      }
    }
    if let Some(sizes) = slots.log_sizes {
      if sizes.len() < log.len() / 2 {
        return Err(Failure::arg_value(
          "logSizes",
          "must hold a size for every pair of the log",
          &format!("an instance of Float64Array of length {}", sizes.len()),
        ));
      }
    }
    let weight = |pair: usize| {
      slots
        .log_sizes
        .and_then(|s| s.get(pair))
        .map_or(1, |&w| w.max(0.0) as u64)
    };
    let expiry = |slot: u32| {
      slots
        .expires
        .and_then(|e| e.get(slot as usize))
        .copied()
        .unwrap_or(f64::INFINITY)
    };
    s3.apply(log, slots.stamps, weight, expiry);
    Ok(s3)
  }
}

replay_entry! {
  #[doc = " S3-FIFO: replays the log, then writes the next victims, their stamps and"]
  #[doc = " read limits (expired first, then at most `want` chosen by S3-FIFO). A"]
  #[doc = " victim is to be evicted only while its slot's stamp is unchanged and its"]
  #[doc = " counter is below its limit. `ghostFilter` receives a Bloom filter of the"]
  #[doc = " ghost's hashes: the batch is to be ended at an insert whose hash it flags. Writes"]
  #[doc = " the number of expired victims to `meta[0]` and the earliest expiry not in"]
  #[doc = " the batch to `meta[1]`. Returns the number of victims."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires: Float64Array | undefined | null, freq: Uint8Array, logSizes: Float64Array | undefined | null, victims: Uint32Array, victimStamps: Uint32Array, victimLimits: Uint8Array, now: number, meta: Float64Array, want: number, ghostFilter: Uint8Array"
  )]
  fn lru_s3_refill(|r, freq, log_sizes, victims, victim_stamps, victim_limits, now, meta, want, ghost_filter|) -> u32 {
    let mut a = S3Arrays::read(&freq, &log_sizes, &ghost_filter)?;
    let mut victims = args::typed::<u32>(&victims, "victims")?;
    let mut victim_stamps = args::typed::<u32>(&victim_stamps, "victimStamps")?;
    let mut victim_limits = args::typed::<u8>(&victim_limits, "victimLimits")?;
    let now = args::number(&now, "now")?;
    let mut meta = args::typed::<f64>(&meta, "meta")?;
    let want = args::number(&want, "want")?;
    if meta.len() < 2 {
      return Err(Failure::arg_value(
        "meta",
        "must have a length of at least 2",
        &format!("an instance of Float64Array of length {}", meta.len()),
      ));
    }
    if !(want >= 0.0 && want.fract() == 0.0) {
      return Err(Failure::out_of_range(
        "want",
        "an integer >= 0",
        &describe_number(want),
      ));
    }
    let mut spans = r.read_only();
    spans.extend(a.spans());
    spans.extend([
      r.stamps.reads(),
      victims.writes(),
      victim_stamps.writes(),
      victim_limits.writes(),
      meta.writes(),
    ]);
    args::refuse_aliases(&spans)?;
    // SAFETY: `refuse_aliases` accepted every written array (`freq`,
    // `ghostFilter`, `victims`, `victimStamps`, `victimLimits`, `meta`)
    // against each other and against every array read; each is borrowed
    // mutably once.
    let (freq, ghost_filter, victims, victim_stamps, victim_limits, meta) = unsafe {
      (
        a.freq.as_mut_slice(),
        a.ghost_filter.as_mut_slice(),
        victims.as_mut_slice(),
        victim_stamps.as_mut_slice(),
        victim_limits.as_mut_slice(),
        meta.as_mut_slice(),
      )
    };
    let refill = |s3: &mut S3Fifo, stamps: &[u32], freq: &mut [u8]| {
      s3.victims(
        victims,
        victim_stamps,
        victim_limits,
        stamps,
        freq,
        now,
        want as usize,
      )
    };
    // SAFETY: as above: no written array overlaps the ones read.
    let batch = unsafe { with_s3(&r, a.log_sizes.as_ref(), freq, ghost_filter, refill) }?;
    meta[0] = batch.expired as f64;
    meta[1] = batch.next_expiry;
    Ok(batch.count as u32)
  }

  #[doc = " S3-FIFO: replays the log, then writes live slots in the policy's order"]
  #[doc = " (main queue newest first, then the small queue newest first) into `out`."]
  #[doc = " Returns how many were written; with an empty `out`, only replays."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires: Float64Array | undefined | null, freq: Uint8Array, logSizes: Float64Array | undefined | null, out: Uint32Array, ghostFilter: Uint8Array"
  )]
  fn lru_s3_order(|r, freq, log_sizes, out, ghost_filter|) -> u32 {
    let mut a = S3Arrays::read(&freq, &log_sizes, &ghost_filter)?;
    let mut out = args::typed::<u32>(&out, "out")?;
    let mut spans = r.read_only();
    spans.extend(a.spans());
    spans.extend([r.stamps.reads(), out.writes()]);
    args::refuse_aliases(&spans)?;
    // SAFETY: `refuse_aliases` accepted the written arrays (`freq`,
    // `ghostFilter`, `out`) against each other and against every array
    // read; each is borrowed mutably once.
    let (freq, ghost_filter, out) = unsafe {
      (
        a.freq.as_mut_slice(),
        a.ghost_filter.as_mut_slice(),
        out.as_mut_slice(),
      )
    };
    let write_order = |s3: &mut S3Fifo, _: &[u32], _: &mut [u8]| {
      if out.is_empty() {
        // Only the replay was asked for.
        return 0;
      }
      let order = s3.order();
      let count = order.len().min(out.len());
      out[..count].copy_from_slice(&order[..count]);
      count
    };
    // SAFETY: as above: no written array overlaps the ones read.
    let count = unsafe { with_s3(&r, a.log_sizes.as_ref(), freq, ghost_filter, write_order) }?;
    Ok(count as u32)
  }
}

/// S3-FIFO: a new capacity in size units (`resize`).
#[napi(ts_args_type = "id: number, capacity: number")]
pub fn lru_s3_set_capacity(env: &Env, id: Unknown<'_>, capacity: Unknown<'_>) -> Result<()> {
  let run = || {
    let id = args::id(&id, "id")?;
    let capacity = s3_capacity(&capacity)?;
    handles::with::<HeapLru, _>(id, |lru| {
      if let Some(s3) = lru.s3.as_mut() {
        s3.set_capacity(capacity);
      }
      Ok(())
    })
  };
  errors::js(env, run())
}

/// Number of heap LRUs alive on this thread.
pub fn live_instances() -> usize {
  handles::live::<HeapLru>()
}
