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
use std::time::Instant;

use leakless_core::offheap::{KeyRef, ValueRef};
use leakless_core::shared::{
  self, Claim, Holder, Notify, OwnedKey, SharedConfig, SharedStore, SharedStored, SharedValue,
  Waiter,
};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::accounting::Held;
use crate::args::{self, limit};
use crate::errors::{self, check, Failure};
use crate::handles::{self, Table};
use crate::offheap::DUMP_RECORD;
use crate::raw::{self, Reply, Scratch};
use crate::records;

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
  static TABLE: RefCell<Table<SharedLru>> = const { RefCell::new(Table::new()) };
  static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
  static VALUE_SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
  /// The value a `get` answers, copied out under the shard's lock.
  static REPLY: RefCell<Reply> = const { RefCell::new(Reply::new()) };
  static THREAD: RefCell<ThreadState> = RefCell::new(ThreadState::default());
}

handles::kind!(SharedLru, "shared-store holder", TABLE);

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
      // takes the lock to clear it first); a nonblocking call never waits.
      let status = unsafe {
        sys::napi_call_threadsafe_function(
          tsfn.0,
          token as usize as *mut c_void,
          sys::ThreadsafeFunctionCallMode::nonblocking,
        )
      };
      match status {
        sys::Status::napi_ok => {}
        // `napi_closing`: the waiting thread is going away, and its waits
        // with it (a nonblocking call to a queue of unlimited size fails in
        // no other way). The caller, whichever thread ended a load, has no
        // one to tell, and the core drops its waiter either way.
        _closing => {}
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
fn hook_cleanup(env: sys::napi_env) -> errors::Result<()> {
  if THREAD.with(|t| t.borrow().hooked) {
    return Ok(());
  }
  // SAFETY: `env` is this thread's live environment (that of the running
  // callback); the hook takes no data and only touches this thread's state.
  // It is added once per thread, as Node-API requires of a (hook, data) pair.
  let status = unsafe { sys::napi_add_env_cleanup_hook(env, Some(cleanup), ptr::null_mut()) };
  check(status, "napi_add_env_cleanup_hook")?;
  THREAD.with(|t| t.borrow_mut().hooked = true);
  Ok(())
}

/// Takes back one pending wait of waker `index` (unreferencing it after the
/// last one).
///
/// # Safety
///
/// Called on this thread, where every waker in `THREAD` is alive.
unsafe fn end_wait(index: usize) -> errors::Result<()> {
  let unref = THREAD.with(|t| {
    let mut t = t.borrow_mut();
    let waker = t.wakers.get_mut(index)?;
    waker.pending = waker.pending.saturating_sub(1);
    (waker.pending == 0).then_some((waker.env, waker.tsfn))
  });
  if let Some((env, tsfn)) = unref {
    // SAFETY: on the function's own thread, while it is alive (the caller's
    // contract).
    let status = unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
    check(status, "napi_unref_threadsafe_function")?;
  }
  Ok(())
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
  let run = || {
    // SAFETY: Node calls this on the waker's own thread, through the
    // function, which is therefore alive; `env` and `js_callback` come from
    // Node for this call, and the token is a plain number.
    unsafe {
      end_wait(context as usize)?;
      let arg = raw::number(env, data as usize as f64)?;
      let recv = raw::undefined(env)?;
      let mut result = ptr::null_mut();
      let status = sys::napi_call_function(env, recv, js_callback, 1, &arg, &mut result);
      check(status, "napi_call_function")
    }
  };
  if let Err(failure) = run() {
    // An exception the wake function threw is already pending, and is the
    // one Node reports; otherwise this failure is, as an uncaught exception.
    // SAFETY: `env` is the one Node gave this call.
    unsafe { failure.throw(env) };
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
  let run = || {
    // SAFETY: `env` and `info` are those of this callback, and so is the
    // value read from them.
    let func = unsafe {
      let [func] = raw::args::<1>(env, info)?;
      if raw::type_of(env, func)? != sys::ValueType::napi_function {
        return Err(raw::not_a(env, func, "wake", "of type function"));
      }
      func
    };
    hook_cleanup(env)?;
    let index = THREAD.with(|t| t.borrow().wakers.len());
    let wake = Arc::new(Wake {
      tsfn: Mutex::new(None),
    });
    let mut name = ptr::null_mut();
    let name_bytes = c"leakless.shared";
    // SAFETY: the name is NUL-terminated and its length given; `name` is a
    // valid out pointer on this callback's env.
    let status = unsafe {
      sys::napi_create_string_utf8(
        env,
        name_bytes.as_ptr(),
        name_bytes.to_bytes().len() as isize,
        &mut name,
      )
    };
    check(status, "napi_create_string_utf8")?;
    let finalize_data = Arc::into_raw(wake.clone()) as *mut c_void;
    let mut tsfn = ptr::null_mut();
    // SAFETY: `func` and `name` belong to this callback's env;
    // `finalize_data` is released by `tsfn_finalized` (or below, if creation
    // fails); the context is a plain index.
    let status = unsafe {
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
      // SAFETY: creation failed, so Node never took `finalize_data`, which
      // is the `Arc` leaked just above.
      drop(unsafe { Arc::from_raw(finalize_data as *const Wake) });
      return Err(Failure::napi("napi_create_threadsafe_function", status));
    }
    // The waker is kept from here on, so that its index stays its own even
    // if the unref below fails (the function then holds the loop open, and
    // `tsfn_finalized` still frees it with the environment).
    *wake.tsfn.lock().unwrap_or_else(|e| e.into_inner()) = Some(Tsfn(tsfn));
    THREAD.with(|t| {
      t.borrow_mut().wakers.push(Waker {
        wake,
        tsfn,
        env,
        pending: 0,
      })
    });
    // SAFETY: a function just made on this thread; idle until a wait begins.
    let status = unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
    check(status, "napi_unref_threadsafe_function")?;
    // SAFETY: `env` is this callback's.
    unsafe { raw::number(env, index as f64) }
  };
  // SAFETY: `env` is this callback's.
  unsafe { raw::finish(env, run()) }
}

/// Counts a wait on waker `index` (referencing it on the first) and returns
/// its notifier.
///
/// # Safety
///
/// Called on this thread, where every waker in `THREAD` is alive.
unsafe fn begin_wait(index: u32) -> errors::Result<Arc<Wake>> {
  let found = THREAD.with(|t| {
    let mut t = t.borrow_mut();
    let waker = t.wakers.get_mut(index as usize)?;
    waker.pending += 1;
    Some((
      waker.wake.clone(),
      (waker.pending == 1).then_some((waker.env, waker.tsfn)),
    ))
  });
  let Some((wake, reference)) = found else {
    return Err(Failure::stale_handle("shared-store waker", index));
  };
  if let Some((env, tsfn)) = reference {
    // SAFETY: on the function's own thread, while it is alive (the caller's
    // contract).
    let status = unsafe { sys::napi_ref_threadsafe_function(env, tsfn) };
    if status != sys::Status::napi_ok {
      // SAFETY: as above.
      unsafe { end_wait(index as usize) }?;
      return Err(Failure::napi("napi_ref_threadsafe_function", status));
    }
  }
  Ok(wake)
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

/// What an operation hands back, turned into JS after every lock and
/// borrow is released.
enum Out {
  /// The value copied into [`REPLY`].
  Reply,
  Value(Option<SharedValue>),
  Bool(bool),
  Number(f64),
}

/// Runs `f` with holder `id` and the key read from `key`, then makes the
/// JS result.
///
/// # Safety
///
/// `env`, `id` and `key` belong to the running callback.
unsafe fn with_key(
  env: sys::napi_env,
  id: sys::napi_value,
  key: sys::napi_value,
  f: impl FnOnce(&mut SharedLru, KeyRef<'_>) -> Out,
) -> errors::Result<sys::napi_value> {
  // SAFETY: the caller's contract.
  let id = unsafe { raw::get_u32(env, id, "id") }?;
  let out = SCRATCH.with(|scratch| {
    let mut scratch = scratch.borrow_mut();
    // SAFETY: the caller's contract.
    let key = unsafe { scratch.key(env, key) }?;
    TABLE.with(|t| {
      let mut table = t.borrow_mut();
      Ok::<_, Failure>(f(table.get_mut(id)?, key))
    })
  })?;
  // JS values are made on the callback's env only now, with no lock of the
  // store and no table borrow held.
  // SAFETY: `env` is the running callback's (the caller's contract); a
  // value is made from bytes this call owns.
  unsafe {
    match out {
      Out::Reply => REPLY.with(|reply| raw::value_to_js(env, reply.borrow().get())),
      Out::Value(Some(v)) => raw::value_to_js(env, v.as_ref()),
      Out::Value(None) => raw::undefined(env),
      Out::Bool(b) => raw::boolean(env, b),
      Out::Number(n) => raw::number(env, n),
    }
  }
}

/// Runs `f` through [`with_key`] with the bytes of `value` too, then
/// updates the holder's accounting (`f` stores a value).
///
/// # Safety
///
/// `env`, `id`, `key` and `value` belong to the running callback; the
/// value's bytes are used only inside it.
unsafe fn with_value(
  env: sys::napi_env,
  id: sys::napi_value,
  key: sys::napi_value,
  value: sys::napi_value,
  f: impl FnOnce(&mut SharedLru, KeyRef<'_>, ValueRef<'_>) -> Out,
) -> errors::Result<sys::napi_value> {
  VALUE_SCRATCH.with(|scratch| {
    let mut scratch = scratch.borrow_mut();
    // SAFETY: the caller's contract.
    let value = unsafe { scratch.value(env, value) }?;
    // SAFETY: the caller's contract.
    unsafe {
      with_key(env, id, key, |lru, key| {
        let out = f(lru, key, value);
        lru.account();
        out
      })
    }
  })
}

/// Runs a callback `(id, key)`: reads its arguments and runs `f` through
/// [`with_key`].
///
/// # Safety
///
/// `env` and `info` are those of the running callback.
#[inline(always)]
unsafe fn keyed(
  env: sys::napi_env,
  info: sys::napi_callback_info,
  f: impl FnOnce(&mut SharedLru, KeyRef<'_>) -> Out,
) -> sys::napi_value {
  let run = || {
    // SAFETY: the caller's contract; every value is read from its callback.
    unsafe {
      let [id, key] = raw::args::<2>(env, info)?;
      with_key(env, id, key, f)
    }
  };
  // SAFETY: the caller's contract.
  unsafe { raw::finish(env, run()) }
}

/// Defines callbacks `(id, key)` whose work is one closure run by [`keyed`].
macro_rules! keyed_callbacks {
  ($($(#[$attr:meta])* $name:ident = |$lru:pat_param, $key:pat_param| $body:expr;)+) => {$(
    $(#[$attr])*
    unsafe extern "C" fn $name(
      env: sys::napi_env,
      info: sys::napi_callback_info,
    ) -> sys::napi_value {
      // SAFETY: `env` and `info` are this callback's.
      unsafe { keyed(env, info, |$lru, $key| $body) }
    }
  )+};
}

keyed_callbacks! {
  /// `sharedGet(id, key)`: the value, or `undefined`.
  shared_get = |lru, key| {
    let timed = lru.holder.is_timed();
    let now = lru.now();
    // The value is copied out under the shard's lock (a memcpy, no JS).
    let found = REPLY.with(|reply| {
      let mut reply = reply.borrow_mut();
      lru.holder.get_with(key, now, |v| reply.copy(v)).value()
    });
    if timed {
      // A get may have removed an expired entry.
      lru.account();
    }
    match found {
      Some(()) => Out::Reply,
      None => Out::Value(None),
    }
  };
  /// `sharedHas(id, key)`.
  shared_has = |lru, key| {
    Out::Bool(lru.holder.has(key, lru.now()))
  };
  /// `sharedDelete(id, key)`: whether a live entry was removed.
  shared_delete = |lru, key| {
    let removed = lru.holder.delete(key, lru.now());
    lru.account();
    Out::Bool(removed)
  };
  /// `sharedRemainingTtl(id, key)`.
  shared_remaining_ttl = |lru, key| {
    Out::Number(lru.holder.remaining_ttl(key, clock_ms()))
  };
}

raw::callbacks! {
  /// `sharedPeek(id, key, allowStale)`: the value without touching recency.
  fn shared_peek(env, [id, key, stale]) {
    let allow_stale = raw::get_bool(env, stale, "allowStale")?;
    with_key(env, id, key, |lru, key| {
      Out::Value(lru.holder.peek(key, lru.now(), allow_stale))
    })
  }

  /// `sharedSet(id, key, value, ttl, expiresAt?)`: `true` if stored, `false`
  /// if the value is larger than the store's `maxSize` (then any older value
  /// is removed). `expiresAt` is on [`clock_ms`]'s scale.
  fn shared_set(env, [id, key, value, ttl, expires_at]) {
    let ttl = raw::get_f64(env, ttl, "ttl")?;
    let expires_at = raw::optional_f64(env, expires_at, "expiresAt")?;
    with_value(env, id, key, value, |lru, key, value| {
      let now = if ttl > 0.0 || expires_at.is_some() {
        clock_ms()
      } else {
        lru.now()
      };
      let stored = lru.holder.set(key, value, ttl, now, expires_at);
      Out::Bool(stored == SharedStored::Yes)
    })
  }

  /// `sharedComplete(id, key, load, value, ttl)`: ends load `load` with
  /// `value`; `false` if that load had already ended.
  fn shared_complete(env, [id, key, load, value, ttl]) {
    let load = raw::get_f64(env, load, "load")? as u64;
    let ttl = raw::get_f64(env, ttl, "ttl")?;
    with_value(env, id, key, value, |lru, key, value| {
      Out::Bool(lru.holder.complete(key, load, value, ttl, clock_ms()))
    })
  }

  /// `sharedAbandon(id, key, load)`: ends load `load` without a value (its
  /// waiters retry, one of them leading); `false` if it had already ended.
  fn shared_abandon(env, [id, key, load]) {
    let load = raw::get_f64(env, load, "load")? as u64;
    with_key(env, id, key, |lru, key| {
      Out::Bool(lru.holder.abandon(key, load))
    })
  }

  /// `sharedSize(id)`: number of entries (0 once the holder was freed).
  fn shared_size(env, [id]) {
    let id = raw::get_u32(env, id, "id")?;
    let size = TABLE.with(|t| t.borrow().get(id).map_or(0, |lru| lru.holder.len()));
    raw::number(env, size as f64)
  }
}

/// `sharedClaim(id, key, waker, token)`: on a hit the value; when this
/// caller is to load the key, the load's number; when another caller loads
/// it, `undefined`, and waker `waker` will call its function with `token`
/// once that load ends.
unsafe extern "C" fn shared_claim(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  let run = || {
    // SAFETY: `env` and `info` are those of this callback, and so is every
    // value read from them.
    let [id, key, waker, token] = unsafe { raw::args::<4>(env, info) }?;
    // SAFETY: as above.
    let waker = unsafe { raw::get_u32(env, waker, "waker") }?;
    // SAFETY: as above.
    let token = unsafe { raw::get_f64(env, token, "token") }?;
    // SAFETY: on this thread, whose wakers are alive while it runs JS.
    let wake = unsafe { begin_wait(waker) }?;
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
    if let Some(weak) = led {
      note_led(weak);
    }
    if !waited {
      // SAFETY: as for `begin_wait`.
      unsafe { end_wait(waker as usize) }?;
    }
    out
  };
  // SAFETY: `env` is this callback's.
  unsafe { raw::finish(env, run()) }
}

// ------------------------------------------------------------ the rest

/// Opens (or creates) the store `name`. Returns `[id, owner]`, or, when the
/// store exists with other options, `[option, existing, given]` (strings).
#[napi(
  ts_args_type = "name: string, max: number, maxSize: number, ttl: number, updateAgeOnGet: boolean, allowStale: boolean"
)]
pub fn shared_open<'env>(
  env: &'env Env,
  name: Unknown<'env>,
  max: Unknown<'env>,
  max_size: Unknown<'env>,
  ttl: Unknown<'env>,
  update_age_on_get: Unknown<'env>,
  allow_stale: Unknown<'env>,
) -> Result<Array<'env>> {
  let run = || {
    let name = args::string(&name, "name")?;
    let config = SharedConfig {
      max: limit(args::number(&max, "max")?),
      max_size: limit(args::number(&max_size, "maxSize")?),
      ttl: args::number(&ttl, "ttl")?,
      update_age_on_get: args::boolean(&update_age_on_get, "updateAgeOnGet")?,
      allow_stale: args::boolean(&allow_stale, "allowStale")?,
    };
    hook_cleanup(env.raw())?;
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
        Ok(handles::pair(env, id, owner)?)
      }
    }
  };
  errors::js(env, run())
}

/// Milliseconds on the process-wide clock of shared stores (for `dump` and
/// `load`, which convert to and from `Date.now()` times).
#[napi]
pub fn shared_now() -> f64 {
  clock_ms()
}

fn with_lru<R>(id: u32, f: impl FnOnce(&mut SharedLru) -> R) -> errors::Result<R> {
  handles::with::<SharedLru, _>(id, |lru| Ok(f(lru)))
}

type SharedEntry = (OwnedKey, SharedValue, f64, f64);

/// `entries` as the records `records::flat` writes.
fn shared_records(entries: &[SharedEntry]) -> impl ExactSizeIterator<Item = records::Record<'_>> {
  entries
    .iter()
    .map(|(key, value, ttl, expires)| (key.as_ref(), value.as_ref(), *ttl, *expires))
}

