//! N-API surface of the off-heap LRU ([`leakless_core::offheap`]).
//!
//! Entry points called once per cache operation (`get`, `set`, `has`,
//! `peek`, `delete`, `size`) are plain `napi_callback`s (see `raw.rs`); the
//! rest use napi-rs. Every change of the bytes held is reported to V8
//! through [`Held`].
//!
//! Each store is a [`handles::Kind`]; every entry point reaches it through
//! [`handles::with`], and makes JS values only once the table is released
//! (hot paths copy the value they answer into a per-thread buffer first).

use std::cell::RefCell;

use leakless_core::offheap::{Entry, KeyRef, Limits, Lookup, OffHeap, ValueRef};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::accounting::Held;
use crate::args::{self, limit};
use crate::errors;
use crate::handles::{self, Table};
use crate::raw::{self, Reply, Scratch};
use crate::records;

/// One off-heap LRU.
pub struct OffHeapLru {
  store: OffHeap,
  held: Held,
}

impl OffHeapLru {
  fn account(&mut self) {
    self.held.set(self.store.heap_bytes());
  }
}

thread_local! {
  static TABLE: RefCell<Table<OffHeapLru>> = const { RefCell::new(Table::new()) };
  /// The key of the current call and the value it answers, in one
  /// thread-local (each access to one costs a call in a shared library).
  static KEY_REPLY: RefCell<(Scratch, Reply)> =
    const { RefCell::new((Scratch::new(), Reply::new())) };
  static VALUE_SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

handles::kind!(OffHeapLru, "off-heap LRU", TABLE);

/// Number of off-heap LRUs alive on this thread.
pub fn live_instances() -> usize {
  handles::live::<OffHeapLru>()
}

/// What a hot entry point answers, made into a JS value after the table was
/// released.
enum Answer {
  Undefined,
  Bool(bool),
  Number(f64),
  /// The value copied into the call's [`Reply`].
  Value,
}

impl Answer {
  /// A value found in the store, copied into `out`.
  #[inline(always)]
  fn value(out: &mut Reply, value: ValueRef<'_>) -> Answer {
    out.copy(value);
    Answer::Value
  }

  /// # Safety
  /// `env` is the environment of the current callback, on its JS thread.
  #[inline(always)]
  unsafe fn to_js(&self, env: sys::napi_env, copy: &Reply) -> errors::Result<sys::napi_value> {
    // SAFETY: the caller's contract; `copy` outlives the call that reads it.
    unsafe {
      match *self {
        Answer::Undefined => raw::undefined(env),
        Answer::Bool(b) => raw::boolean(env, b),
        Answer::Number(n) => raw::number(env, n),
        Answer::Value => raw::value_to_js(env, copy.get()),
      }
    }
  }
}

/// Runs `f` with the store `id` and the key read from `key`, through
/// [`handles::with`] (so finalizations that waited are done), then makes
/// its answer into a JS value once the table is released.
///
/// # Safety
///
/// `env`, `id` and `key` belong to the running callback, on its JS thread.
unsafe fn with_key(
  env: sys::napi_env,
  id: sys::napi_value,
  key: sys::napi_value,
  f: impl FnOnce(&mut OffHeapLru, KeyRef<'_>, &mut Reply) -> Answer,
) -> errors::Result<sys::napi_value> {
  // SAFETY: the caller's contract.
  let id = unsafe { raw::get_u32(env, id, "id") }?;
  KEY_REPLY.with(|io| {
    let (scratch, reply) = &mut *io.borrow_mut();
    // SAFETY: the caller's contract.
    let key = unsafe { scratch.key(env, key) }?;
    let answer = handles::with::<OffHeapLru, _>(id, |lru| Ok(f(lru, key, reply)))?;
    // SAFETY: the caller's contract; the table is released.
    unsafe { answer.to_js(env, reply) }
  })
}

/// Runs a callback `(id, key, now)`: reads its arguments and runs `f`
/// through [`with_key`].
///
/// # Safety
///
/// `env` and `info` are those of the running callback.
#[inline(always)]
unsafe fn key_now(
  env: sys::napi_env,
  info: sys::napi_callback_info,
  f: impl FnOnce(&mut OffHeapLru, KeyRef<'_>, f64, &mut Reply) -> Answer,
) -> sys::napi_value {
  let run = || {
    // SAFETY: the caller's contract; every value is read from its callback.
    unsafe {
      let [id, key, now] = raw::args::<3>(env, info)?;
      let now = raw::get_f64(env, now, "now")?;
      with_key(env, id, key, |lru, key, out| f(lru, key, now, out))
    }
  };
  // SAFETY: the caller's contract.
  unsafe { raw::finish(env, run()) }
}

/// Defines callbacks `(id, key, now)` whose work is one closure run by [`key_now`].
macro_rules! key_now_callbacks {
  ($($(#[$attr:meta])* $name:ident = |$lru:pat_param, $key:pat_param, $now:pat_param, $out:pat_param| $body:expr;)+) => {$(
    $(#[$attr])*
    unsafe extern "C" fn $name(
      env: sys::napi_env,
      info: sys::napi_callback_info,
    ) -> sys::napi_value {
      // SAFETY: `env` and `info` are this callback's.
      unsafe { key_now(env, info, |$lru, $key, $now, $out| $body) }
    }
  )+};
}

key_now_callbacks! {
  /// `offGet(id, key, now)`: the value, or `undefined`.
  off_get = |lru, key, now, out| {
    let answer = match lru.store.get(key, now) {
      Lookup::Hit(entry) => Answer::value(out, entry.value()),
      Lookup::Stale(e) => Answer::value(out, e.value()),
      Lookup::Miss => Answer::Undefined,
    };
    lru.account();
    answer
  };
  /// `offHas(id, key, now)`.
  off_has = |lru, key, now, _| {
    Answer::Bool(lru.store.has(key, now))
  };
  /// `offRefreshTtl(id, key, now)`: restarts a live entry's TTL; whether it is live.
  off_refresh_ttl = |lru, key, now, _| {
    Answer::Bool(lru.store.refresh_ttl(key, now))
  };
  /// `offDelete(id, key, now)`: whether a live entry was removed.
  off_delete = |lru, key, now, _| {
    let removed = lru.store.delete(key, now);
    lru.account();
    Answer::Bool(removed)
  };
  /// `offRemainingTtl(id, key, now)`.
  off_remaining_ttl = |lru, key, now, _| {
    Answer::Number(lru.store.remaining_ttl(key, now))
  };
}

/// Bit returned by `offSet` when removed entries wait in `offTakeRemoved`
/// (a value too large to store is one of them, with reason `set`).
pub(crate) const REMOVED_PENDING: f64 = 1.0;

/// Numbers per record of `offTakeRemoved`: value, key, reason.
pub(crate) const REMOVED_RECORD: usize = 3;
/// Numbers per record of `offDump`: key, value, ttl, expires.
pub(crate) const DUMP_RECORD: usize = 4;

/// Indexes of the `Float64Array` filled by `offStats`.
pub(crate) const STAT_HITS: usize = 0;
pub(crate) const STAT_MISSES: usize = 1;
pub(crate) const STAT_SETS: usize = 2;
pub(crate) const STAT_EVICTIONS: usize = 3;
pub(crate) const STAT_EXPIRATIONS: usize = 4;
pub(crate) const STAT_SIZE: usize = 5;
pub(crate) const STAT_CALCULATED_SIZE: usize = 6;
pub(crate) const STAT_NATIVE_BYTES: usize = 7;
/// Length of the stats array.
pub(crate) const STATS_LEN: usize = 8;

raw::callbacks! {
  /// `offPeek(id, key, now, allowStale)`: the value without touching recency.
  fn off_peek(env, [id, key, now, stale]) {
    let now = raw::get_f64(env, now, "now")?;
    let allow_stale = raw::get_bool(env, stale, "allowStale")?;
    with_key(env, id, key, |lru, key, out| {
      match lru.store.peek(key, now, allow_stale) {
        Some(v) => Answer::value(out, v),
        None => Answer::Undefined,
      }
    })
  }

  /// `offSize(id)`: number of entries.
  fn off_size(env, [id]) {
    let id = raw::get_u32(env, id, "id")?;
    let size = handles::peek::<OffHeapLru, _>(id, |lru| lru.store.len()).unwrap_or(0);
    handles::release_deferred();
    raw::number(env, size as f64)
  }
}

/// `offSet(id, key, value, ttl, now, expiresAt?)`: `REMOVED_PENDING` when
/// entries wait in `offTakeRemoved`, else 0. Written out rather than with
/// [`raw::callbacks!`] to see how many arguments came: a call without
/// `expiresAt` (every plain `set`) reads nothing for it, where reading an
/// `undefined` costs a failed number read and a `napi_typeof`.
unsafe extern "C" fn off_set(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  // SAFETY: `env` and `info` are this callback's, and so is every value
  // read from them; the value's bytes are used only inside it.
  unsafe {
    let outcome = raw::counted_args::<6>(env, info).and_then(|(argv, argc)| {
      let [id, key, value, ttl, now, expires_at] = argv;
      let ttl = raw::get_f64(env, ttl, "ttl")?;
      let now = raw::get_f64(env, now, "now")?;
      let expires_at = if argc > 5 {
        raw::optional_f64(env, expires_at, "expiresAt")?
      } else {
        None
      };
      VALUE_SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let value = scratch.value(env, value)?;
        with_key(env, id, key, |lru, key, _| {
          // A value too large is not stored; it waits in the removed queue.
          lru.store.set(key, value, ttl, now, expires_at);
          lru.account();
          let pending = lru.store.has_removed();
          Answer::Number(if pending { REMOVED_PENDING } else { 0.0 })
        })
      })
    });
    raw::finish(env, outcome)
  }
}

/// Registers the plain N-API entry points.
///
/// # Safety
///
/// `env` and `exports` are those of the module being initialized.
pub unsafe fn register(env: sys::napi_env, exports: sys::napi_value) -> errors::Result<()> {
  let entries: &[(&std::ffi::CStr, raw::RawFn)] = &[
    (c"offGet", off_get),
    (c"offPeek", off_peek),
    (c"offHas", off_has),
    (c"offRefreshTtl", off_refresh_ttl),
    (c"offDelete", off_delete),
    (c"offSet", off_set),
    (c"offSize", off_size),
    (c"offRemainingTtl", off_remaining_ttl),
  ];
  // SAFETY: the caller's contract.
  unsafe { raw::define_all(env, exports, entries) }
}

/// Creates an off-heap LRU. `max`/`maxSize` of `Infinity` mean no bound of
/// that kind; `collect` keeps removed entries for `offTakeRemoved` (when the
/// cache has `onEvict`); `s3fifo` (optional, default false) evicts by
/// S3-FIFO. Returns `[id, owner]`.
#[napi(
  ts_args_type = "max: number, maxSize: number, updateAgeOnGet: boolean, allowStale: boolean, collect: boolean, s3fifo?: boolean | undefined | null"
)]
pub fn off_create<'env>(
  env: &'env Env,
  max: Unknown<'env>,
  max_size: Unknown<'env>,
  update_age_on_get: Unknown<'env>,
  allow_stale: Unknown<'env>,
  collect: Unknown<'env>,
  s3fifo: Unknown<'env>,
) -> Result<Array<'env>> {
  let run = || {
    let limits = Limits {
      max: limit(args::number(&max, "max")?),
      max_size: limit(args::number(&max_size, "maxSize")?),
      update_age_on_get: args::boolean(&update_age_on_get, "updateAgeOnGet")?,
      allow_stale: args::boolean(&allow_stale, "allowStale")?,
    };
    let store = OffHeap::new(limits, args::boolean(&collect, "collect")?);
    let lru = OffHeapLru {
      store: if args::optional_boolean(&s3fifo, "s3fifo")? == Some(true) {
        store.with_s3fifo()
      } else {
        store
      },
      held: Held::default(),
    };
    let (id, owner) = handles::adopt(env, lru)?;
    handles::pair(env, id, owner)
  };
  errors::js(env, run())
}

