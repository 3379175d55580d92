//! N-API surface of `BufferPool` ([`leakless_core::pool`]).
//!
//! The hot path is two raw Node-API functions made by [`pool_init`], so that
//! napi-rs argument conversion costs nothing on it:
//!
//! - `acquire()` reads the pool id and the size from a per-thread
//!   `Float64Array` (the mailbox) that `lib/pool.js` fills, lends a slot and
//!   returns an external Buffer over it (`napi_create_external_buffer`), or
//!   `undefined` with a status in the mailbox. It writes the lease's slot and
//!   serial, and the pool's waiting leak records, back into the mailbox.
//! - `release(buf)` takes the slot from the mailbox, checks that `buf` is
//!   exactly that lease's memory, detaches its ArrayBuffer
//!   (`napi_detach_arraybuffer`: the Buffer and all its views read as empty)
//!   and frees the slot. The status goes to the mailbox.
//!
//! Every Buffer's finalizer names its lease by a token (pool id and serial).
//! Node runs it on the JS thread on a later turn of the event loop, once the
//! backing store is gone: after a release (then it is stale and ignored) or
//! after the Buffer was collected (then it is a leak: the slot comes back and
//! a record waits for JS). No JS runs inside a finalizer: a thread-safe
//! function, called when the first record is queued, asks JS to collect them
//! on the next turn.
//!
//! Memory V8 cannot see (idle slots and the unused tail of lent slots) is
//! reported through [`crate::accounting`]; lent Buffers' bytes are already
//! counted by V8 as external ArrayBuffers and are not reported again.
//!
//! When the thread's environment is torn down (worker exit), Node first
//! detaches every Buffer still alive and runs its finalizer, then runs the
//! cleanup hook registered here, which frees every pool of the thread.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;

use leakless_core::pool::MAX_POOLS;
use leakless_core::pool::{
  AcquireError, ConfigError, Finalized, Pool, PoolConfig, PoolSet, ReleaseError,
};
use napi::bindgen_prelude::*;
use napi::{check_status, sys};
use napi_derive::napi;

use crate::accounting;
use crate::args;
use crate::errors::{self, describe_number, Code, Failure};

/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Mailbox slot: pool id (JS to Rust).
pub(crate) const MB_POOL: usize = 0;
/// Mailbox slot: size to acquire, or slot to release (JS to Rust).
pub(crate) const MB_ARG: usize = 1;
/// Mailbox slot: status of the last call (Rust to JS), one of `ST_*`.
pub(crate) const MB_STATUS: usize = 2;
/// Mailbox slot: slot of the last lease (Rust to JS).
pub(crate) const MB_SLOT: usize = 3;
/// Mailbox slot: serial of the last lease (Rust to JS).
pub(crate) const MB_SERIAL: usize = 4;
/// Mailbox slot: leak records waiting in the pool (Rust to JS).
pub(crate) const MB_LEAKS: usize = 5;
/// Length of the mailbox; 128 bytes keep it off V8's heap, at a fixed address.
pub(crate) const MB_LEN: usize = 16;

/// Statuses written to `MB_STATUS`.
pub(crate) const ST_OK: f64 = 0.0;
pub(crate) const ST_CLOSED: f64 = 1.0;
pub(crate) const ST_BAD_SIZE: f64 = 2.0;
pub(crate) const ST_EXHAUSTED: f64 = 3.0;
pub(crate) const ST_NO_EXTERNAL: f64 = 4.0;
pub(crate) const ST_FAILED: f64 = 5.0;
pub(crate) const ST_NOT_LENT: f64 = 6.0;
pub(crate) const ST_MISMATCH: f64 = 7.0;
pub(crate) const ST_NOT_BUFFER: f64 = 8.0;
pub(crate) const ST_NO_POOL: f64 = 9.0;

/// Numbers per record returned by `poolTakeLeaks`: serial, slot, size, age (ms).
pub(crate) const LEAK_RECORD: usize = 4;

/// Idle bytes may drift this far from what V8 was told before a report.
const SYNC_BYTES: i64 = 256 * 1024;

/// Whether this thread's runtime accepts external buffers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum External {
  Unknown,
  Allowed,
  Refused,
}

/// What one finalizer was asked to do while the pools were busy.
#[derive(Clone, Copy)]
enum Deferred {
  Lease { token: usize, addr: usize },
  Owner(u32),
}