/// Removes every entry of the store (for every thread).
#[napi(ts_args_type = "id: number")]
pub fn shared_clear(env: &Env, id: Unknown<'_>) -> Result<()> {
  let run = || {
    with_lru(args::id(&id, "id")?, |lru| {
      lru.holder.clear();
      lru.account();
    })
  };
  errors::js(env, run())
}

/// Removes and returns the least recently used `[key, value]` of one shard
/// (shards taken in turn), or `undefined`.
#[napi(ts_args_type = "id: number")]
pub fn shared_pop<'env>(env: &'env Env, id: Unknown<'env>) -> Result<Option<Array<'env>>> {
  let run = || {
    let popped = with_lru(args::id(&id, "id")?, |lru| {
      let popped = lru.holder.pop(clock_ms());
      lru.account();
      popped
    })?;
    popped
      .map(|(key, value)| records::pair(env, key.as_ref(), value.as_ref()))
      .transpose()
  };
  errors::js(env, run())
}

/// Removes expired entries; returns how many.
#[napi(ts_args_type = "id: number")]
pub fn shared_purge_stale(env: &Env, id: Unknown<'_>) -> Result<u32> {
  let run = || {
    with_lru(args::id(&id, "id")?, |lru| {
      let n = lru.holder.purge_stale(clock_ms());
      lru.account();
      n as u32
    })
  };
  errors::js(env, run())
}

