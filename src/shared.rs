//! N-API surface of the shared store ([`leakless_core::shared`]): one named,
//! bounded LRU that every thread of the process opens.
//!
//! Each JS cache object is one [`Holder`] of the store, kept in this
//! thread's table and freed with its owner (see `handles.rs`). The entry
//! points called once per operation (`get`, `set`, `has`, `peek`, `delete`,
//! `size`) are plain `napi_callback`s (see `raw.rs`).
//!
//! Three rules keep threads from hurting each other:
//! - Time is one clock for the whole process ([`clock_ms`]), so an entry
//!   set with a TTL in one thread expires at the same moment in all of them.
//! - No lock of the store is held while JS runs or a JS value is made: the
//!   core hands out reference-counted values, copied into JS after every
//!   lock is released.
//! - A thread waiting for a load led by another thread is told through one
//!   threadsafe function per thread (per loaded copy of `lib/`), which is
//!   referenced only while some wait is pending, so it never holds an event
//!   loop open for nothing and never blocks one. An env cleanup hook
//!   abandons the loads a departing thread led, so a waiter takes over.
//!
//! Accounting: each holder reports `bytes / holders` of its store to V8, as
//! of its last operation, so that the sum over every thread's report is the
//! store's bytes, counted once.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::LocalKey;
use std::time::Instant;

use leakless_core::offheap::KeyRef;
use leakless_core::shared::{
  self, Claim, Holder, Notify, SharedConfig, SharedLookup, SharedStore, SharedStored, SharedValue,
  Waiter,
};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::accounting::Held;
use crate::handles::{self, Kind, Table};
use crate::offheap::{
  DUMP_RECORD, STATS_LEN, STAT_CALCULATED_SIZE, STAT_EVICTIONS, STAT_EXPIRATIONS, STAT_HITS,
  STAT_MISSES, STAT_NATIVE_BYTES, STAT_SETS, STAT_SIZE,
};
use crate::raw::{self, Scratch};

/// Milliseconds since the first call in this process: the one clock every
/// thread's TTLs are measured on (`performance.now()` starts afresh in each
/// worker).
pub fn clock_ms() -> f64 {
  static START: OnceLock<Instant> = OnceLock::new();
  START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

/// One opening of a shared store by a JS object of this thread.
pub struct SharedLru {
  holder: Holder,
  held: Held,
}

impl SharedLru {
  /// Reports this holder's share of the store's bytes.
  fn account(&mut self) {
    let holders = self.holder.holders().max(1);
    self.held.set(self.holder.native_bytes() / holders);
  }

  /// The clock when entries may expire, else 0 (which expires nothing).
  fn now(&self) -> f64 {
    if self.holder.is_timed() {
      clock_ms()
    } else {
      0.0
    }
  }
}

thread_local! {
  static TABLE: RefCell<Table<SharedLru>> = RefCell::new(Table::default());
  static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
  static VALUE_SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
  static THREAD: RefCell<ThreadState> = RefCell::new(ThreadState::default());
}

impl Kind for SharedLru {
  fn table() -> &'static LocalKey<RefCell<Table<Self>>> {
    &TABLE
  }
}

/// Number of shared-store holders alive on this thread.
pub fn live_instances() -> usize {
  TABLE.with(|t| t.borrow().live())
}

/// Brings every holder's report on this thread up to date (the store may
/// have grown through other threads since a holder's last operation).
pub fn sync_accounting() {
  let mut ids = THREAD.with(|t| std::mem::take(&mut t.borrow_mut().holders));
  TABLE.with(|t| {
    // Busy only inside an operation of this thread, which accounts itself.
    if let Ok(mut table) = t.try_borrow_mut() {
      ids.retain(|&id| match table.get_mut(id) {
        Ok(lru) => {
          lru.account();
          true
        }
        Err(_) => false,
      });
    }
  });
  THREAD.with(|t| t.borrow_mut().holders.extend(ids));
}

