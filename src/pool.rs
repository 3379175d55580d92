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
//! Each pool is a [`handles::Kind`]: it lives in the thread's table of pools
//! and is owned by an `External` held by its `BufferPool`. When that owner is
//! collected the pool closes, but stays until its last Buffer is gone.
//!
//! Every Buffer's finalizer names its lease by a token (pool id and serial)
//! and reports through [`handles::loan_finalized`]. Node runs it on the JS
//! thread on a later turn of the event loop, once the backing store is gone:
//! after a release (then it is stale and ignored) or after the Buffer was
//! collected (then it is a leak: the slot comes back and a record waits for
//! JS). No JS runs inside a finalizer: a thread-safe function, called when
//! the first record is queued, asks JS to collect them on the next turn.
//!
//! Memory V8 cannot see (idle slots and the unused tail of lent slots) is
//! reported per pool through [`Held`]; lent Buffers' bytes are already
//! counted by V8 as external ArrayBuffers and are not reported again.
//!
//! When the thread's environment is torn down (worker exit), Node first
//! detaches every Buffer still alive and runs its finalizer, then runs the
//! cleanup hook registered here, which frees every pool of the thread.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::thread::LocalKey;

use leakless_core::pool::{
  self, AcquireError, ConfigError, Finalized, Pool, PoolConfig, ReleaseError, MAX_POOLS,
};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::accounting::{self, Held};
use crate::args;
use crate::errors::{self, check, describe_number, Code, Failure};
use crate::handles::{self, Kind, Table};

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

/// One pool, as owned by its JS `BufferPool` through [`handles`].
pub struct OwnedPool {
  pool: Pool,
  /// Bytes of the pool V8 cannot see, as reported.
  held: Held,
  /// Its JS owner was collected; it stays until its last Buffer is gone.
  orphan: bool,
}

impl OwnedPool {
  /// Tells V8 about idle bytes when they drifted by [`SYNC_BYTES`] (or at
  /// all, when `exact`).
  fn sync(&mut self, exact: bool) {
    let target = self.pool.unseen_bytes();
    let drift = target as i64 - self.held.get() as i64;
    if drift != 0 && (exact || drift.abs() >= SYNC_BYTES) {
      self.held.set(target);
    }
  }

  /// Lends `size` bytes as an external Buffer: (Buffer, slot, serial, leak
  /// records waiting), or the status to report.
  ///
  /// # Safety
  /// `env` is the environment of the current callback, on its JS thread;
  /// `id` is this pool's id.
  unsafe fn lend(
    &mut self,
    env: sys::napi_env,
    id: u32,
    size: usize,
  ) -> std::result::Result<(sys::napi_value, u32, u64, usize), f64> {
    let serial = HOST.with(|h| h.next_serial.get());
    let lease = self
      .pool
      .acquire(size, serial, now_us())
      .map_err(acquire_status)?;
    HOST.with(|h| h.next_serial.set(serial + 1));
    let mut buffer = ptr::null_mut();
    // The table stays borrowed on purpose (see `acquire`): should Node run
    // this Buffer's finalizer before it returns (it may on failure), the
    // finalizer waits for the end of the call, when the lease was cancelled,
    // and is stale.
    // SAFETY: `env` per the contract. `lease.ptr` points to `lease.len`
    // bytes that the pool keeps allocated, and neither reads nor writes,
    // until this Buffer's finalizer ran or `release` detached it;
    // `finalize_lease` matches `napi_finalize`; the token is a number that
    // is never dereferenced.
    let status = unsafe {
      sys::napi_create_external_buffer(
        env,
        lease.len,
        lease.ptr.as_ptr().cast(),
        Some(finalize_lease),
        pool::token(id, lease.serial) as *mut c_void,
        &mut buffer,
      )
    };
    if status != sys::Status::napi_ok {
      self.pool.cancel(lease.slot, lease.serial);
      return Err(if status == sys::Status::napi_no_external_buffers_allowed {
        HOST.with(|h| h.external.set(External::Refused));
        ST_NO_EXTERNAL
      } else {
        ST_FAILED
      });
    }
    self.sync(false);
    Ok((buffer, lease.slot, lease.serial, self.pool.pending_leaks()))
  }
}

thread_local! {
  static POOLS: RefCell<Table<OwnedPool>> = const { RefCell::new(Table::new()) };
}

impl Kind for OwnedPool {
  const NAME: &'static str = "BufferPool";