/// The pools of this thread and what they share.
struct Thread {
  set: PoolSet,
  /// Bytes reported to V8 on behalf of the pools.
  reported: i64,
  mailbox: Mailbox,
  /// The leak-drain callbacks of each copy of `lib/pool.js`, held weakly.
  drains: Vec<sys::napi_ref>,
  hooked: bool,
  external: External,
  /// The environment was torn down; nothing is held any more.
  ended: bool,
}

impl Thread {
  const fn new() -> Thread {
    Thread {
      set: PoolSet::new(),
      reported: 0,
      mailbox: Mailbox(ptr::null_mut()),
      drains: Vec::new(),
      hooked: false,
      external: External::Unknown,
      ended: false,
    }
  }

  /// Tells V8 about idle bytes when they drifted by [`SYNC_BYTES`] (or at
  /// all, when `exact`).
  fn sync(&mut self, exact: bool) {
    let target = self.set.unseen_bytes() as i64;
    let drift = target - self.reported;
    if drift != 0 && (exact || drift.abs() >= SYNC_BYTES) {
      accounting::change(drift);
      self.reported = target;
    }
  }

  fn finalize(&mut self, token: usize, addr: usize) {
    let (_, outcome) = self.set.finalize(token, addr, now_us());
    if outcome == Finalized::Leaked {
      schedule_drain();
    }
    if outcome != Finalized::Stale {
      self.sync(false);
    }
  }
}