// ------------------------------------------------------------ waking waiters

/// A threadsafe function that another thread may call, or `None` once it is
/// (being) torn down.
struct Wake {
  tsfn: Mutex<Option<Tsfn>>,
}

#[derive(Clone, Copy)]
struct Tsfn(sys::napi_threadsafe_function);

// SAFETY: napi documents napi_call_threadsafe_function as callable from any
// thread; the pointer is only used under `Wake::tsfn`'s lock, and cleared
// (under that lock) before Node frees it.
unsafe impl Send for Tsfn {}

impl Notify for Wake {
  fn notify(&self, token: u64) {
    let guard = self.tsfn.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(tsfn) = *guard {
      // SAFETY: the function is alive while the lock is held (its finalizer
      // takes the lock to clear it first); a nonblocking call never waits,
      // and a queue of unlimited size never refuses.
      unsafe {
        sys::napi_call_threadsafe_function(
          tsfn.0,
          token as usize as *mut c_void,
          sys::ThreadsafeFunctionCallMode::nonblocking,
        );
      }
    }
  }
}

impl Wake {
  fn clear(&self) {
    *self.tsfn.lock().unwrap_or_else(|e| e.into_inner()) = None;
  }
}

/// One waker of this thread: its threadsafe function and the waits pending
/// on it (it is referenced while there are any).
struct Waker {
  wake: Arc<Wake>,
  tsfn: sys::napi_threadsafe_function,
  env: sys::napi_env,
  pending: usize,
}

#[derive(Default)]
struct ThreadState {
  /// This thread's tag on the loads it leads (0: not given yet).
  owner: u64,
  wakers: Vec<Waker>,
  /// Stores this thread has led a load of (for the cleanup hook).
  led: Vec<Weak<SharedStore>>,
  /// Ids of this thread's holders, perhaps freed since (for
  /// [`sync_accounting`]).
  holders: Vec<u32>,
  hooked: bool,
}

