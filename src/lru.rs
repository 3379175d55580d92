//! N-API surface of the heap LRU's recency core ([`leakless_core::recency`]).
//!
//! The JS side (`lib/lru/heap.js`) keeps keys, values and a `stamps` array,
//! and logs inserts and deletes into a `Uint32Array`; these functions replay
//! that log and answer questions about the order. Each call takes the pending
//! log so that one crossing does both.
//!
//! The typed arrays are read in place. A call that writes one of them first
//! checks that it shares no memory with the others ([`args::refuse_aliases`]),
//! so that a writable slice never overlaps another slice.

use std::cell::RefCell;
use std::thread::LocalKey;

use leakless_core::recency::Recency;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::accounting::Held;
use crate::args::{self, Span, View};
use crate::errors::{self, describe_number, Failure};
use crate::handles::{self, Kind, Table};

/// Recency state of one heap LRU.
pub struct HeapLru {
  recency: Recency,
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
    let mut spans = vec![self.log.reads()];
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

impl HeapLru {
  fn replay(&mut self, log: &[u32], stamps: &[u32], expires: Option<&[f64]>) -> errors::Result<()> {
    let result = match expires {
      Some(exp) => self.recency.apply(log, stamps, true, |slot| {
        exp.get(slot as usize).copied().unwrap_or(f64::INFINITY)
      }),
      None => self.recency.apply(log, stamps, false, |_| f64::INFINITY),
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
/// as a raw string (`r" ..."`), prefix included.
macro_rules! replay_entry {
  ($(
    $(#[$attr:meta])*
    fn $name:ident(|$r:pat_param $(, $extra:ident)*|) -> $ret:ty $body:block
  )+) => {$(
    $(#[$attr])*
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
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires?: Float64Array | undefined | null"
  )]
  fn lru_apply(|r|) -> () {
    // SAFETY: this call writes no array, so shared slices may overlap.
    let ((log, expires), stamps) = unsafe { (r.inputs(), r.stamps.as_slice()) };
    handles::with::<HeapLru, _>(r.id, |lru| lru.replay(log, stamps, expires))
  }

  #[doc = " Replays the log, then writes the next victims and their stamps (expired"]
  #[doc = " first, then least recently used). Writes the number of expired victims to"]
  #[doc = " `meta[0]` and the earliest expiry not in the batch to `meta[1]`. Returns"]
  #[doc = " the number of victims."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires: Float64Array | undefined | null, victims: Uint32Array, victimStamps: Uint32Array, now: number, meta: Float64Array"
  )]
  #[allow(clippy::too_many_arguments)]
  fn lru_refill(|r, victims, victim_stamps, now, meta|) -> u32 {
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
      lru.replay(log, stamps, expires)?;
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
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires: Float64Array | undefined | null, out: Uint32Array"
  )]
  fn lru_order(|r, out|) -> u32 {
    let mut out = args::typed::<u32>(&out, "out")?;
    let mut spans = r.read_only();
    spans.extend([r.stamps.reads(), out.writes()]);
    args::refuse_aliases(&spans)?;
    // SAFETY: `refuse_aliases` accepted `out` against every array read; it
    // is borrowed mutably once.
    let out = unsafe { out.as_mut_slice() };
    // SAFETY: as above: `out` overlaps none of these.
    let ((log, expires), stamps) = unsafe { (r.inputs(), r.stamps.as_slice()) };
    handles::with::<HeapLru, _>(r.id, |lru| {
      lru.replay(log, stamps, expires)?;
      let order = lru.recency.order(stamps);
      let count = order.len().min(out.len());
      out[..count].copy_from_slice(&order[..count]);
      Ok(count as u32)
    })
  }

  #[doc = " Replays the log, then returns the least recently used slot, or -1."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires?: Float64Array | undefined | null"
  )]
  fn lru_oldest(|r|) -> i64 {
    // SAFETY: this call writes no array, so shared slices may overlap.
    let ((log, expires), stamps) = unsafe { (r.inputs(), r.stamps.as_slice()) };
    handles::with::<HeapLru, _>(r.id, |lru| {
      lru.replay(log, stamps, expires)?;
      let oldest = lru.recency.oldest(stamps).map_or(-1, i64::from);
      lru.held.set(lru.recency.heap_bytes());
      Ok(oldest)
    })
  }

  #[doc = " Replays the log, then renumbers the stamps 1, 2, 3... in the same order."]
  #[doc = " Returns the largest stamp in use."]
  #[napi(
    ts_args_type = "id: number, log: Uint32Array, n: number, stamps: Uint32Array, expires?: Float64Array | undefined | null"
  )]
  fn lru_renumber(|mut r|) -> u32 {
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
      lru.replay(log, stamps, expires)?;
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

/// Number of heap LRUs alive on this thread.
pub fn live_instances() -> usize {
  handles::live::<HeapLru>()
}