thread_local! {
  static THREAD: RefCell<Thread> = const { RefCell::new(Thread::new()) };
  /// Finalizations that found [`THREAD`] borrowed.
  static DEFERRED: RefCell<Vec<Deferred>> = const { RefCell::new(Vec::new()) };
  static HAS_DEFERRED: Cell<bool> = const { Cell::new(false) };
  /// The thread-safe function that calls the drain callbacks on a later turn.
  static TSFN: Cell<sys::napi_threadsafe_function> = const { Cell::new(ptr::null_mut()) };
  static DRAIN_SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

#[cfg(not(target_os = "linux"))]
thread_local! {
  static EPOCH: std::time::Instant = std::time::Instant::now();
}

/// A monotonic time in microseconds, for the age of leaked Buffers. On Linux
/// the coarse clock (a few ms of resolution) costs a memory read instead of a
/// `rdtsc`; it is read on every acquire.
#[cfg(target_os = "linux")]
fn now_us() -> u64 {
  #[repr(C)]
  struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
  }
  extern "C" {
    fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
  }
  const CLOCK_MONOTONIC_COARSE: i32 = 6;
  let mut ts = Timespec {
    tv_sec: 0,
    tv_nsec: 0,
  };
  // SAFETY: `ts` is a valid timespec on 64-bit Linux.
  if unsafe { clock_gettime(CLOCK_MONOTONIC_COARSE, &mut ts) } != 0 {
    return 0;
  }
  ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// Microseconds since this thread first asked.
#[cfg(not(target_os = "linux"))]
fn now_us() -> u64 {
  EPOCH.with(|e| e.elapsed().as_micros() as u64)
}

/// Number of pools alive on this thread (including collected ones whose
/// Buffers are still out).
pub fn live_instances() -> usize {
  THREAD.with(|t| t.try_borrow().map_or(0, |t| t.set.len()))
}

/// Reports the pools' idle bytes to V8 exactly, before someone reads the total.
pub fn sync_accounting() {
  THREAD.with(|t| {
    if let Ok(mut t) = t.try_borrow_mut() {
      t.sync(true);
    }
  });
}

/// Applies finalizations that had to wait.
fn run_deferred() {
  if !HAS_DEFERRED.with(Cell::get) {
    return;
  }
  HAS_DEFERRED.with(|h| h.set(false));
  let work = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
  THREAD.with(|t| {
    let Ok(mut t) = t.try_borrow_mut() else {
      DEFERRED.with(|d| d.borrow_mut().extend(work.iter().copied()));
      HAS_DEFERRED.with(|h| h.set(true));
      return;
    };
    for job in work {
      match job {
        Deferred::Lease { token, addr } => t.finalize(token, addr),
        Deferred::Owner(id) => {
          t.set.orphan(id);
          t.sync(false);
        }
      }
    }
  });
}

fn defer(job: Deferred) {
  DEFERRED.with(|d| d.borrow_mut().push(job));
  HAS_DEFERRED.with(|h| h.set(true));
}

/// Asks JS, through the thread-safe function, to collect leak records on a
/// later turn of the event loop. Safe from any context: it runs no JS.
fn schedule_drain() {
  if DRAIN_SCHEDULED.with(Cell::get) {
    return;
  }
  let tsfn = TSFN.with(Cell::get);
  if tsfn.is_null() {
    return;
  }
  let status = unsafe {
    sys::napi_call_threadsafe_function(
      tsfn,
      ptr::null_mut(),
      sys::ThreadsafeFunctionCallMode::nonblocking,
    )
  };
  if status == sys::Status::napi_ok {
    DRAIN_SCHEDULED.with(|d| d.set(true));
  }
}

/// Finalizer of every lent Buffer: `data` is the slot's memory, `hint` the
/// lease's token.
unsafe extern "C" fn finalize_lease(_env: sys::napi_env, data: *mut c_void, hint: *mut c_void) {
  let (token, addr) = (hint as usize, data as usize);
  let _ = std::panic::catch_unwind(|| {
    let _ = THREAD.try_with(|t| match t.try_borrow_mut() {
      Ok(mut t) => t.finalize(token, addr),
      Err(_) => defer(Deferred::Lease { token, addr }),
    });
  });
}

/// Finalizer of a pool's JS owner: the pool closes and leaves once its last
/// Buffer is gone.
unsafe extern "C" fn finalize_owner(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  let id = data as usize as u32;
  let _ = std::panic::catch_unwind(|| {
    let _ = THREAD.try_with(|t| match t.try_borrow_mut() {
      Ok(mut t) => {
        t.set.orphan(id);
        t.sync(false);
      }
      Err(_) => defer(Deferred::Owner(id)),
    });
  });
}

/// The environment of this thread is being torn down. Node has already
/// detached every Buffer still alive and run its finalizer, so no Buffer can
/// read pool memory any more: free everything and stop reporting.
unsafe extern "C" fn teardown(_arg: *mut c_void) {
  let _ = std::panic::catch_unwind(|| {
    TSFN.with(|t| t.set(ptr::null_mut()));
    let _ = THREAD.try_with(|t| {
      if let Ok(mut t) = t.try_borrow_mut() {
        t.set.clear();
        t.sync(true);
        accounting::flush();
        t.mailbox = Mailbox(ptr::null_mut());
        t.drains.clear();
        t.ended = true;
      }
    });
  });
}

unsafe extern "C" fn tsfn_finalized(_env: sys::napi_env, _data: *mut c_void, _hint: *mut c_void) {
  let _ = TSFN.try_with(|t| t.set(ptr::null_mut()));
}

/// Runs on the JS thread on a later turn: calls every drain callback.
unsafe extern "C" fn call_drains(
  env: sys::napi_env,
  _js: sys::napi_value,
  _ctx: *mut c_void,
  _data: *mut c_void,
) {
  let _ = DRAIN_SCHEDULED.try_with(|d| d.set(false));
  if env.is_null() {
    return;
  }
  let refs = THREAD.try_with(|t| t.try_borrow().map(|t| t.drains.clone()).unwrap_or_default());
  let Ok(refs) = refs else { return };
  let mut undefined = ptr::null_mut();
  unsafe { sys::napi_get_undefined(env, &mut undefined) };
  for r in refs {
    let mut f = ptr::null_mut();
    let status = unsafe { sys::napi_get_reference_value(env, r, &mut f) };
    if status != sys::Status::napi_ok || f.is_null() {
      continue;
    }
    let mut result = ptr::null_mut();
    let status = unsafe { sys::napi_call_function(env, undefined, f, 0, ptr::null(), &mut result) };
    if status != sys::Status::napi_ok {
      // An exception is pending: Node reports it when this callback returns.
      break;
    }
  }
}

/// The data of the mailbox `Float64Array`: `MB_LEN` numbers, or NULL
/// before `pool_init` and after teardown. Its memory is kept alive by the
/// strong reference in `MAILBOX_REF` from `pool_init` until teardown, which
/// sets it back to NULL; `lib/pool` keeps the array to itself and never
/// transfers or detaches its buffer.
struct Mailbox(*mut f64);

impl Mailbox {
  /// The mailbox as a slice, borrowed from the thread state (so for no
  /// longer than the caller holds it); empty when there is none.
  fn slots(&mut self) -> &mut [f64] {
    if self.0.is_null() {
      return &mut [];
    }
    // SAFETY: a non-NULL pointer is the data of the live mailbox (see the
    // type), `MB_LEN` aligned f64s. No JS runs while the slice is borrowed
    // (it lives inside one native call), and `&mut self` makes it the only
    // Rust reference to that memory.
    unsafe { std::slice::from_raw_parts_mut(self.0, MB_LEN) }
  }
}

fn acquire_status(e: AcquireError) -> f64 {
  match e {
    AcquireError::Closed => ST_CLOSED,
    AcquireError::BadSize => ST_BAD_SIZE,
    AcquireError::Exhausted => ST_EXHAUSTED,
  }
}

fn release_status(e: ReleaseError) -> f64 {
  match e {
    ReleaseError::Closed => ST_CLOSED,
    ReleaseError::NotLent => ST_NOT_LENT,
    ReleaseError::Mismatch => ST_MISMATCH,
  }
}

/// `acquire()`: see the module documentation.
unsafe extern "C" fn acquire_cb(
  env: sys::napi_env,
  _info: sys::napi_callback_info,
) -> sys::napi_value {
  let result = std::panic::catch_unwind(|| unsafe { acquire(env) }).unwrap_or(ptr::null_mut());
  run_deferred();
  result
}

unsafe fn acquire(env: sys::napi_env) -> sys::napi_value {
  THREAD.with(|t| {
    let Ok(mut guard) = t.try_borrow_mut() else {
      return ptr::null_mut();
    };
    let t = &mut *guard;
    let mb = t.mailbox.slots();
    if mb.is_empty() {
      return ptr::null_mut();
    }
    let id = mb[MB_POOL] as u32;
    let size = mb[MB_ARG] as usize;
    let lease = match t.set.acquire(id, size, now_us()) {
      Ok(lease) => lease,
      Err(e) => {
        mb[MB_STATUS] = acquire_status(e);
        return ptr::null_mut();
      }
    };
    let mut buffer = ptr::null_mut();
    // THREAD stays borrowed: should Node run the finalizer synchronously on
    // failure, it is deferred until the lease is cancelled, and found stale.
    let status = unsafe {
      sys::napi_create_external_buffer(
        env,
        lease.len,
        lease.ptr.as_ptr().cast(),
        Some(finalize_lease),
        PoolSet::token(id, lease.serial) as *mut c_void,
        &mut buffer,
      )
    };
    if status != sys::Status::napi_ok {
      t.set.with(id, |p| p.cancel(lease.slot, lease.serial));
      mb[MB_STATUS] = if status == sys::Status::napi_no_external_buffers_allowed {
        t.external = External::Refused;
        ST_NO_EXTERNAL
      } else {
        ST_FAILED
      };
      return ptr::null_mut();
    }
    mb[MB_STATUS] = ST_OK;
    mb[MB_SLOT] = lease.slot as f64;
    mb[MB_SERIAL] = lease.serial as f64;
    mb[MB_LEAKS] = t.set.get(id).map_or(0, |p| p.pending_leaks()) as f64;
    t.sync(false);
    buffer
  })
}

/// `release(buf)`: see the module documentation.
unsafe extern "C" fn release_cb(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  let _ = std::panic::catch_unwind(|| unsafe { release(env, info) });
  run_deferred();
  ptr::null_mut()
}

/// The typed array `value` as (type, length, data, arraybuffer, byte offset).
unsafe fn view_info(
  env: sys::napi_env,
  value: sys::napi_value,
) -> Option<(i32, usize, *mut c_void, sys::napi_value, usize)> {
  let (mut ty, mut len, mut data, mut ab, mut offset) = (0, 0, ptr::null_mut(), ptr::null_mut(), 0);
  let status = unsafe {
    sys::napi_get_typedarray_info(
      env,
      value,
      &mut ty,
      &mut len,
      &mut data,
      &mut ab,
      &mut offset,
    )
  };
  (status == sys::Status::napi_ok).then_some((ty, len, data, ab, offset))
}

unsafe fn release(env: sys::napi_env, info: sys::napi_callback_info) {
  // No argument readable: as if none was given (`ST_NOT_BUFFER`).
  let value = unsafe { crate::raw::args::<1>(env, info) }.map_or(ptr::null_mut(), |[v]| v);
  THREAD.with(|t| {
    let Ok(mut guard) = t.try_borrow_mut() else {
      return;
    };
    let t = &mut *guard;
    let mb = t.mailbox.slots();
    if mb.is_empty() {
      return;
    }
    let view = if value.is_null() {
      None
    } else {
      unsafe { view_info(env, value) }
    };
    let Some((_, len, data, ab, offset)) = view.filter(|v| v.0 == sys::TypedarrayType::uint8_array)
    else {
      mb[MB_STATUS] = ST_NOT_BUFFER;
      return;
    };
    let id = mb[MB_POOL] as u32;
    let slot = mb[MB_ARG] as u32;
    let checked = t
      .set
      .get(id)
      .map(|p| p.check_release(slot, data as *const u8, len, offset));
    let status = match checked {
      None => ST_NO_POOL,
      Some(Err(e)) => release_status(e),
      Some(Ok(())) => {
        if unsafe { sys::napi_detach_arraybuffer(env, ab) } != sys::Status::napi_ok {
          ST_FAILED
        } else {
          match t.set.with(id, |p| p.release(slot)) {
            Some(Ok(())) => {
              t.sync(false);
              ST_OK
            }
            Some(Err(e)) => release_status(e),
            None => ST_NO_POOL,
          }
        }
      }
    };
    t.mailbox.slots()[MB_STATUS] = status;
  });
}

/// `detach(buf)`: detaches an ordinary Buffer that `lib/pool.js` allocated
/// itself (overflow, copy mode), so that a released one reads as empty. Only
/// a view over a whole ArrayBuffer is detached, never a slice of a shared one.
unsafe extern "C" fn detach_cb(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  let _ = std::panic::catch_unwind(|| unsafe {
    let value = crate::raw::args::<1>(env, info).map_or(ptr::null_mut(), |[v]| v);
    let status = detach_whole(env, value);
    THREAD.with(|t| {
      if let Ok(mut t) = t.try_borrow_mut() {
        let mb = t.mailbox.slots();
        if !mb.is_empty() {
          mb[MB_STATUS] = status;
        }
      }
    });
  });
  ptr::null_mut()
}

unsafe fn detach_whole(env: sys::napi_env, value: sys::napi_value) -> f64 {
  if value.is_null() {
    return ST_NOT_BUFFER;
  }
  let Some((ty, len, _data, ab, offset)) = (unsafe { view_info(env, value) }) else {
    return ST_NOT_BUFFER;
  };
  let (mut ab_data, mut ab_len) = (ptr::null_mut(), 0usize);
  let status = unsafe { sys::napi_get_arraybuffer_info(env, ab, &mut ab_data, &mut ab_len) };
  if ty != sys::TypedarrayType::uint8_array
    || status != sys::Status::napi_ok
    || offset != 0
    || ab_len != len
  {
    return ST_MISMATCH;
  }
  if unsafe { sys::napi_detach_arraybuffer(env, ab) } != sys::Status::napi_ok {
    return ST_FAILED;
  }
  ST_OK
}

unsafe extern "C" fn free_probe(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  drop(unsafe { Box::from_raw(data.cast::<[u8; 16]>()) });
}

/// Finds out once per thread whether the runtime accepts external buffers
/// (a V8 sandbox, as in Electron, refuses them).
unsafe fn probe_external(env: sys::napi_env) -> External {
  let data = Box::into_raw(Box::new([0u8; 16]));
  let mut buffer = ptr::null_mut();
  let status = unsafe {
    sys::napi_create_external_buffer(
      env,
      16,
      data.cast(),
      Some(free_probe),
      ptr::null_mut(),
      &mut buffer,
    )
  };
  if status == sys::Status::napi_no_external_buffers_allowed {
    drop(unsafe { Box::from_raw(data) });
    return External::Refused;
  }
  if status != sys::Status::napi_ok {
    // Whether Node kept the finalizer is unknown: leave the 16 bytes be.
    return External::Allowed;
  }
  if let Some((_, _, _, ab, _)) = unsafe { view_info(env, buffer) } {
    unsafe { sys::napi_detach_arraybuffer(env, ab) };
  }
  External::Allowed
}

unsafe fn create_function(
  env: sys::napi_env,
  name: &str,
  cb: sys::napi_callback,
) -> Result<sys::napi_value> {
  let mut f = ptr::null_mut();
  let status = unsafe {
    sys::napi_create_function(
      env,
      name.as_ptr().cast(),
      name.len() as isize,
      cb,
      ptr::null_mut(),
      &mut f,
    )
  };
  if status != sys::Status::napi_ok {
    return Err(Error::new(
      Status::GenericFailure,
      format!("could not create {name}"),
    ));
  }
  Ok(f)
}

/// Sets up this thread for pools and registers `drain`, a function that
/// collects leak records, to be called on a later turn of the event loop
/// whenever a Buffer was collected without release. Returns `[mailbox,
/// acquire, release, detach, externalAllowed]`: the shared `Float64Array` and
/// the hot-path functions described in the module documentation.
#[napi(ts_args_type = "drain: () => void")]
pub fn pool_init<'env>(env: &'env Env, drain: Unknown<'env>) -> Result<Array<'env>> {
  errors::js(env, init_thread(env, drain))
}

fn init_thread<'env>(env: &'env Env, drain: Unknown<'env>) -> errors::Result<Array<'env>> {
  let drain = args::function(&drain, "drain")?;
  let raw = env.raw();
  accounting::set_env(raw);
  let mut out = env.create_array(5)?;
  THREAD.with(|t| -> errors::Result<()> {
    let mut t = t
      .try_borrow_mut()
      .map_err(|_| Failure::busy("BufferPool state"))?;
    if t.ended {
      return Err(Failure::env_closing("set up BufferPools"));
    }
    unsafe {
      // The mailbox: created once per thread and kept alive by a strong reference.
      let mut mailbox = ptr::null_mut();
      if t.mailbox.0.is_null() {
        let (mut data, mut ab) = (ptr::null_mut(), ptr::null_mut());
        check_status!(sys::napi_create_arraybuffer(
          raw,
          MB_LEN * 8,
          &mut data,
          &mut ab
        ))?;
        check_status!(sys::napi_create_typedarray(
          raw,
          sys::TypedarrayType::float64_array,
          MB_LEN,
          ab,
          0,
          &mut mailbox
        ))?;
        let mut keep = ptr::null_mut();
        check_status!(sys::napi_create_reference(raw, mailbox, 1, &mut keep))?;
        t.mailbox = Mailbox(data.cast());
        MAILBOX_REF.with(|m| m.set(keep));
      } else {
        check_status!(sys::napi_get_reference_value(
          raw,
          MAILBOX_REF.with(Cell::get),
          &mut mailbox
        ))?;
      }
      let mut weak = ptr::null_mut();
      check_status!(sys::napi_create_reference(raw, drain.raw(), 0, &mut weak))?;
      t.drains.push(weak);
      if TSFN.with(Cell::get).is_null() {
        let mut name = ptr::null_mut();
        let text = "leakless.BufferPool.leaks";
        check_status!(sys::napi_create_string_utf8(
          raw,
          text.as_ptr().cast(),
          text.len() as isize,
          &mut name
        ))?;
        let mut tsfn = ptr::null_mut();
        check_status!(sys::napi_create_threadsafe_function(
          raw,
          ptr::null_mut(),
          ptr::null_mut(),
          name,
          0,
          1,
          ptr::null_mut(),
          Some(tsfn_finalized),
          ptr::null_mut(),
          Some(call_drains),
          &mut tsfn
        ))?;
        // It must never keep the process alive.
        check_status!(sys::napi_unref_threadsafe_function(raw, tsfn))?;
        TSFN.with(|c| c.set(tsfn));
      }
      if !t.hooked {
        check_status!(sys::napi_add_env_cleanup_hook(
          raw,
          Some(teardown),
          ptr::null_mut()
        ))?;
        t.hooked = true;
      }
      if t.external == External::Unknown {
        t.external = probe_external(raw);
      }
      out.set(0, Unknown::from_raw_unchecked(raw, mailbox))?;
      out.set(
        1,
        Unknown::from_raw_unchecked(raw, create_function(raw, "acquire", Some(acquire_cb))?),
      )?;
      out.set(
        2,
        Unknown::from_raw_unchecked(raw, create_function(raw, "release", Some(release_cb))?),
      )?;
      out.set(
        3,
        Unknown::from_raw_unchecked(raw, create_function(raw, "detach", Some(detach_cb))?),
      )?;
      out.set(4, t.external == External::Allowed)?;
    }
    Ok(())
  })?;
  Ok(out)
}

thread_local! {
  static MAILBOX_REF: Cell<sys::napi_ref> = const { Cell::new(ptr::null_mut()) };
}

/// Largest `bufferSize`: what a Buffer can hold.
const MAX_BUFFER_SIZE: f64 = (i32::MAX) as f64;

/// Creates a pool. Returns `[id, owner]`: `id` names it in the other calls,
/// `owner` closes it when collected (its memory is freed once no Buffer of it
/// is left). A bad configuration throws `ERR_OUT_OF_RANGE` naming it.
#[napi(ts_args_type = "bufferSize: number, maxBytes: number, zeroFill: boolean")]
pub fn pool_create<'env>(
  env: &'env Env,
  buffer_size: Unknown<'env>,
  max_bytes: Unknown<'env>,
  zero_fill: Unknown<'env>,
) -> Result<Array<'env>> {
  errors::js(env, create(env, buffer_size, max_bytes, zero_fill))
}