  /// Finalizer tokens carry the pool id in
  /// [`POOL_BITS`](leakless_core::pool::POOL_BITS) bits.
  const MAX_ID: u32 = (MAX_POOLS - 1) as u32;

  fn table() -> &'static LocalKey<RefCell<Table<Self>>> {
    &POOLS
  }

  fn too_many() -> Failure {
    Failure::new(
      Code::TooManyPools,
      format!(
        "Cannot create a BufferPool: {} are alive on this thread",
        Self::MAX_ID
      ),
    )
  }

  /// The pool closes, and is freed once its last Buffer is gone.
  fn owner_collected(&mut self) -> bool {
    self.pool.close();
    self.orphan = true;
    self.sync(false);
    self.pool.lent() == 0
  }

  /// The Buffer of a lease was finalized: `data` is its memory, `hint` its
  /// token. After a release this is stale and ignored; otherwise the Buffer
  /// leaked, the slot comes back and a record waits for JS.
  fn loan_finalized(&mut self, data: usize, hint: usize) -> bool {
    let (_, serial) = pool::untoken(hint);
    let outcome = self.pool.finalize(data, serial, now_us());
    if outcome == Finalized::Leaked {
      schedule_drain();
    }
    if outcome != Finalized::Stale {
      self.sync(false);
    }
    self.orphan && self.pool.lent() == 0
  }
}

/// What the pools of this thread share besides their table.
struct Host {
  /// The mailbox's memory; null before `poolInit`, after teardown, and while
  /// [`with_mailbox`] lends it.
  mailbox: Cell<*mut f64>,
  /// Strong reference that keeps the mailbox's `Float64Array` alive.
  mailbox_ref: Cell<sys::napi_ref>,
  /// The leak-drain callbacks of each copy of `lib/pool.js`, held weakly.
  drains: RefCell<Vec<sys::napi_ref>>,
  /// The thread-safe function that calls the drain callbacks on a later turn.
  tsfn: Cell<sys::napi_threadsafe_function>,
  drain_scheduled: Cell<bool>,
  hooked: Cell<bool>,
  external: Cell<External>,
  /// The environment was torn down; nothing is held any more.
  ended: Cell<bool>,
  /// Serial of the next lease: unique on the thread, so a late finalizer
  /// never matches a lease of a pool that took over its id.
  next_serial: Cell<u64>,
}

thread_local! {
  static HOST: Host = const {
    Host {
      mailbox: Cell::new(ptr::null_mut()),
      mailbox_ref: Cell::new(ptr::null_mut()),
      drains: RefCell::new(Vec::new()),
      tsfn: Cell::new(ptr::null_mut()),
      drain_scheduled: Cell::new(false),
      hooked: Cell::new(false),
      external: Cell::new(External::Unknown),
      ended: Cell::new(false),
      next_serial: Cell::new(1),
    }
  };
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
  // SAFETY: `Timespec` has the layout of `struct timespec` on 64-bit Linux,
  // and `ts` is a valid, writable one for the duration of the call.
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
  handles::live::<OwnedPool>()
}

/// Reports the pools' idle bytes to V8 exactly, before someone reads the total.
pub fn sync_accounting() {
  POOLS.with(|t| {
    if let Ok(mut t) = t.try_borrow_mut() {
      t.values_mut().for_each(|p| p.sync(true));
    }
  });
  handles::release_deferred();
}

/// Asks JS, through the thread-safe function, to collect leak records on a
/// later turn of the event loop. Safe from any context: it runs no JS.
fn schedule_drain() {
  let _ = HOST.try_with(|h| {
    let tsfn = h.tsfn.get();
    if h.drain_scheduled.get() || tsfn.is_null() {
      return;
    }
    // SAFETY: `tsfn` was created by `pool_init` on this thread and is reset
    // to null by `tsfn_finalized` and `teardown` before it becomes invalid.
    // A non-blocking call only queues the request.
    let status = unsafe {
      sys::napi_call_threadsafe_function(
        tsfn,
        ptr::null_mut(),
        sys::ThreadsafeFunctionCallMode::nonblocking,
      )
    };
    if status == sys::Status::napi_ok {
      h.drain_scheduled.set(true);
    }
  });
}

/// Finalizer of every lent Buffer: `data` is the slot's memory, `hint` the
/// lease's token (pool id and serial).
unsafe extern "C" fn finalize_lease(_env: sys::napi_env, data: *mut c_void, hint: *mut c_void) {
  let (id, _) = pool::untoken(hint as usize);
  handles::loan_finalized::<OwnedPool>(id, data as usize, hint as usize);
}