fn thread_owner() -> u64 {
  static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
  THREAD.with(|t| {
    let mut t = t.borrow_mut();
    if t.owner == 0 {
      t.owner = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    t.owner
  })
}

/// Runs when this thread's environment goes away (a worker exits or is
/// terminated, or the process ends): loads it led are abandoned so that a
/// waiter in another thread takes over, and no thread calls its wakers again.
unsafe extern "C" fn cleanup(_arg: *mut c_void) {
  let owner = thread_owner();
  let (led, wakes) = THREAD.with(|t| {
    let mut t = t.borrow_mut();
    let led = std::mem::take(&mut t.led);
    let wakes: Vec<Arc<Wake>> = t.wakers.iter().map(|w| w.wake.clone()).collect();
    (led, wakes)
  });
  for wake in wakes {
    wake.clear();
  }
  for store in led.iter().filter_map(Weak::upgrade) {
    store.abandon_owner(owner);
  }
}

/// Registers [`cleanup`] once per thread.
fn hook_cleanup(env: sys::napi_env) {
  let first = THREAD.with(|t| !std::mem::replace(&mut t.borrow_mut().hooked, true));
  if first {
    // SAFETY: `env` is this thread's live environment; the hook takes no
    // data and only touches this thread's state.
    unsafe { sys::napi_add_env_cleanup_hook(env, Some(cleanup), ptr::null_mut()) };
  }
}

/// Called by Node on this thread for each notification: calls the JS wake
/// function with the token.
unsafe extern "C" fn call_js(
  env: sys::napi_env,
  js_callback: sys::napi_value,
  context: *mut c_void,
  data: *mut c_void,
) {
  if env.is_null() || js_callback.is_null() {
    // The function is being torn down with calls queued: nobody to tell.
    return;
  }
  let index = context as usize;
  let unref = THREAD.with(|t| {
    let mut t = t.borrow_mut();
    let waker = t.wakers.get_mut(index)?;
    waker.pending = waker.pending.saturating_sub(1);
    (waker.pending == 0).then_some((waker.env, waker.tsfn))
  });
  if let Some((env, tsfn)) = unref {
    // SAFETY: called on the function's own thread, where it is alive (Node
    // is calling through it).
    unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
  }
  let token = data as usize as f64;
  // SAFETY: `env` and `js_callback` come from Node for this call; the
  // token is a plain number. An exception is left to Node to report.
  unsafe {
    let arg = raw::number(env, token);
    let mut result = ptr::null_mut();
    sys::napi_call_function(env, raw::undefined(env), js_callback, 1, &arg, &mut result);
  }
}

/// Called by Node when a waker's threadsafe function is destroyed: no
/// thread may call it afterwards.
unsafe extern "C" fn tsfn_finalized(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  // SAFETY: `data` is the `Arc<Wake>` leaked for this function in
  // `shared_init`; this is its only release.
  let wake = unsafe { Arc::from_raw(data as *const Wake) };
  wake.clear();
}

/// `sharedInit(wake)`: makes a waker of this thread, which calls
/// `wake(token)` when a load this thread waits for ends. Returns its index.
unsafe extern "C" fn shared_init(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, on its thread.
  let [func] = unsafe { raw::args::<1>(env, info) };
  // SAFETY: `func` is a value of this callback.
  if unsafe { raw::type_of(env, func) } != sys::ValueType::napi_function {
    // SAFETY: throwing on the callback's env.
    return unsafe {
      raw::throw_type_error(
        env,
        c"ERR_INVALID_ARG_TYPE",
        c"The \"wake\" argument must be of type function",
      )
    };
  }
  hook_cleanup(env);
  let index = THREAD.with(|t| t.borrow().wakers.len());
  let wake = Arc::new(Wake {
    tsfn: Mutex::new(None),
  });
  let finalize_data = Arc::into_raw(wake.clone()) as *mut c_void;
  let mut name = ptr::null_mut();
  let mut tsfn = ptr::null_mut();
  // SAFETY: all values belong to this callback's env; `finalize_data` is
  // released by `tsfn_finalized` (or below, if creation fails).
  let status = unsafe {
    sys::napi_create_string_utf8(env, c"leakless.shared".as_ptr(), 15, &mut name);
    sys::napi_create_threadsafe_function(
      env,
      func,
      ptr::null_mut(),
      name,
      0,
      1,
      finalize_data,
      Some(tsfn_finalized),
      index as *mut c_void,
      Some(call_js),
      &mut tsfn,
    )
  };
  if status != sys::Status::napi_ok {
    // SAFETY: creation failed, so Node never took `finalize_data`.
    drop(unsafe { Arc::from_raw(finalize_data as *const Wake) });
    // SAFETY: throwing on the callback's env.
    return unsafe { raw::throw_error(env, "could not create the shared store's waker") };
  }
  // SAFETY: a function just made on this thread; idle until a wait begins.
  unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
  *wake.tsfn.lock().unwrap_or_else(|e| e.into_inner()) = Some(Tsfn(tsfn));
  THREAD.with(|t| {
    t.borrow_mut().wakers.push(Waker {
      wake,
      tsfn,
      env,
      pending: 0,
    })
  });
  // SAFETY: a number on this callback's env.
  unsafe { raw::number(env, index as f64) }
}

/// Counts a wait on waker `index` (referencing it on the first) and returns
/// its notifier.
fn begin_wait(index: usize) -> Option<Arc<Wake>> {
  let (wake, reference) = THREAD.with(|t| {
    let mut t = t.borrow_mut();
    let waker = t.wakers.get_mut(index)?;
    waker.pending += 1;
    Some((
      waker.wake.clone(),
      (waker.pending == 1).then_some((waker.env, waker.tsfn)),
    ))
  })?;
  if let Some((env, tsfn)) = reference {
    // SAFETY: on the function's own thread, while it is alive.
    unsafe { sys::napi_ref_threadsafe_function(env, tsfn) };
  }
  Some(wake)
}

/// Undoes [`begin_wait`] for a claim that did not wait.
fn cancel_wait(index: usize) {
  let unref = THREAD.with(|t| {
    let mut t = t.borrow_mut();
    let waker = t.wakers.get_mut(index)?;
    waker.pending = waker.pending.saturating_sub(1);
    (waker.pending == 0).then_some((waker.env, waker.tsfn))
  });
  if let Some((env, tsfn)) = unref {
    // SAFETY: on the function's own thread, while it is alive.
    unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
  }
}

/// Remembers that this thread led a load of `store`.
fn note_led(weak: Weak<SharedStore>) {
  THREAD.with(|t| {
    let mut t = t.borrow_mut();
    t.led.retain(|w| w.strong_count() > 0);
    if !t.led.iter().any(|w| w.ptr_eq(&weak)) {
      t.led.push(weak);
    }
  });
}

// ------------------------------------------------------------ fast paths

const KEY_TYPE: &std::ffi::CStr = c"The \"key\" argument must be of type string or number";
const VALUE_TYPE: &std::ffi::CStr =
  c"The \"value\" argument must be a string, Buffer or Uint8Array";
const INVALID_ARG_TYPE: &std::ffi::CStr = c"ERR_INVALID_ARG_TYPE";

/// What an operation hands back, turned into JS after every lock and
/// borrow is released.
enum Out {
  Value(Option<SharedValue>),
  Bool(bool),
  Number(f64),
}

/// Runs `f` with holder `id` and the key read from `key`, then makes the
/// JS result; throws on a bad key or a dead id.
unsafe fn with_key(
  env: sys::napi_env,
  id: sys::napi_value,
  key: sys::napi_value,
  f: impl FnOnce(&mut SharedLru, KeyRef<'_>) -> Out,
) -> sys::napi_value {
  // SAFETY: a value of the calling callback.
  let id = unsafe { raw::get_u32(env, id) };
  let outcome = SCRATCH.with(|scratch| {
    let mut scratch = scratch.borrow_mut();
    // SAFETY: `key` is a value of the calling callback.
    let Some(key) = (unsafe { scratch.key(env, key) }) else {
      return Err(None);
    };
    TABLE.with(|t| {
      let mut table = t.borrow_mut();
      match table.get_mut(id) {
        Ok(lru) => Ok(f(lru, key)),
        Err(e) => Err(Some(e.reason.clone())),
      }
    })
  });
  // JS values are made on the callback's env only now, with no lock of the
  // store and no table borrow held.
  match outcome {
    // SAFETY: a value on the callback's env, from bytes this call owns.
    Ok(Out::Value(Some(v))) => unsafe { raw::value_to_js(env, v.as_ref()) },
    // SAFETY: the callback's env.
    Ok(Out::Value(None)) => unsafe { raw::undefined(env) },
    // SAFETY: the callback's env.
    Ok(Out::Bool(b)) => unsafe { raw::boolean(env, b) },
    // SAFETY: the callback's env.
    Ok(Out::Number(n)) => unsafe { raw::number(env, n) },
    // SAFETY: throwing on the callback's env.
    Err(None) => unsafe { raw::throw_type_error(env, INVALID_ARG_TYPE, KEY_TYPE) },
    // SAFETY: throwing on the callback's env.
    Err(Some(reason)) => unsafe { raw::throw_error(env, &reason) },
  }
}

/// `sharedGet(id, key)`: the value, or `undefined`.
unsafe extern "C" fn shared_get(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id, key] = unsafe { raw::args::<2>(env, info) };
  // SAFETY: values of this callback.
  unsafe {
    with_key(env, id, key, |lru, key| {
      let timed = lru.holder.is_timed();
      let now = lru.now();
      let found = match lru.holder.get(key, now) {
        SharedLookup::Hit(v) | SharedLookup::Stale(v) => Some(v),
        SharedLookup::Miss => None,
      };
      if timed {
        // A get may have removed an expired entry.
        lru.account();
      }
      Out::Value(found)
    })
  }
}

/// `sharedPeek(id, key, allowStale)`: the value without touching recency.
unsafe extern "C" fn shared_peek(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id, key, stale] = unsafe { raw::args::<3>(env, info) };
  let mut allow_stale = false;
  // SAFETY: a value of this callback; a non-boolean leaves `false`.
  unsafe { sys::napi_get_value_bool(env, stale, &mut allow_stale) };
  // SAFETY: values of this callback.
  unsafe {
    with_key(env, id, key, |lru, key| {
      Out::Value(lru.holder.peek(key, lru.now(), allow_stale))
    })
  }
}