/// Takes what left the cache since the last call, as a flat array
/// `[value, key, reason, value, key, reason, ...]` in the order it left.
#[napi(ts_args_type = "id: number")]
pub fn off_take_removed<'env>(env: &'env Env, id: Unknown<'env>) -> Result<Array<'env>> {
  let run = || {
    let id = args::id(&id, "id")?;
    let removed = handles::with::<OffHeapLru, _>(id, |lru| Ok(lru.store.take_removed()))?;
    let mut out = env.create_array((removed.len() * REMOVED_RECORD) as u32)?;
    for (i, (entry, reason)) in removed.iter().enumerate() {
      let i = (i * REMOVED_RECORD) as u32;
      out.set(i, records::js_value(env, entry.value())?)?;
      out.set(i + 1, records::js_key(env, entry.key())?)?;
      out.set(i + 2, reason.as_str())?;
    }
    Ok(out)
  };
  errors::js(env, run())
}

/// Starts or stops keeping removed entries for `offTakeRemoved` (stopping
/// drops those waiting); JS turns it on while loads are pending, to abort
/// the ones whose entry is evicted.
#[napi(ts_args_type = "id: number, on: boolean")]
pub fn off_collect_removed<'env>(env: &Env, id: Unknown<'env>, on: Unknown<'env>) -> Result<()> {
  let run = || {
    let id = args::id(&id, "id")?;
    let on = args::boolean(&on, "on")?;
    handles::with::<OffHeapLru, _>(id, |lru| {
      lru.store.set_collect_removed(on);
      Ok(())
    })
  };
  errors::js(env, run())
}