/// The environment of this thread is being torn down. Node has already
/// detached every Buffer still alive and run its finalizer, so no Buffer can
/// read pool memory any more: free everything and stop reporting.
unsafe extern "C" fn teardown(_arg: *mut c_void) {
  let _ = std::panic::catch_unwind(|| {
    let _ = HOST.try_with(|h| {
      h.tsfn.set(ptr::null_mut());
      h.mailbox.set(ptr::null_mut());
      h.ended.set(true);
      if let Ok(mut drains) = h.drains.try_borrow_mut() {
        drains.clear();
      }
    });
    handles::clear::<OwnedPool>();
    accounting::flush();
  });
}

unsafe extern "C" fn tsfn_finalized(_env: sys::napi_env, _data: *mut c_void, _hint: *mut c_void) {
  let _ = HOST.try_with(|h| h.tsfn.set(ptr::null_mut()));
}

/// Runs on the JS thread on a later turn: calls every drain callback.
unsafe extern "C" fn call_drains(
  env: sys::napi_env,
  _js: sys::napi_value,
  _ctx: *mut c_void,
  _data: *mut c_void,
) {
  let Ok(refs) = HOST.try_with(|h| {
    h.drain_scheduled.set(false);
    h.drains.try_borrow().map(|d| d.clone()).unwrap_or_default()
  }) else {
    return;
  };
  if env.is_null() {
    return;
  }
  // SAFETY: Node calls this on the JS thread with a live `env` (checked
  // non-null above) and an open handle scope; the out slot is valid.
  let Ok(undefined) = (unsafe { crate::raw::undefined(env) }) else {
    return;
  };
  for r in refs {
    let mut f = ptr::null_mut();
    // SAFETY: `r` is a reference created in this environment by `pool_init`
    // and deleted by nobody before teardown (which clears the list first);
    // the out slot is valid.
    let status = unsafe { sys::napi_get_reference_value(env, r, &mut f) };
    if status != sys::Status::napi_ok || f.is_null() {
      continue;
    }
    let mut result = ptr::null_mut();
    // SAFETY: `f` is the live drain function (the weak reference still
    // resolved), called with no arguments (`argv` may be null when `argc`
    // is 0) on the JS thread inside Node's handle scope.
    let status = unsafe { sys::napi_call_function(env, undefined, f, 0, ptr::null(), &mut result) };
    if status != sys::Status::napi_ok {
      // An exception is pending: Node reports it when this callback returns.
      break;
    }
  }
}

/// Runs `f` on the mailbox, or returns `None` before `poolInit`, after
/// teardown, or when the mailbox is already lent (so two `&mut` to it never
/// exist). The slice cannot escape `f`.
fn with_mailbox<R>(f: impl FnOnce(&mut [f64; MB_LEN]) -> R) -> Option<R> {
  /// Gives the mailbox back when `f` returns or panics.
  struct Lent<'a>(&'a Host, *mut f64);
  impl Drop for Lent<'_> {
    fn drop(&mut self) {
      if !self.0.ended.get() {
        self.0.mailbox.set(self.1);
      }
    }
  }
  HOST.with(|h| {
    let ptr = h.mailbox.replace(ptr::null_mut());
    if ptr.is_null() {
      return None;
    }
    let lent = Lent(h, ptr);
    // SAFETY: `ptr` is the data of the mailbox's ArrayBuffer (MB_LEN f64s,
    // 8-byte aligned), kept alive by the strong reference `mailbox_ref` until
    // teardown, which nulls the pointer first. No JS runs while a native
    // callback runs, and `h.mailbox` stays null until `lent` is dropped, after
    // `f` returned, so this is the only reference to that memory.
    let mb = unsafe { &mut *lent.1.cast::<[f64; MB_LEN]>() };
    Some(f(mb))
  })
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
  // SAFETY: Node calls this callback on the JS thread with a live `env`.
  std::panic::catch_unwind(|| unsafe { acquire(env) }).unwrap_or(ptr::null_mut())
}