/// `sharedHas(id, key)`.
unsafe extern "C" fn shared_has(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id, key] = unsafe { raw::args::<2>(env, info) };
  // SAFETY: values of this callback.
  unsafe {
    with_key(env, id, key, |lru, key| {
      Out::Bool(lru.holder.has(key, lru.now()))
    })
  }
}

/// `sharedDelete(id, key)`: whether a live entry was removed.
unsafe extern "C" fn shared_delete(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id, key] = unsafe { raw::args::<2>(env, info) };
  // SAFETY: values of this callback.
  unsafe {
    with_key(env, id, key, |lru, key| {
      let removed = lru.holder.delete(key, lru.now());
      lru.account();
      Out::Bool(removed)
    })
  }
}

/// `sharedRemainingTtl(id, key)`.
unsafe extern "C" fn shared_remaining_ttl(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id, key] = unsafe { raw::args::<2>(env, info) };
  // SAFETY: values of this callback.
  unsafe {
    with_key(env, id, key, |lru, key| {
      Out::Number(lru.holder.remaining_ttl(key, clock_ms()))
    })
  }
}

/// Reads an optional number argument.
unsafe fn optional_f64(env: sys::napi_env, v: sys::napi_value) -> Option<f64> {
  // SAFETY: a value of the calling callback.
  match unsafe { raw::type_of(env, v) } {
    // SAFETY: a number value of the calling callback.
    sys::ValueType::napi_number => Some(unsafe { raw::get_f64(env, v) }),
    _ => None,
  }
}

