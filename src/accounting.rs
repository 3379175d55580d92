//! What this thread's leakless structures hold in native memory, and what
//! has been reported to V8 with `napi_adjust_external_memory`.
//!
//! Every structure keeps the bytes it reported and gives back exactly that
//! amount when it shrinks, is cleared or is finalized. Reports are batched
//! in small amounts (a few calls per megabyte instead of one per entry), and
//! flushed before anyone reads the figure, so what `stats()` shows is what
//! V8 was told.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use napi::sys;

/// Pending changes smaller than this wait for the next change or a flush.
const BATCH_BYTES: i64 = 64 * 1024;

thread_local! {
  static ENV: Cell<sys::napi_env> = const { Cell::new(std::ptr::null_mut()) };
  /// Net bytes reported to V8 by this thread.
  static REPORTED: Cell<i64> = const { Cell::new(0) };
  /// Net bytes held but not yet reported.
  static PENDING: Cell<i64> = const { Cell::new(0) };
  /// V8's running total as last returned by `napi_adjust_external_memory`.
  static V8_TOTAL: Cell<i64> = const { Cell::new(0) };
}

/// Remembers the thread's environment; called from every entry point that
/// creates a structure, so finalizers can report without an `Env` at hand.
/// It is forgotten when the environment is torn down, so that nothing
/// reports to it afterwards (a finalizer run late, a thread-local destructor).
pub fn set_env(env: sys::napi_env) {
  if !ENV.with(Cell::get).is_null() {
    return;
  }
  // SAFETY: `env` is the environment of the running callback; the hook
  // takes no data. It is added once per environment (ENV was NULL), as
  // Node-API requires of a (hook, data) pair.
  let status = unsafe { sys::napi_add_env_cleanup_hook(env, Some(forget_env), ptr::null_mut()) };
  if status == sys::Status::napi_ok {
    ENV.with(|e| e.set(env));
  }
}

/// The environment is being torn down: report what is pending while it can
/// still hear it, then forget it.
unsafe extern "C" fn forget_env(_data: *mut c_void) {
  flush();
  let _ = ENV.try_with(|e| e.set(ptr::null_mut()));
}

/// Records that native memory held by leakless changed by `delta` bytes.
pub fn change(delta: i64) {
  if delta == 0 {
    return;
  }
  let pending = PENDING.with(|p| {
    let v = p.get() + delta;
    p.set(v);
    v
  });
  if pending.abs() >= BATCH_BYTES {
    flush();
  }
}

/// Reports everything pending to V8 now.
pub fn flush() {
  let pending = PENDING.with(|p| p.replace(0));
  if pending == 0 {
    return;
  }
  let env = ENV.try_with(Cell::get).unwrap_or(ptr::null_mut());
  if env.is_null() {
    // No environment: none yet (cannot happen after a structure was
    // created), or it was torn down. Keep it pending rather than lose it.
    PENDING.with(|p| p.set(p.get() + pending));
    return;
  }
  let mut total = 0i64;
  // SAFETY: `env` is this thread's environment, recorded by `set_env` and
  // cleared by its cleanup hook before the environment goes away, so it is
  // live here, and this is its thread; `total` is a valid out pointer.
  let status = unsafe { sys::napi_adjust_external_memory(env, pending, &mut total) };
  if status == sys::Status::napi_ok {
    REPORTED.with(|r| r.set(r.get() + pending));
    V8_TOTAL.with(|t| t.set(total));
  } else {
    PENDING.with(|p| p.set(p.get() + pending));
  }
}

/// Net bytes this thread has reported to V8, after flushing.
pub fn reported() -> i64 {
  flush();
  REPORTED.with(|r| r.get())
}

/// V8's running total of adjusted external memory (all addons, this
/// isolate), as of the last report.
pub fn v8_total() -> i64 {
  flush();
  V8_TOTAL.with(|t| t.get())
}

/// Bytes of native memory one structure holds, reported as they change.
#[derive(Debug, Default)]
pub struct Held(i64);

impl Held {
  /// Moves the reported amount to `bytes`.
  pub fn set(&mut self, bytes: usize) {
    let bytes = bytes as i64;
    change(bytes - self.0);
    self.0 = bytes;
  }

  pub fn get(&self) -> usize {
    self.0 as usize
  }
}

impl Drop for Held {
  fn drop(&mut self) {
    change(-self.0);
    // A structure going away is the moment V8 most needs to hear about it.
    flush();
  }
}