/// # Safety
/// `env` is the environment of the current callback, on its JS thread.
unsafe fn acquire(env: sys::napi_env) -> sys::napi_value {
  with_mailbox(|mb| {
    let id = mb[MB_POOL] as u32;
    let size = mb[MB_ARG] as usize;
    // SAFETY: the caller's contract.
    let lent = handles::with::<OwnedPool, _>(id, |p| Ok(unsafe { p.lend(env, id, size) }));
    match lent {
      Ok(Ok((buffer, slot, serial, leaks))) => {
        mb[MB_STATUS] = ST_OK;
        mb[MB_SLOT] = slot as f64;
        mb[MB_SERIAL] = serial as f64;
        mb[MB_LEAKS] = leaks as f64;
        buffer
      }
      Ok(Err(status)) => {
        mb[MB_STATUS] = status;
        ptr::null_mut()
      }
      // No such pool (it was collected, or never was): as closed.
      Err(_) => {
        mb[MB_STATUS] = ST_CLOSED;
        ptr::null_mut()
      }
    }
  })
  .unwrap_or(ptr::null_mut())
}

/// `release(buf)`: see the module documentation.
unsafe extern "C" fn release_cb(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  // SAFETY: Node calls this callback on the JS thread with a live `env` and
  // the `info` of this call.
  let _ = std::panic::catch_unwind(|| unsafe { release(env, info) });
  ptr::null_mut()
}