fn create<'env>(
  env: &'env Env,
  buffer_size: Unknown<'env>,
  max_bytes: Unknown<'env>,
  zero_fill: Unknown<'env>,
) -> errors::Result<Array<'env>> {
  let buffer_size = args::number(&buffer_size, "bufferSize")?;
  let max_bytes = args::number(&max_bytes, "maxBytes")?;
  let zero_fill = args::boolean(&zero_fill, "zeroFill")?;
  let integer = |n: f64| n.fract() == 0.0;
  if !(integer(buffer_size) && (1.0..=MAX_BUFFER_SIZE).contains(&buffer_size)) {
    return Err(Failure::out_of_range(
      "bufferSize",
      &format!("an integer >= 1 && <= {MAX_BUFFER_SIZE}"),
      &describe_number(buffer_size),
    ));
  }
  if !(integer(max_bytes) && max_bytes >= buffer_size && max_bytes <= MAX_SAFE_INTEGER) {
    return Err(Failure::out_of_range(
      "maxBytes",
      &format!("an integer >= bufferSize ({buffer_size}) && <= {MAX_SAFE_INTEGER}"),
      &describe_number(max_bytes),
    ));
  }
  let raw = env.raw();
  accounting::set_env(raw);
  let config = PoolConfig {
    buffer_size: buffer_size as usize,
    max_bytes: max_bytes as usize,
    zero_fill,
  };
  let pool = Pool::new(config).map_err(|e| match e {
    ConfigError::BufferSize => Failure::out_of_range(
      "bufferSize",
      "a size this process can allocate",
      &describe_number(buffer_size),
    ),
    ConfigError::MaxBytes => Failure::out_of_range(
      "maxBytes",
      &format!(">= bufferSize ({buffer_size})"),
      &describe_number(max_bytes),
    ),
  })?;
  let id = THREAD.with(|t| {
    let mut t = t
      .try_borrow_mut()
      .map_err(|_| Failure::busy("BufferPool state"))?;
    t.set.insert(pool).ok_or_else(|| {
      Failure::new(
        Code::TooManyPools,
        format!("Cannot create a BufferPool: {MAX_POOLS} are alive on this thread"),
      )
    })
  })?;
  let mut owner = ptr::null_mut();
  // SAFETY: `raw` is the running callback's environment; the data is the
  // pool id (an integer, never dereferenced) and `finalize_owner` reads it
  // back as one.
  let status = unsafe {
    sys::napi_create_external(
      raw,
      id as usize as *mut c_void,
      Some(finalize_owner),
      ptr::null_mut(),
      &mut owner,
    )
  };
  if status != sys::Status::napi_ok {
    THREAD.with(|t| t.borrow_mut().set.orphan(id));
    return Err(Failure::napi("napi_create_external", status));
  }
  // SAFETY: `owner` was just created in this environment.
  let owner = unsafe { Unknown::from_raw_unchecked(raw, owner) };
  Ok(crate::handles::pair(env, id, owner)?)
}