/// Live entries as a flat array `[key, value, ...]`, each shard most
/// recently used first.
#[napi(ts_args_type = "id: number")]
pub fn shared_entries<'env>(env: &'env Env, id: Unknown<'env>) -> Result<Array<'env>> {
  let run = || {
    let entries = with_lru(args::id(&id, "id")?, |lru| lru.holder.entries(clock_ms()))?;
    records::flat(env, 2, shared_records(&entries))
  };
  errors::js(env, run())
}

/// Live entries, least recently used first within each shard, as a flat
/// array `[key, value, ttl, expires, ...]` (`expires` on [`clock_ms`]'s
/// scale, `Infinity` for none).
#[napi(ts_args_type = "id: number")]
pub fn shared_dump<'env>(env: &'env Env, id: Unknown<'env>) -> Result<Array<'env>> {
  let run = || {
    let mut entries = with_lru(args::id(&id, "id")?, |lru| lru.holder.entries(clock_ms()))?;
    entries.reverse();
    records::flat(env, DUMP_RECORD, shared_records(&entries))
  };
  errors::js(env, run())
}

/// Writes `[hits, misses, sets, evictions, expirations, size, calculatedSize,
/// nativeBytes]` into `out` (the off-heap layout); counters are the store's,
/// over every thread; `nativeBytes` is this holder's reported share.
#[napi(ts_args_type = "id: number, out: Float64Array")]
pub fn shared_stats<'env>(env: &Env, id: Unknown<'env>, out: Unknown<'env>) -> Result<()> {
  records::stats(env, &id, &out, |id| {
    with_lru(id, |lru| {
      lru.account();
      let c = lru.holder.counters();
      let counts = [c.hits, c.misses, c.sets, c.evictions, c.expirations];
      (
        counts,
        lru.holder.len(),
        lru.holder.calculated_size(),
        lru.held.get(),
      )
    })
  })
}