/// The typed array `value` as (type, length, data, arraybuffer, byte offset).
///
/// # Safety
/// `env` is the environment of the current callback; `value` is a value of
/// this call (any type).
unsafe fn view_info(
  env: sys::napi_env,
  value: sys::napi_value,
) -> Option<(i32, usize, *mut c_void, sys::napi_value, usize)> {
  let (mut ty, mut len, mut data, mut ab, mut offset) = (0, 0, ptr::null_mut(), ptr::null_mut(), 0);
  // SAFETY: the caller's contract; every out slot is a valid local. A value
  // that is not a typed array gives an error status, not UB.
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

/// # Safety
/// `env` and `info` are those of the current callback, on its JS thread.
unsafe fn release(env: sys::napi_env, info: sys::napi_callback_info) {
  // No argument readable: as if none was given (`ST_NOT_BUFFER`).
  // SAFETY: the caller's contract.
  let value = unsafe { crate::raw::args::<1>(env, info) }.map_or(ptr::null_mut(), |[v]| v);
  with_mailbox(|mb| {
    let view = if value.is_null() {
      None
    } else {
      // SAFETY: `value` is an argument of this call.
      unsafe { view_info(env, value) }
    };
    let Some((_, len, data, ab, offset)) = view.filter(|v| v.0 == sys::TypedarrayType::uint8_array)
    else {
      mb[MB_STATUS] = ST_NOT_BUFFER;
      return;
    };
    let id = mb[MB_POOL] as u32;
    let slot = mb[MB_ARG] as u32;
    // The check, the detach and the release happen under one borrow, so no
    // finalizer can free the slot between them.
    let status = handles::with::<OwnedPool, _>(id, |p| {
      if let Err(e) = p.pool.check_release(slot, data as *const u8, len, offset) {
        return Ok(release_status(e));
      }
      // SAFETY: `ab` is the ArrayBuffer of an argument of this call; the
      // check above proved it is the external buffer of this lease, which
      // Node allows to detach.
      if unsafe { sys::napi_detach_arraybuffer(env, ab) } != sys::Status::napi_ok {
        return Ok(ST_FAILED);
      }
      Ok(match p.pool.release(slot) {
        Ok(()) => {
          p.sync(false);
          ST_OK
        }
        Err(e) => release_status(e),
      })
    });
    mb[MB_STATUS] = status.unwrap_or(ST_NO_POOL);
  });
}

/// `detach(buf)`: detaches an ordinary Buffer that `lib/pool.js` allocated
/// itself (overflow, copy mode), so that a released one reads as empty. Only
/// a view over a whole ArrayBuffer is detached, never a slice of a shared one.
unsafe extern "C" fn detach_cb(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> sys::napi_value {
  let _ = std::panic::catch_unwind(|| {
    // SAFETY: Node calls this callback on the JS thread with a live `env`
    // and the `info` of this call; `value` is its argument.
    let status = unsafe {
      let value = crate::raw::args::<1>(env, info).map_or(ptr::null_mut(), |[v]| v);
      detach_whole(env, value)
    };
    with_mailbox(|mb| mb[MB_STATUS] = status);
  });
  ptr::null_mut()
}

/// # Safety
/// `env` is the environment of the current callback; `value` a value of it.
unsafe fn detach_whole(env: sys::napi_env, value: sys::napi_value) -> f64 {
  if value.is_null() {
    return ST_NOT_BUFFER;
  }
  // SAFETY: the caller's contract.
  let Some((ty, len, _data, ab, offset)) = (unsafe { view_info(env, value) }) else {
    return ST_NOT_BUFFER;
  };
  let (mut ab_data, mut ab_len) = (ptr::null_mut(), 0usize);
  // SAFETY: `ab` is the ArrayBuffer napi just returned for `value`; the out
  // slots are valid locals.
  let status = unsafe { sys::napi_get_arraybuffer_info(env, ab, &mut ab_data, &mut ab_len) };
  if ty != sys::TypedarrayType::uint8_array
    || status != sys::Status::napi_ok
    || offset != 0
    || ab_len != len
  {
    return ST_MISMATCH;
  }
  // SAFETY: `ab` is a live ArrayBuffer of this call; detaching one that
  // cannot be detached returns an error status.
  if unsafe { sys::napi_detach_arraybuffer(env, ab) } != sys::Status::napi_ok {
    return ST_FAILED;
  }
  ST_OK
}

unsafe extern "C" fn free_probe(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  // SAFETY: `data` is the `Box<[u8; 16]>` that `probe_external` leaked into
  // this Buffer, and Node calls the finalizer once.
  drop(unsafe { Box::from_raw(data.cast::<[u8; 16]>()) });
}

/// Finds out once per thread whether the runtime accepts external buffers
/// (a V8 sandbox, as in Electron, refuses them).
///
/// # Safety
/// `env` is the environment of the current call, on its JS thread.
unsafe fn probe_external(env: sys::napi_env) -> External {
  let data = Box::into_raw(Box::new([0u8; 16]));
  let mut buffer = ptr::null_mut();
  // SAFETY: `data` is a live 16-byte allocation handed over to the Buffer,
  // freed by `free_probe` (which matches `napi_finalize`) when it goes.
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
    // SAFETY: refused before Node took it: `data` is still ours alone.
    drop(unsafe { Box::from_raw(data) });
    return External::Refused;
  }
  if status != sys::Status::napi_ok {
    // Whether Node kept the finalizer is unknown: leave the 16 bytes be.
    return External::Allowed;
  }
  // SAFETY: `buffer` was just created in `env`.
  if let Some((_, _, _, ab, _)) = unsafe { view_info(env, buffer) } {
    // SAFETY: `ab` is the external ArrayBuffer just created; detaching it
    // only makes its views empty (Node frees `data` via `free_probe`).
    unsafe { sys::napi_detach_arraybuffer(env, ab) };
  }
  External::Allowed
}

/// # Safety
/// `env` is the environment of the current call, on its JS thread.
unsafe fn create_function(
  env: sys::napi_env,
  name: &str,
  cb: sys::napi_callback,
) -> errors::Result<sys::napi_value> {
  let mut f = ptr::null_mut();
  // SAFETY: `name` is valid for `name.len()` bytes (napi copies it); the
  // out slot is a valid local.
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
  check(status, "napi_create_function")?;
  Ok(f)
}

/// The mailbox's `Float64Array`, created once per thread and kept alive by a
/// strong reference.
///
/// # Safety
/// `raw` is the environment of the current call, on its JS thread.
unsafe fn mailbox_array(raw: sys::napi_env, h: &Host) -> errors::Result<sys::napi_value> {
  let mut mailbox = ptr::null_mut();
  if !h.mailbox_ref.get().is_null() {
    // SAFETY: `mailbox_ref` is a strong reference created below in this
    // environment and never deleted; the out slot is valid.
    let status = unsafe { sys::napi_get_reference_value(raw, h.mailbox_ref.get(), &mut mailbox) };
    check(status, "napi_get_reference_value")?;
    return Ok(mailbox);
  }
  let (mut data, mut ab) = (ptr::null_mut(), ptr::null_mut());
  // SAFETY: out slots are valid locals; napi allocates MB_LEN * 8 bytes,
  // zeroed and 8-byte aligned.
  let status = unsafe { sys::napi_create_arraybuffer(raw, MB_LEN * 8, &mut data, &mut ab) };
  check(status, "napi_create_arraybuffer")?;
  // SAFETY: `ab` was just created with room for MB_LEN doubles at offset 0.
  let status = unsafe {
    sys::napi_create_typedarray(
      raw,
      sys::TypedarrayType::float64_array,
      MB_LEN,
      ab,
      0,
      &mut mailbox,
    )
  };
  check(status, "napi_create_typedarray")?;
  let mut keep = ptr::null_mut();
  // SAFETY: `mailbox` is a live value of this call; a reference count of 1
  // makes it a strong reference that keeps the ArrayBuffer (and `data`).
  let status = unsafe { sys::napi_create_reference(raw, mailbox, 1, &mut keep) };
  check(status, "napi_create_reference")?;
  h.mailbox_ref.set(keep);
  h.mailbox.set(data.cast());
  Ok(mailbox)
}

/// The thread-safe function that calls the drain callbacks, created once
/// per thread; it never keeps the process alive.
///
/// # Safety
/// `raw` is the environment of the current call, on its JS thread.
unsafe fn drain_tsfn(raw: sys::napi_env, h: &Host) -> errors::Result<()> {
  if !h.tsfn.get().is_null() {
    return Ok(());
  }
  let text = "leakless.BufferPool.leaks";
  let mut name = ptr::null_mut();
  // SAFETY: `text` is valid for its length (napi copies it).
  let status = unsafe {
    sys::napi_create_string_utf8(raw, text.as_ptr().cast(), text.len() as isize, &mut name)
  };
  check(status, "napi_create_string_utf8")?;
  let mut tsfn = ptr::null_mut();
  // SAFETY: no JS function (calls go to `call_drains`, which matches
  // `napi_threadsafe_function_call_js`), no context, `tsfn_finalized`
  // matches `napi_finalize`; the out slot is valid.
  let status = unsafe {
    sys::napi_create_threadsafe_function(
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
      &mut tsfn,
    )
  };
  check(status, "napi_create_threadsafe_function")?;
  // SAFETY: `tsfn` was just created in this environment, on its thread.
  let status = unsafe { sys::napi_unref_threadsafe_function(raw, tsfn) };
  check(status, "napi_unref_threadsafe_function")?;
  h.tsfn.set(tsfn);
  Ok(())
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
  HOST.with(|h| -> errors::Result<()> {
    if h.ended.get() {
      return Err(Failure::env_closing("set up BufferPools"));
    }
    // SAFETY: `raw` is the environment of this call, on its JS thread.
    let mailbox = unsafe { mailbox_array(raw, h)? };
    let mut weak = ptr::null_mut();
    // SAFETY: `drain` is a live function of this call; count 0 makes the
    // reference weak, so the pools never keep `lib/pool.js` alive.
    let status = unsafe { sys::napi_create_reference(raw, drain.raw(), 0, &mut weak) };
    check(status, "napi_create_reference")?;
    h.drains
      .try_borrow_mut()
      .map_err(|_| Failure::busy("BufferPool state"))?
      .push(weak);
    // SAFETY: as above.
    unsafe { drain_tsfn(raw, h)? };
    if !h.hooked.get() {
      // SAFETY: `teardown` matches the cleanup hook signature and touches
      // only this thread's state; its argument is unused.
      let status = unsafe { sys::napi_add_env_cleanup_hook(raw, Some(teardown), ptr::null_mut()) };
      check(status, "napi_add_env_cleanup_hook")?;
      h.hooked.set(true);
    }
    if h.external.get() == External::Unknown {
      // SAFETY: as above.
      h.external.set(unsafe { probe_external(raw) });
    }
    // SAFETY: every value set below was created in `raw` during this call
    // and lives in its handle scope.
    unsafe {
      out.set(0, Unknown::from_raw_unchecked(raw, mailbox))?;
      let functions: [(&str, sys::napi_callback); 3] = [
        ("acquire", Some(acquire_cb)),
        ("release", Some(release_cb)),
        ("detach", Some(detach_cb)),
      ];
      for (i, (name, cb)) in functions.into_iter().enumerate() {
        let f = create_function(raw, name, cb)?;
        out.set(i as u32 + 1, Unknown::from_raw_unchecked(raw, f))?;
      }
    }
    out.set(4, h.external.get() == External::Allowed)?;
    Ok(())
  })?;
  Ok(out)
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
  let owned = OwnedPool {
    pool,
    held: Held::default(),
    orphan: false,
  };
  let (id, owner) = handles::adopt(env, owned)?;
  handles::pair(env, id, owner)
}

/// Runs `f` on pool `id` for a napi-rs entry point, then reports its idle
/// bytes exactly.
fn with_pool<R>(id: u32, f: impl FnOnce(&mut Pool) -> R) -> errors::Result<R> {
  handles::with::<OwnedPool, _>(id, |p| {
    let r = f(&mut p.pool);
    p.sync(true);
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