fn with_pool<R>(id: u32, f: impl FnOnce(&mut Pool) -> R) -> errors::Result<R> {
  run_deferred();
  THREAD.with(|t| {
    let mut t = t
      .try_borrow_mut()
      .map_err(|_| Failure::busy("BufferPool state"))?;
    let r = t
      .set
      .with(id, f)
      .ok_or_else(|| Failure::stale_handle("BufferPool", id))?;
    t.sync(true);
    Ok(r)
  })
}

/// Counters of one pool, as `lib/pool.js` shapes them into `stats()`.
#[napi(object)]
pub struct NativePoolStats {
  /// Buffers lent out now.
  pub in_use: f64,
  /// Free slots.
  pub idle: f64,
  /// Capacity of the lent slots.
  pub in_use_bytes: f64,
  /// Capacity of the free slots.
  pub idle_bytes: f64,
  /// `inUseBytes + idleBytes`.
  pub reserved_bytes: f64,
  /// Largest `reservedBytes` so far.
  pub high_water_bytes: f64,
  /// Leases handed out.
  pub acquired: f64,
  /// Leases given back by release.
  pub released: f64,
  /// Leases collected without release.
  pub leaked: f64,
  /// Leak records waiting to be taken.
  pub pending_leaks: f64,
}

/// Counters of pool `id`.
#[napi(ts_args_type = "id: number")]
pub fn pool_stats(env: &Env, id: Unknown<'_>) -> Result<NativePoolStats> {
  let run = || {
    with_pool(args::id(&id, "id")?, |p| {
      let s = p.stats();
      NativePoolStats {
        in_use: s.in_use as f64,
        idle: s.idle as f64,
        in_use_bytes: s.in_use_bytes as f64,
        idle_bytes: s.idle_bytes as f64,
        reserved_bytes: s.reserved_bytes as f64,
        high_water_bytes: s.high_water_bytes as f64,
        acquired: s.acquired as f64,
        released: s.released as f64,
        leaked: s.leaked as f64,
        pending_leaks: p.pending_leaks() as f64,
      }
    })
  };
  errors::js(env, run())
}

