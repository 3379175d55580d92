//! Native structures owned by JS objects: the one ownership system of the
//! binding.
//!
//! Each structure lives in a per-thread table of its [`Kind`] and is named by
//! an id. The JS side keeps a plain number for calls (cheap to pass) and an
//! `External` (its owner) whose finalizer frees the entry when collected, so
//! nothing outlives its owner and nothing is freed early.
//!
//! A structure may also lend memory to JS values that outlive their owner
//! (a pool's Buffers): then [`Kind::owner_collected`] keeps it alive, and the
//! finalizers of those values report through [`loan_finalized`] until it says
//! it can go.
//!
//! Finalizers may run while a table is borrowed (from inside a N-API call
//! made by an entry point that holds it). They never wait and never touch a
//! borrowed table: their work is queued, and every entry point ([`with`],
//! [`adopt`], [`release_deferred`]) runs the queue once it let go of the
//! table. Structures are always dropped outside any borrow, since a `Drop`
//! may report memory to V8.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::LocalKey;

use napi::bindgen_prelude::*;
use napi::sys;

use crate::errors::{self, Code, Failure};

/// A table of structures of one kind, named by ids that are not reused
/// before the id space of the kind ([`Kind::MAX_ID`]) wrapped around, so a
/// stale id practically never reaches another structure.
pub struct Table<T> {
  entries: HashMap<u32, T, BuildHasherDefault<IdHasher>>,
  next_id: u32,
}

impl<T> Default for Table<T> {
  fn default() -> Self {
    Table::new()
  }
}

impl<T> Table<T> {
  /// An empty table; `const`, so that a thread-local table needs no lazy
  /// initialization check on every access.
  pub const fn new() -> Self {
    Table {
      entries: HashMap::with_hasher(BuildHasherDefault::new()),
      next_id: 1,
    }
  }

  pub fn get(&self, id: u32) -> Option<&T> {
    self.entries.get(&id)
  }

  pub fn live(&self) -> usize {
    self.entries.len()
  }

  /// Every structure of the table, in no particular order.
  pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
    self.entries.values_mut()
  }

  fn remove(&mut self, id: u32) -> Option<T> {
    self.entries.remove(&id)
  }
}

impl<T: Kind> Table<T> {
  /// Structure `id`, or the failure that names a stale id.
  pub fn get_mut(&mut self, id: u32) -> errors::Result<&mut T> {
    self
      .entries
      .get_mut(&id)
      .ok_or_else(|| Failure::stale_handle(T::NAME, id))
  }

  /// Stores `value` under a fresh id in `1..=T::MAX_ID`; gives it back when
  /// every id is taken.
  fn insert(&mut self, value: T) -> std::result::Result<u32, T> {
    if self.entries.len() >= T::MAX_ID as usize {
      return Err(value);
    }
    let mut id = self.next_id;
    while id == 0 || id > T::MAX_ID || self.entries.contains_key(&id) {
      id = if id >= T::MAX_ID { 1 } else { id + 1 };
    }
    self.next_id = if id >= T::MAX_ID { 1 } else { id + 1 };
    self.entries.insert(id, value);
    Ok(id)
  }
}

/// Ids are sequential, so they hash to themselves.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
  fn finish(&self) -> u64 {
    self.0
  }

  fn write(&mut self, bytes: &[u8]) {
    for &b in bytes {
      self.0 = (self.0 << 8) | u64::from(b);
    }
  }

  fn write_u32(&mut self, n: u32) {
    self.0 = u64::from(n);
  }
}

/// Implements [`Kind`] for `$t`, called `$name` in messages, whose table
/// is the thread-local `$table`.
macro_rules! kind {
  ($t:ty, $name:literal, $table:ident) => {
    impl $crate::handles::Kind for $t {
      const NAME: &'static str = $name;

      fn table(
      ) -> &'static ::std::thread::LocalKey<::std::cell::RefCell<$crate::handles::Table<Self>>> {
        &$table
      }
    }
  };
}
pub(crate) use kind;