/// `sharedSet(id, key, value, ttl, expiresAt?)`: `true` if stored, `false`
/// if the value is larger than the store's `maxSize` (then any older value
/// is removed). `expiresAt` is on [`clock_ms`]'s scale.
unsafe extern "C" fn shared_set(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id, key, value, ttl, expires_at] = unsafe { raw::args::<5>(env, info) };
  // SAFETY: values of this callback.
  let ttl = unsafe { raw::get_f64(env, ttl) };
  // SAFETY: a value of this callback.
  let expires_at = unsafe { optional_f64(env, expires_at) };
  VALUE_SCRATCH.with(|scratch| {
    let mut scratch = scratch.borrow_mut();
    // SAFETY: `value` is a value of this callback, borrowed for its duration.
    let Some(value) = (unsafe { scratch.value(env, value) }) else {
      // SAFETY: throwing on this callback's env.
      return unsafe { raw::throw_type_error(env, INVALID_ARG_TYPE, VALUE_TYPE) };
    };
    // SAFETY: values of this callback.
    unsafe {
      with_key(env, id, key, |lru, key| {
        let now = if ttl > 0.0 || expires_at.is_some() {
          clock_ms()
        } else {
          lru.now()
        };
        let stored = lru.holder.set(key, value, ttl, now, expires_at);
        lru.account();
        Out::Bool(stored == SharedStored::Yes)
      })
    }
  })
}

