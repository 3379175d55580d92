//! The floor of an off-heap operation: what one Node-API call costs that
//! takes a string key (and a string value) and answers a fresh string,
//! with no store behind it. `benchmark/offheap.bench.js` times these next
//! to the off-heap `get` and `set`, to show the part of their cost that no
//! design of the store removes. Not part of the public API.

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
  // SAFETY: `buf` has room for `READ` bytes, which napi writes at most.
  let status =
    unsafe { sys::napi_get_value_string_utf16(env, v, buf.as_mut_ptr(), READ, &mut len) };
  check(status, "napi_get_value_string_utf16")?;
  Ok(len)
}

raw::callbacks! {
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

/// Registers `floorGet` and `floorSet`.
///
/// # Safety
///
/// `env` and `exports` are those of the module being initialized.
pub unsafe fn register(env: sys::napi_env, exports: sys::napi_value) -> errors::Result<()> {
  let entries: &[(&std::ffi::CStr, raw::RawFn)] =
    &[(c"floorGet", floor_get), (c"floorSet", floor_set)];
  // SAFETY: the caller's contract.
  unsafe { raw::define_all(env, exports, entries) }
}