/// Runs `f` with off-heap LRU `id`, then updates its accounting.
fn with_lru<R>(id: u32, f: impl FnOnce(&mut OffHeap) -> R) -> errors::Result<R> {
  handles::with::<OffHeapLru, _>(id, |lru| {
    let r = f(&mut lru.store);
    lru.account();
    Ok(r)
  })
}

/// Removes every entry.
#[napi(ts_args_type = "id: number")]
pub fn off_clear(env: &Env, id: Unknown<'_>) -> Result<()> {
  let run = || with_lru(args::id(&id, "id")?, |store| store.clear());
  errors::js(env, run())
}

/// Removes and returns the least recently used `[key, value]`, or `undefined`.
#[napi(ts_args_type = "id: number, now: number")]
pub fn off_pop<'env>(
  env: &'env Env,
  id: Unknown<'env>,
  now: Unknown<'env>,
) -> Result<Option<Array<'env>>> {
  let run = || {
    let id = args::id(&id, "id")?;
    let now = args::number(&now, "now")?;
    let popped = with_lru(id, |store| store.pop(now))?;
    popped
      .map(|entry| records::pair(env, entry.key(), entry.value()))
      .transpose()
  };
  errors::js(env, run())
}

/// Sets lru-cache's `maxEntrySize` (bytes of one entry, bookkeeping included).
#[napi(ts_args_type = "id: number, max: number")]
pub fn off_set_max_entry_size(env: &Env, id: Unknown<'_>, max: Unknown<'_>) -> Result<()> {
  let run = || {
    let id = args::id(&id, "id")?;
    let max = limit(args::number(&max, "max")?);
    with_lru(id, |store| store.set_max_entry_size(max))
  };
  errors::js(env, run())
}