/// `sharedSize(id)`: number of entries.
unsafe extern "C" fn shared_size(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id] = unsafe { raw::args::<1>(env, info) };
  // SAFETY: a value of this callback.
  let id = unsafe { raw::get_u32(env, id) };
  let size = TABLE.with(|t| t.borrow().get(id).map_or(0, |lru| lru.holder.len()));
  // SAFETY: a number on this callback's env.
  unsafe { raw::number(env, size as f64) }
}

/// `sharedClaim(id, key, waker, token)`: on a hit the value; when this
/// caller is to load the key, the load's number; when another caller loads
/// it, `undefined`, and waker `waker` will call its function with `token`
/// once that load ends.
unsafe extern "C" fn shared_claim(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id, key, waker, token] = unsafe { raw::args::<4>(env, info) };
  // SAFETY: values of this callback.
  let (waker, token) = unsafe { (raw::get_u32(env, waker) as usize, raw::get_f64(env, token)) };
  let Some(wake) = begin_wait(waker) else {
    // SAFETY: throwing on this callback's env.
    return unsafe { raw::throw_error(env, "no such shared-store waker on this thread") };
  };
  let owner = thread_owner();
  let mut led = None;
  let mut waited = false;
  // SAFETY: values of this callback.
  let out = unsafe {
    with_key(env, id, key, |lru, key| {
      let waiter = Waiter {
        notify: wake,
        token: token as u64,
      };
      match lru.holder.claim(key, clock_ms(), owner, waiter) {
        Claim::Hit(v) => Out::Value(Some(v)),
        Claim::Lead(load) => {
          led = Some(lru.holder.downgrade());
          Out::Number(load as f64)
        }
        Claim::Wait => {
          waited = true;
          Out::Value(None)
        }
      }
    })
  };
  if !waited {
    cancel_wait(waker);
  }
  if let Some(weak) = led {
    note_led(weak);
  }
  out
}

/// `sharedComplete(id, key, load, value, ttl)`: ends load `load` with
/// `value`; `false` if that load had already ended.
unsafe extern "C" fn shared_complete(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id, key, load, value, ttl] = unsafe { raw::args::<5>(env, info) };
  // SAFETY: values of this callback.
  let (load, ttl) = unsafe { (raw::get_f64(env, load) as u64, raw::get_f64(env, ttl)) };
  VALUE_SCRATCH.with(|scratch| {
    let mut scratch = scratch.borrow_mut();
    // SAFETY: `value` is a value of this callback, borrowed for its duration.
    let Some(value) = (unsafe { scratch.value(env, value) }) else {
      // SAFETY: throwing on this callback's env.
      return unsafe { raw::throw_type_error(env, INVALID_ARG_TYPE, VALUE_TYPE) };
    };
    // SAFETY: values of this callback.
    unsafe {
      with_key(env, id, key, |lru, key| {
        let done = lru.holder.complete(key, load, value, ttl, clock_ms());
        lru.account();
        Out::Bool(done)
      })
    }
  })
}

/// `sharedAbandon(id, key, load)`: ends load `load` without a value (its
/// waiters retry, one of them leading); `false` if it had already ended.
unsafe extern "C" fn shared_abandon(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: arguments of this callback, read on its thread.
  let [id, key, load] = unsafe { raw::args::<3>(env, info) };
  // SAFETY: a value of this callback.
  let load = unsafe { raw::get_f64(env, load) as u64 };
  // SAFETY: values of this callback.
  unsafe {
    with_key(env, id, key, |lru, key| {
      Out::Bool(lru.holder.abandon(key, load))
    })
  }
}

/// Registers the plain N-API entry points.
pub fn register(env: sys::napi_env, exports: sys::napi_value) {
  // SAFETY: called from the module's init with its env and exports object.
  unsafe {
    raw::define(env, exports, c"sharedGet", shared_get);
    raw::define(env, exports, c"sharedPeek", shared_peek);
    raw::define(env, exports, c"sharedHas", shared_has);
    raw::define(env, exports, c"sharedDelete", shared_delete);
    raw::define(env, exports, c"sharedSet", shared_set);
    raw::define(env, exports, c"sharedSize", shared_size);
    raw::define(env, exports, c"sharedRemainingTtl", shared_remaining_ttl);
    raw::define(env, exports, c"sharedInit", shared_init);
    raw::define(env, exports, c"sharedClaim", shared_claim);
    raw::define(env, exports, c"sharedComplete", shared_complete);
    raw::define(env, exports, c"sharedAbandon", shared_abandon);
  }
}