/// A kind of structure owned by JS objects.
pub trait Kind: 'static + Sized {
  /// What the structure is called in errors.
  const NAME: &'static str;

  /// Largest id of the kind (ids run from 1), for kinds whose ids must fit
  /// in fewer bits.
  const MAX_ID: u32 = u32::MAX;

  /// The thread's table of this kind.
  fn table() -> &'static LocalKey<RefCell<Table<Self>>>;

  /// The failure of [`adopt`] when every id of the kind is in use on this
  /// thread.
  fn too_many() -> Failure {
    Failure::new(
      Code::OutOfRange,
      format!(
        "Cannot create a native {}: {} are alive on this thread",
        Self::NAME,
        Self::MAX_ID
      ),
    )
  }

  /// Its JS owner was collected: returns whether it can be freed now. A
  /// structure whose memory JS values still view returns `false`, and is
  /// freed when [`Kind::loan_finalized`] says so.
  fn owner_collected(&mut self) -> bool {
    true
  }

  /// The finalizer of a JS value over its memory ran, with the `data` and
  /// `hint` given to [`loan_finalized`]: returns whether it can be freed now
  /// (only once its owner is gone and nothing it lent is alive).
  fn loan_finalized(&mut self, _data: usize, _hint: usize) -> bool {
    false
  }
}

/// Runs `f` on structure `id` of kind `T`, then does what finalizers asked
/// meanwhile. `f` must not create JS values: a finalizer that needs this
/// table would find it borrowed and wait for the end of the call.
pub fn with<T: Kind, R>(id: u32, f: impl FnOnce(&mut T) -> errors::Result<R>) -> errors::Result<R> {
  let result = T::table().with(|t| {
    let mut table = t.borrow_mut();
    f(table.get_mut(id)?)
  });
  release_deferred();
  result
}

/// Reads structure `id` of kind `T`, or `None` when it is not there (or its
/// table is busy, which only a finalizer can observe).
pub fn peek<T: Kind, R>(id: u32, f: impl FnOnce(&T) -> R) -> Option<R> {
  T::table().with(|t| t.try_borrow().ok()?.get(id).map(f))
}

/// The entry point `xNativeBytes(id)`: native bytes structure `id` of kind
/// `T` holds, as `held` reads them; 0 once it was freed. Releases deferred
/// frees after.
pub fn native_bytes<T: Kind>(
  env: &napi::Env,
  id: &napi::Unknown<'_>,
  held: impl FnOnce(&T) -> usize,
) -> napi::Result<f64> {
  let bytes = crate::args::id(id, "id").map(|id| peek(id, held).unwrap_or(0) as f64);
  release_deferred();
  crate::errors::js(env, bytes)
}

/// Number of structures of kind `T` alive on this thread (0 when its table
/// is busy, which only a finalizer can observe).
pub fn live<T: Kind>() -> usize {
  T::table().with(|t| t.try_borrow().map_or(0, |t| t.live()))
}

/// Finalizer work that found its table borrowed.
#[derive(Clone, Copy)]
struct Job {
  /// Tries the work; `false` when the table is still borrowed.
  run: fn(u32, usize, usize) -> bool,
  id: u32,
  data: usize,
  hint: usize,
}

thread_local! {
  static DEFERRED: RefCell<Vec<Job>> = const { RefCell::new(Vec::new()) };
}

/// Jobs waiting in the [`DEFERRED`] queues of all threads, read on every
/// entry point. A plain static costs one load, where a thread-local in a
/// shared library costs a call; a thread that sees another thread's jobs
/// only looks at its own empty queue. A thread always sees its own updates.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Runs finalizer work that had to wait for a table. Entry points that do
/// not go through [`with`] call it once they let go of their table.
#[inline]
pub fn release_deferred() {
  if PENDING.load(Ordering::Relaxed) != 0 {
    run_deferred();
  }
}

#[cold]
fn run_deferred() {
  let Ok(jobs) = DEFERRED.try_with(|d| match d.try_borrow_mut() {
    Ok(mut d) => std::mem::take(&mut *d),
    Err(_) => Vec::new(),
  }) else {
    return;
  };
  PENDING.fetch_sub(jobs.len(), Ordering::Relaxed);
  for job in jobs {
    if !(job.run)(job.id, job.data, job.hint) {
      defer(job);
    }
  }
}

fn defer(job: Job) {
  let _ = DEFERRED.try_with(|d| {
    if let Ok(mut d) = d.try_borrow_mut() {
      d.push(job);
      PENDING.fetch_add(1, Ordering::Relaxed);
    }
  });
}