/// Changes `max`, evicting down to it.
#[napi(ts_args_type = "id: number, max: number, now: number")]
pub fn off_resize(env: &Env, id: Unknown<'_>, max: Unknown<'_>, now: Unknown<'_>) -> Result<()> {
  let run = || {
    let id = args::id(&id, "id")?;
    let (max, now) = (args::number(&max, "max")?, args::number(&now, "now")?);
    with_lru(id, |store| store.resize(limit(max), now))
  };
  errors::js(env, run())
}

/// Removes expired entries; returns how many.
#[napi(ts_args_type = "id: number, now: number")]
pub fn off_purge_stale(env: &Env, id: Unknown<'_>, now: Unknown<'_>) -> Result<u32> {
  let run = || {
    let id = args::id(&id, "id")?;
    let now = args::number(&now, "now")?;
    with_lru(id, |store| store.purge_stale(now) as u32)
  };
  errors::js(env, run())
}

/// Copies of the live entries of `id`, most recently used first. They are
/// copied out first: creating JS values while the table is borrowed could
/// run finalizers that need it.
fn live_entries(id: &Unknown<'_>, now: &Unknown<'_>) -> errors::Result<Vec<Entry>> {
  let id = args::id(id, "id")?;
  let now = args::number(now, "now")?;
  handles::with::<OffHeapLru, _>(id, |lru| {
    Ok(lru.store.entries_mru(now).into_iter().cloned().collect())
  })
}

/// Keys of live entries, most recently used first.
#[napi(ts_args_type = "id: number, now: number")]
pub fn off_keys<'env>(env: &'env Env, id: Unknown<'_>, now: Unknown<'_>) -> Result<Array<'env>> {
  let run = || {
    let entries = live_entries(&id, &now)?;
    let mut out = env.create_array(entries.len() as u32)?;
    for (i, entry) in entries.iter().enumerate() {
      out.set(i as u32, records::js_key(env, entry.key())?)?;
    }
    Ok(out)
  };
  errors::js(env, run())
}

/// Live entries, least recently used first, as a flat array
/// `[key, value, ttl, expires, ...]` (for `dump`).
#[napi(ts_args_type = "id: number, now: number")]
pub fn off_dump<'env>(env: &'env Env, id: Unknown<'_>, now: Unknown<'_>) -> Result<Array<'env>> {
  let run = || {
    let entries = live_entries(&id, &now)?;
    let records = entries
      .iter()
      .rev()
      .map(|e| (e.key(), e.value(), e.ttl(), e.expires()));
    records::flat(env, DUMP_RECORD, records)
  };
  errors::js(env, run())
}

/// Writes `[hits, misses, sets, evictions, expirations, size, calculatedSize,
/// nativeBytes]` into `out`.
#[napi(ts_args_type = "id: number, out: Float64Array")]
pub fn off_stats<'env>(env: &Env, id: Unknown<'env>, out: Unknown<'env>) -> Result<()> {
  records::stats(env, &id, &out, |id| {
    handles::with::<OffHeapLru, _>(id, |lru| {
      let c = lru.store.counters();
      let counts = [c.hits, c.misses, c.sets, c.evictions, c.expirations];
      let (len, calculated) = (lru.store.len(), lru.store.calculated_size());
      Ok((counts, len, calculated, lru.held.get()))
    })
  })
}

/// Native bytes held by off-heap LRU `id`; 0 once it was freed.
#[napi(ts_args_type = "id: number")]
pub fn off_native_bytes(env: &Env, id: Unknown<'_>) -> Result<f64> {
  handles::native_bytes::<OffHeapLru>(env, &id, |lru| lru.held.get())
}