/// Bytes holder `id` reports to V8 (its share of the store); 0 once freed.
#[napi(ts_args_type = "id: number")]
pub fn shared_native_bytes(env: &Env, id: Unknown<'_>) -> Result<f64> {
  let run = || {
    let id = args::id(&id, "id")?;
    Ok(TABLE.with(|t| t.borrow().get(id).map_or(0.0, |lru| lru.held.get() as f64)))
  };
  errors::js(env, run())
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

/// Registers the plain N-API entry points.
///
/// # Safety
///
/// `env` and `exports` are those of the module being initialized.
pub unsafe fn register(env: sys::napi_env, exports: sys::napi_value) -> errors::Result<()> {
  let entries: &[(&std::ffi::CStr, raw::RawFn)] = &[
    (c"sharedGet", shared_get),
    (c"sharedPeek", shared_peek),
    (c"sharedHas", shared_has),
    (c"sharedDelete", shared_delete),
    (c"sharedSet", shared_set),
    (c"sharedSize", shared_size),
    (c"sharedRemainingTtl", shared_remaining_ttl),
    (c"sharedInit", shared_init),
    (c"sharedClaim", shared_claim),
    (c"sharedComplete", shared_complete),
    (c"sharedAbandon", shared_abandon),
  ];
  // SAFETY: the caller's contract.
  unsafe { raw::define_all(env, exports, entries) }
}
