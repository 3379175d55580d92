//! Native structures owned by JS objects.
//!
//! Each structure lives in a per-thread table and is named by its index.
//! The JS side keeps a plain number for calls (cheap to pass) and an
//! `External` whose finalizer frees the entry when the JS owner is
//! collected, so nothing outlives its owner and nothing is freed early.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::hash::{BuildHasherDefault, Hasher};
use std::thread::LocalKey;

use napi::bindgen_prelude::*;
use napi::sys;

use crate::errors::{self, Failure};

/// A table of structures of one kind, named by ids that are never reused
/// (so a stale id can never reach another structure).
pub struct Table<T> {
  entries: HashMap<u32, T, BuildHasherDefault<IdHasher>>,
  next_id: u32,
}

impl<T> Default for Table<T> {
  fn default() -> Self {
    Table {
      entries: HashMap::default(),
      next_id: 1,
    }
  }
}

impl<T: Kind> Table<T> {
  pub fn insert(&mut self, value: T) -> u32 {
    let mut id = self.next_id;
    while id == 0 || self.entries.contains_key(&id) {
      id = id.wrapping_add(1);
    }
    self.next_id = id.wrapping_add(1);
    self.entries.insert(id, value);
    id
  }

  pub fn get_mut(&mut self, id: u32) -> errors::Result<&mut T> {
    self
      .entries
      .get_mut(&id)
      .ok_or_else(|| Failure::stale_handle(T::NAME, id))
  }

  pub fn get(&self, id: u32) -> Option<&T> {
    self.entries.get(&id)
  }

  fn remove(&mut self, id: u32) -> Option<T> {
    self.entries.remove(&id)
  }

  pub fn live(&self) -> usize {
    self.entries.len()
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

/// Something a [`Table`] can be reached through from a finalizer.
pub trait Kind: 'static + Sized {
  /// What the structure is called in errors.
  const NAME: &'static str;

  fn table() -> &'static LocalKey<RefCell<Table<Self>>>;
}

/// Runs `f` on structure `id` of kind `T`, then frees what finalizers asked
/// to free meanwhile.
pub fn with<T: Kind, R>(id: u32, f: impl FnOnce(&mut T) -> errors::Result<R>) -> errors::Result<R> {
  let result = T::table().with(|t| {
    let mut table = t.borrow_mut();
    f(table.get_mut(id)?)
  });
  release_deferred::<T>();
  result
}

thread_local! {
  /// Finalizations that found their table borrowed, as (kind, id).
  static DEFERRED: RefCell<Vec<(TypeId, u32)>> = const { RefCell::new(Vec::new()) };
}

fn release_deferred<T: Kind>() {
  let ids: Vec<u32> = DEFERRED.with(|d| {
    let mut all = d.borrow_mut();
    if all.is_empty() {
      return Vec::new();
    }
    let mut ours = Vec::new();
    all.retain(|&(kind, id)| {
      if kind == TypeId::of::<T>() {
        ours.push(id);
        false
      } else {
        true
      }
    });
    ours
  });
  for id in ids {
    // Dropped outside the borrow: a Drop may report memory.
    let removed = T::table().with(|t| t.borrow_mut().remove(id));
    drop(removed);
  }
}

unsafe extern "C" fn finalize<T: Kind>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  let id = data as usize as u32;
  let removed = T::table().with(|t| match t.try_borrow_mut() {
    Ok(mut table) => Some(table.remove(id)),
    Err(_) => None,
  });
  match removed {
    Some(value) => drop(value),
    // Finalizers can run from inside a napi call made while the table is
    // borrowed; the end of that call frees it.
    None => DEFERRED.with(|d| d.borrow_mut().push((TypeId::of::<T>(), id))),
  }
}

/// Puts `value` in its table and returns its id together with the JS
/// `External` that owns it.
pub fn adopt<T: Kind>(env: &Env, value: T) -> Result<(u32, Unknown<'_>)> {
  crate::accounting::set_env(env.raw());
  release_deferred::<T>();
  let id = T::table().with(|t| t.borrow_mut().insert(value));
  let mut raw = std::ptr::null_mut();
  let status = unsafe {
    sys::napi_create_external(
      env.raw(),
      id as usize as *mut c_void,
      Some(finalize::<T>),
      std::ptr::null_mut(),
      &mut raw,
    )
  };
  if status != sys::Status::napi_ok {
    T::table().with(|t| t.borrow_mut().remove(id));
    return Err(Error::new(
      Status::GenericFailure,
      "could not create the native handle",
    ));
  }
  Ok((id, unsafe { Unknown::from_raw_unchecked(env.raw(), raw) }))
}

/// `[id, owner]` for the JS side: `id` names the structure in calls, `owner`
/// (an External) frees it when collected.
pub fn pair<'env>(env: &'env Env, id: u32, owner: Unknown<'env>) -> Result<Array<'env>> {
  let mut pair = env.create_array(2)?;
  pair.set(0, id)?;
  pair.set(1, owner)?;
  Ok(pair)
}