/// Runs `event` on structure `id` of kind `T` if its table is free, and
/// frees the structure (outside the borrow) when `event` says so. Returns
/// `false` when the table is borrowed.
fn try_event<T: Kind>(id: u32, event: impl FnOnce(&mut T) -> bool) -> bool {
  let Ok(outcome) = T::table().try_with(|t| {
    let Ok(mut table) = t.try_borrow_mut() else {
      return None;
    };
    let free = table.get_mut(id).is_ok_and(event);
    Some(if free { table.remove(id) } else { None })
  }) else {
    // The thread is ending: its tables are gone already.
    return true;
  };
  match outcome {
    None => false,
    Some(removed) => {
      drop(removed);
      true
    }
  }
}

fn run_owner_collected<T: Kind>(id: u32, _data: usize, _hint: usize) -> bool {
  try_event::<T>(id, T::owner_collected)
}

fn run_loan_finalized<T: Kind>(id: u32, data: usize, hint: usize) -> bool {
  try_event::<T>(id, |value| value.loan_finalized(data, hint))
}

fn dispatch(job: Job) {
  // A panic must not cross the N-API boundary; a structure whose finalizer
  // panicked is left in its table.
  let done = std::panic::catch_unwind(|| (job.run)(job.id, job.data, job.hint)).unwrap_or(true);
  if !done {
    defer(job);
  }
}

/// Tells structure `id` of kind `T` that a JS value over its memory was
/// finalized, with the `data` and `hint` its finalizer received (see
/// [`Kind::loan_finalized`]). For N-API finalizers: it runs no JS, and waits
/// for the end of the current call when the table is borrowed.
pub fn loan_finalized<T: Kind>(id: u32, data: usize, hint: usize) {
  dispatch(Job {
    run: run_loan_finalized::<T>,
    id,
    data,
    hint,
  });
}

/// Finalizer of the `External` that owns structure `data` (its id).
unsafe extern "C" fn finalize_owner<T: Kind>(
  _env: sys::napi_env,
  data: *mut c_void,
  _hint: *mut c_void,
) {
  dispatch(Job {
    run: run_owner_collected::<T>,
    id: data as usize as u32,
    data: 0,
    hint: 0,
  });
}

/// Puts `value` in its table and returns its id together with the JS
/// `External` that owns it.
pub fn adopt<T: Kind>(env: &Env, value: T) -> errors::Result<(u32, Unknown<'_>)> {
  crate::accounting::set_env(env.raw());
  release_deferred();
  let id = match T::table().with(|t| t.borrow_mut().insert(value)) {
    Ok(id) => id,
    Err(refused) => {
      // Dropped outside the borrow, like every structure.
      drop(refused);
      return Err(T::too_many());
    }
  };
  let mut raw = std::ptr::null_mut();
  // SAFETY: `env` is the environment of the current call; the id is passed
  // as the External's data (a number, never dereferenced), and
  // `finalize_owner::<T>` matches `napi_finalize`. `raw` is a valid out slot.
  let status = unsafe {
    sys::napi_create_external(
      env.raw(),
      id as usize as *mut c_void,
      Some(finalize_owner::<T>),
      std::ptr::null_mut(),
      &mut raw,
    )
  };
  if status != sys::Status::napi_ok {
    let removed = T::table().with(|t| t.borrow_mut().remove(id));
    drop(removed);
    return Err(Failure::napi("napi_create_external", status));
  }
  // SAFETY: `raw` was just created in `env` by `napi_create_external`,
  // which succeeded, and lives in the current handle scope.
  Ok((id, unsafe { Unknown::from_raw_unchecked(env.raw(), raw) }))
}

/// Frees every structure of kind `T` (when the environment ends), outside
/// the borrow. Returns how many were freed.
pub fn clear<T: Kind>() -> usize {
  let all = T::table()
    .try_with(|t| match t.try_borrow_mut() {
      Ok(mut table) => std::mem::take(&mut table.entries),
      Err(_) => HashMap::default(),
    })
    .unwrap_or_default();
  let n = all.len();
  drop(all);
  n
}

/// `[id, owner]` for the JS side: `id` names the structure in calls, `owner`
/// (an External) frees it when collected.
pub fn pair<'env>(env: &'env Env, id: u32, owner: Unknown<'env>) -> errors::Result<Array<'env>> {
  let mut pair = env.create_array(2)?;
  pair.set(0, id)?;
  pair.set(1, owner)?;
  Ok(pair)
}