/// Frees the idle slots of pool `id`; returns the bytes freed.
#[napi(ts_args_type = "id: number")]
pub fn pool_trim(env: &Env, id: Unknown<'_>) -> Result<f64> {
  let run = || with_pool(args::id(&id, "id")?, |p| p.trim() as f64);
  errors::js(env, run())
}

/// Closes pool `id`: frees its idle slots and refuses leases and releases.
/// Returns the bytes freed.
#[napi(ts_args_type = "id: number")]
pub fn pool_close(env: &Env, id: Unknown<'_>) -> Result<f64> {
  let run = || with_pool(args::id(&id, "id")?, |p| p.close() as f64);
  errors::js(env, run())
}

/// Takes the leak records of pool `id`, flat: `[serial, slot, size, ageMs, ...]`.
#[napi(ts_args_type = "id: number")]
pub fn pool_take_leaks(env: &Env, id: Unknown<'_>) -> Result<Vec<f64>> {
  let run = || {
    with_pool(args::id(&id, "id")?, |p| {
      p.take_leaks()
        .into_iter()
        .flat_map(|l| -> [f64; LEAK_RECORD] {
          [
            l.serial as f64,
            l.slot as f64,
            l.size as f64,
            l.age as f64 / 1000.0,
          ]
        })
        .collect()
    })
  };
  errors::js(env, run())
}

/// The slot of pool `id` lent as a Buffer whose memory contains the start of
/// `view`, or -1: tells a slice of a pooled Buffer from a foreign one.
#[napi(ts_args_type = "id: number, view: Uint8Array")]
pub fn pool_locate<'env>(env: &Env, id: Unknown<'env>, view: Unknown<'env>) -> Result<i32> {
  let run = || {
    let id = args::id(&id, "id")?;
    let view = args::typed::<u8>(&view, "view")?;
    if view.len() == 0 {
      return Ok(-1);
    }
    // Only the address is used: the bytes are never read.
    let addr = view.address();
    with_pool(id, |p| {
      p.lent_slot_containing(addr).map_or(-1, |s| s as i32)
    })
  };
  errors::js(env, run())
}
