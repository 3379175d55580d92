//! The floor of an off-heap operation: what one Node-API call costs that
//! takes a string key (and a string value) and answers a fresh string,
//! with no store behind it (`floorGet`, `floorSet`); and the plainest store
//! behind such a call that still holds the entries in native memory (a
//! hash map of key to value bytes, evicting in insertion order, with no
//! recency, expiry, accounting or checks: `floorMapGet`, `floorMapSet`).
//! `benchmark/offheap.bench.js` times these next to the off-heap `get` and
//! `set`, to show the part of their cost that no design of the store
//! removes. Not part of the public API.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::c_char;
use std::ptr;

use napi::sys;

use crate::errors::{self, check};
use crate::raw;

/// Longest string read; longer ones are truncated (the benchmark's are 24
/// and 100 bytes).
const READ: usize = 256;

/// The answer of `floorGet`: 100 ASCII bytes, as the benchmark's values.
static ANSWER: [u8; 100] = [b'v'; 100];

/// Reads string `v` in one call into `buf`, as UTF-16 (V8's cheapest exact
/// copy of a string); its length.
///
/// # Safety
///
/// `env` and `v` belong to the running callback.
unsafe fn read(
  env: sys::napi_env,
  v: sys::napi_value,
  buf: &mut [u16; READ],
) -> errors::Result<usize> {
  let mut len = 0usize;
  // SAFETY: `env` and `v` are live (the caller's contract); `buf` has room
  // for `READ` code units, which napi writes at most (its NUL included), and
  // `len` is a valid out pointer.
  let status =
    unsafe { sys::napi_get_value_string_utf16(env, v, buf.as_mut_ptr(), READ, &mut len) };
  check(status, "napi_get_value_string_utf16")?;
  Ok(len)
}

/// Reads ASCII string `v` in one call into `buf`, as Latin-1; its length.
///
/// # Safety
///
/// `env` and `v` belong to the running callback.
unsafe fn read_latin1(
  env: sys::napi_env,
  v: sys::napi_value,
  buf: &mut [u8; READ],
) -> errors::Result<usize> {
  let mut len = 0usize;
  // SAFETY: `env` and `v` are live (the caller's contract); `buf` has room
  // for `READ` bytes, which napi writes at most (its NUL included), and
  // `len` is a valid out pointer.
  let status = unsafe {
    sys::napi_get_value_string_latin1(env, v, buf.as_mut_ptr().cast::<c_char>(), READ, &mut len)
  };
  check(status, "napi_get_value_string_latin1")?;
  Ok(len)
}

/// The plainest native store: key (UTF-16) to value bytes, and the keys in
/// insertion order for eviction.
#[derive(Default)]
struct NativeMap {
  map: HashMap<Box<[u16]>, Box<[u8]>, foldhash::fast::FixedState>,
  order: VecDeque<Box<[u16]>>,
  max: usize,
}

thread_local! {
  static MAP: RefCell<NativeMap> = RefCell::new(NativeMap::default());
}

raw::callbacks! {
  /// `floorMapReset(max)`: empties the map and bounds it to `max` entries.
  fn floor_map_reset(env, [max]) {
    let mut n = 0f64;
    let status = sys::napi_get_value_double(env, max, &mut n);
    check(status, "napi_get_value_double")?;
    MAP.with_borrow_mut(|m| {
      *m = NativeMap::default();
      m.max = n.max(1.0) as usize;
    });
    raw::undefined(env)
  }

  /// `floorMapSize()`: how many entries the map holds.
  fn floor_map_size(env, []) {
    raw::number(env, MAP.with_borrow(|m| m.map.len()) as f64)
  }

  /// `floorMapGet(key)`: the value of `key` as a fresh string, or `undefined`.
  fn floor_map_get(env, [key]) {
    let mut buf = [0u16; READ];
    let len = read(env, key, &mut buf)?;
    let mut out = ptr::null_mut();
    let found = MAP.with_borrow(|m| {
      m.map.get(&buf[..len]).map(|value| {
        // napi copies the value's bytes into the new string.
        let status = {
          sys::napi_create_string_latin1(env, value.as_ptr() as *const c_char, value.len() as isize, &mut out)
        };
        check(status, "napi_create_string_latin1")
      })
    });
    match found {
      Some(created) => created.map(|()| out),
      None => raw::undefined(env),
    }
  }

  /// `floorMapSet(key, value)`: stores `value` under `key`, evicting the
  /// oldest key inserted when the map is full; answers `undefined`.
  fn floor_map_set(env, [key, value]) {
    let mut kbuf = [0u16; READ];
    let klen = read(env, key, &mut kbuf)?;
    let mut vbuf = [0u8; READ];
    let vlen = read_latin1(env, value, &mut vbuf)?;
    MAP.with_borrow_mut(|m| {
      let bytes: Box<[u8]> = vbuf[..vlen].into();
      if let Some(old) = m.map.get_mut(&kbuf[..klen]) {
        *old = bytes;
        return;
      }
      if m.map.len() >= m.max {
        if let Some(oldest) = m.order.pop_front() {
          m.map.remove(&oldest);
        }
      }
      let k: Box<[u16]> = kbuf[..klen].into();
      m.order.push_back(k.clone());
      m.map.insert(k, bytes);
    });
    raw::undefined(env)
  }

  /// `floorGet(key)`: reads the key, answers a fresh 100-byte string.
  fn floor_get(env, [key]) {
    let mut buf = [0u16; READ];
    let len = read(env, key, &mut buf)?;
    std::hint::black_box(&buf[..len]);
    let mut out = ptr::null_mut();
    // `ANSWER` is 100 bytes that napi copies into the new string.
    let status = {
      sys::napi_create_string_latin1(env, ANSWER.as_ptr() as *const c_char, ANSWER.len() as isize, &mut out)
    };
    check(status, "napi_create_string_latin1")?;
    Ok(out)
  }

  /// `floorSet(key, value)`: reads both strings, answers `undefined`.
  fn floor_set(env, [key, value]) {
    let mut buf = [0u16; READ];
    let len = read(env, key, &mut buf)?;
    std::hint::black_box(&buf[..len]);
    let len = read(env, value, &mut buf)?;
    std::hint::black_box(&buf[..len]);
    raw::undefined(env)
  }
}

/// Registers `floorGet`, `floorSet` and the `floorMap*` calls.
///
/// # Safety
///
/// `env` and `exports` are those of the module being initialized.
pub unsafe fn register(env: sys::napi_env, exports: sys::napi_value) -> errors::Result<()> {
  let entries: &[(&std::ffi::CStr, raw::RawFn)] = &[
    (c"floorGet", floor_get),
    (c"floorSet", floor_set),
    (c"floorMapReset", floor_map_reset),
    (c"floorMapGet", floor_map_get),
    (c"floorMapSet", floor_map_set),
    (c"floorMapSize", floor_map_size),
  ];
  // SAFETY: the caller's contract.
  unsafe { raw::define_all(env, exports, entries) }
}