// ------------------------------------------------------------ the rest

fn limit(n: f64) -> usize {
  if n.is_finite() && n >= 0.0 {
    n as usize
  } else {
    usize::MAX
  }
}

/// Opens (or creates) the store `name`. Returns `[id, owner]`, or, when the
/// store exists with other options, `[option, existing, given]` (strings).
#[napi]
pub fn shared_open<'env>(
  env: &'env Env,
  name: String,
  max: f64,
  max_size: f64,
  ttl: f64,
  update_age_on_get: bool,
  allow_stale: bool,
) -> Result<Array<'env>> {
  hook_cleanup(env.raw());
  let config = SharedConfig {
    max: limit(max),
    max_size: limit(max_size),
    ttl,
    update_age_on_get,
    allow_stale,
  };
  match shared::open(&name, config) {
    Err(m) => {
      let mut out = env.create_array(3)?;
      out.set(0, m.option)?;
      out.set(1, m.existing)?;
      out.set(2, m.given)?;
      Ok(out)
    }
    Ok(holder) => {
      let mut lru = SharedLru {
        holder,
        held: Held::default(),
      };
      lru.account();
      let (id, owner) = handles::adopt(env, lru)?;
      let mut ids = THREAD.with(|t| std::mem::take(&mut t.borrow_mut().holders));
      ids.push(id);
      if ids.len() >= 64 && ids.len().is_power_of_two() {
        // Forget holders freed since: the list stays as long as the live ones.
        TABLE.with(|t| {
          let table = t.borrow();
          ids.retain(|&id| table.get(id).is_some());
        });
      }
      THREAD.with(|t| t.borrow_mut().holders.extend(ids));
      handles::pair(env, id, owner)
    }
  }
}

/// Milliseconds on the process-wide clock of shared stores (for `dump` and
/// `load`, which convert to and from `Date.now()` times).
#[napi]
pub fn shared_now() -> f64 {
  clock_ms()
}

fn with_lru<R>(id: u32, f: impl FnOnce(&mut SharedLru) -> R) -> Result<R> {
  handles::with::<SharedLru, _>(id, |lru| Ok(f(lru)))
}

fn js_key<'env>(env: &'env Env, key: KeyRef<'_>) -> Unknown<'env> {
  // SAFETY: a fresh value on `env`, made with no lock held.
  unsafe { Unknown::from_raw_unchecked(env.raw(), raw::key_to_js(env.raw(), key)) }
}

fn js_value<'env>(env: &'env Env, value: &SharedValue) -> Unknown<'env> {
  // SAFETY: a fresh value on `env`, made with no lock held.
  unsafe { Unknown::from_raw_unchecked(env.raw(), raw::value_to_js(env.raw(), value.as_ref())) }
}

/// Removes every entry of the store (for every thread).
#[napi]
pub fn shared_clear(id: u32) -> Result<()> {
  with_lru(id, |lru| {
    lru.holder.clear();
    lru.account();
  })
}

/// Removes and returns the least recently used `[key, value]` of one shard
/// (shards taken in turn), or `undefined`.
#[napi]
pub fn shared_pop(env: &Env, id: u32) -> Result<Option<Array<'_>>> {
  let popped = with_lru(id, |lru| {
    let popped = lru.holder.pop(clock_ms());
    lru.account();
    popped
  })?;
  match popped {
    None => Ok(None),
    Some((key, value)) => {
      let mut pair = env.create_array(2)?;
      pair.set(0, js_key(env, key.as_ref()))?;
      pair.set(1, js_value(env, &value))?;
      Ok(Some(pair))
    }
  }
}

/// Removes expired entries; returns how many.
#[napi]
pub fn shared_purge_stale(id: u32) -> Result<u32> {
  with_lru(id, |lru| {
    let n = lru.holder.purge_stale(clock_ms());
    lru.account();
    n as u32
  })
}

/// Live entries as a flat array `[key, value, ...]`, each shard most
/// recently used first.
#[napi]
pub fn shared_entries(env: &Env, id: u32) -> Result<Array<'_>> {
  let entries = with_lru(id, |lru| lru.holder.entries(clock_ms()))?;
  let mut out = env.create_array((entries.len() * 2) as u32)?;
  for (i, (key, value, _, _)) in entries.iter().enumerate() {
    let i = (i * 2) as u32;
    out.set(i, js_key(env, key.as_ref()))?;
    out.set(i + 1, js_value(env, value))?;
  }
  Ok(out)
}

/// Live entries, least recently used first within each shard, as a flat
/// array `[key, value, ttl, expires, ...]` (`expires` on [`clock_ms`]'s
/// scale, `Infinity` for none).
#[napi]
pub fn shared_dump(env: &Env, id: u32) -> Result<Array<'_>> {
  let mut entries = with_lru(id, |lru| lru.holder.entries(clock_ms()))?;
  entries.reverse();
  let mut out = env.create_array((entries.len() * DUMP_RECORD) as u32)?;
  for (i, (key, value, ttl, expires)) in entries.iter().enumerate() {
    let i = (i * DUMP_RECORD) as u32;
    out.set(i, js_key(env, key.as_ref()))?;
    out.set(i + 1, js_value(env, value))?;
    out.set(i + 2, *ttl)?;
    out.set(i + 3, *expires)?;
  }
  Ok(out)
}

/// Writes `[hits, misses, sets, evictions, expirations, size, calculatedSize,
/// nativeBytes]` into `out` (the off-heap layout); counters are the store's,
/// over every thread; `nativeBytes` is this holder's reported share.
#[napi]
pub fn shared_stats(id: u32, mut out: Float64ArraySlice) -> Result<()> {
  // SAFETY: a typed array owned by the caller, alive during this call.
  let out = unsafe { out.as_mut() };
  if out.len() < STATS_LEN {
    return Err(Error::new(Status::InvalidArg, "stats array too short"));
  }
  with_lru(id, |lru| {
    lru.account();
    let c = lru.holder.counters();
    out[STAT_HITS] = c.hits as f64;
    out[STAT_MISSES] = c.misses as f64;
    out[STAT_SETS] = c.sets as f64;
    out[STAT_EVICTIONS] = c.evictions as f64;
    out[STAT_EXPIRATIONS] = c.expirations as f64;
    out[STAT_SIZE] = lru.holder.len() as f64;
    out[STAT_CALCULATED_SIZE] = lru.holder.calculated_size() as f64;
    out[STAT_NATIVE_BYTES] = lru.held.get() as f64;
  })
}

/// Bytes holder `id` reports to V8 (its share of the store); 0 once freed.
#[napi]
pub fn shared_native_bytes(id: u32) -> f64 {
  TABLE.with(|t| t.borrow().get(id).map_or(0.0, |lru| lru.held.get() as f64))
}

/// One live shared store, for `leakless.stats().shared`.
#[napi(object)]
pub struct SharedStoreStats {
  pub name: String,
  pub entries: f64,
  pub bytes: f64,
  pub holders: u32,
}

/// Every live shared store of the process, by name.
#[napi]
pub fn shared_list() -> Vec<SharedStoreStats> {
  shared::list()
    .into_iter()
    .map(|s| SharedStoreStats {
      name: s.name,
      entries: s.entries as f64,
      bytes: s.bytes as f64,
      holders: s.holders as u32,
    })
    .collect()
}
