//! Plain N-API for the calls made once per cache operation.
//!
//! A napi-rs `#[napi]` function costs about 110 ns per call on this kind of
//! machine before it does any work; a bare `napi_callback` costs about 28 ns.
//! The off-heap cache crosses the boundary on every `get` and `set`, so its
//! hot entry points are written against `napi_sys` directly, with the
//! conversions below. Everything else goes through napi-rs.

use std::ffi::{c_char, CStr};
use std::ptr;

use leakless_core::offheap::{number_key, KeyRef, ValueRef};
use napi::sys;

use crate::errors::{check, describe, Failure, Result};

pub type RawFn = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// Ends a callback: its value, or `undefined` after throwing the failure.
///
/// # Safety
///
/// `env` is the environment of the running callback.
pub unsafe fn finish(env: sys::napi_env, outcome: Result<sys::napi_value>) -> sys::napi_value {
  match outcome {
    Ok(value) => value,
    // SAFETY: the caller's contract.
    Err(failure) => unsafe { failure.throw(env) },
  }
}

/// The body of a callback: reads its `N` arguments, runs `f` on them and
/// ends the callback with [`finish`].
///
/// # Safety
///
/// `env` and `info` are those of the running callback; `f` uses its
/// arguments only within it.
#[inline(always)]
pub unsafe fn callback<const N: usize>(
  env: sys::napi_env,
  info: sys::napi_callback_info,
  f: impl FnOnce([sys::napi_value; N]) -> Result<sys::napi_value>,
) -> sys::napi_value {
  // SAFETY: the caller's contract.
  let outcome = unsafe { args::<N>(env, info) }.and_then(f);
  // SAFETY: the caller's contract.
  unsafe { finish(env, outcome) }
}

/// Defines plain N-API callbacks, each written `fn name(env, [a, b, ...])
/// { body }`: [`callback`] reads the arguments and ends the callback with
/// what the body returns.
macro_rules! callbacks {
  ($($(#[$attr:meta])* fn $name:ident($env:ident, $args:pat) $body:block)+) => {$(
    $(#[$attr])*
    unsafe extern "C" fn $name(
      $env: ::napi::sys::napi_env,
      info: ::napi::sys::napi_callback_info,
    ) -> ::napi::sys::napi_value {
      // SAFETY: `env` and `info` are this callback's, and so is every value
      // read from them; a value's bytes are used only inside it.
      unsafe { $crate::raw::callback($env, info, |$args| $body) }
    }
  )+};
}
pub(crate) use callbacks;

/// Reads up to `N` arguments; missing ones are `undefined`.
///
/// # Safety
///
/// `env` and `info` are those of the running callback.
pub unsafe fn args<const N: usize>(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> Result<[sys::napi_value; N]> {
  let mut argc = N;
  let mut argv = [ptr::null_mut(); N];
  // SAFETY: `argv` has room for `argc` values; `this` and `data` are not asked for.
  let status = unsafe {
    sys::napi_get_cb_info(
      env,
      info,
      &mut argc,
      argv.as_mut_ptr(),
      ptr::null_mut(),
      ptr::null_mut(),
    )
  };
  check(status, "napi_get_cb_info")?;
  if argc < N {
    // SAFETY: the caller's contract.
    let undefined = unsafe { undefined(env) }?;
    for slot in argv.iter_mut().skip(argc) {
      *slot = undefined;
    }
  }
  Ok(argv)
}

/// `undefined`.
///
/// # Safety
///
/// `env` is the environment of the running callback.
pub unsafe fn undefined(env: sys::napi_env) -> Result<sys::napi_value> {
  let mut v = ptr::null_mut();
  // SAFETY: `env` is live (the caller's contract); `v` is a valid out pointer.
  let status = unsafe { sys::napi_get_undefined(env, &mut v) };
  check(status, "napi_get_undefined")?;
  Ok(v)
}

/// A JS boolean.
///
/// # Safety
///
/// `env` is the environment of the running callback.
pub unsafe fn boolean(env: sys::napi_env, b: bool) -> Result<sys::napi_value> {
  let mut v = ptr::null_mut();
  // SAFETY: `env` is live (the caller's contract); `v` is a valid out pointer.
  let status = unsafe { sys::napi_get_boolean(env, b, &mut v) };
  check(status, "napi_get_boolean")?;
  Ok(v)
}

/// A JS number.
///
/// # Safety
///
/// `env` is the environment of the running callback.
pub unsafe fn number(env: sys::napi_env, n: f64) -> Result<sys::napi_value> {
  let mut v = ptr::null_mut();
  // SAFETY: `env` is live (the caller's contract); `v` is a valid out pointer.
  let status = unsafe { sys::napi_create_double(env, n, &mut v) };
  check(status, "napi_create_double")?;
  Ok(v)
}

/// The number argument `name`, as Node-API reads a `uint32`.
///
/// # Safety
///
/// `env` and `v` belong to the running callback.
pub unsafe fn get_u32(env: sys::napi_env, v: sys::napi_value, name: &str) -> Result<u32> {
  let mut n = 0u32;
  // SAFETY: `env` and `v` are live (the caller's contract); `n` is a valid out pointer.
  match unsafe { sys::napi_get_value_uint32(env, v, &mut n) } {
    sys::Status::napi_ok => Ok(n),
    // SAFETY: as above.
    sys::Status::napi_number_expected => Err(unsafe { not_a(env, v, name, "of type number") }),
    status => Err(Failure::napi("napi_get_value_uint32", status)),
  }
}

/// The number argument `name`.
///
/// # Safety
///
/// `env` and `v` belong to the running callback.
pub unsafe fn get_f64(env: sys::napi_env, v: sys::napi_value, name: &str) -> Result<f64> {
  let mut n = 0f64;
  // SAFETY: `env` and `v` are live (the caller's contract); `n` is a valid out pointer.
  match unsafe { sys::napi_get_value_double(env, v, &mut n) } {
    sys::Status::napi_ok => Ok(n),
    // SAFETY: as above.
    sys::Status::napi_number_expected => Err(unsafe { not_a(env, v, name, "of type number") }),
    status => Err(Failure::napi("napi_get_value_double", status)),
  }
}

/// The boolean argument `name`.
///
/// # Safety
///
/// `env` and `v` belong to the running callback.
pub unsafe fn get_bool(env: sys::napi_env, v: sys::napi_value, name: &str) -> Result<bool> {
  let mut b = false;
  // SAFETY: `env` and `v` are live (the caller's contract); `b` is a valid out pointer.
  match unsafe { sys::napi_get_value_bool(env, v, &mut b) } {
    sys::Status::napi_ok => Ok(b),
    // SAFETY: as above.
    sys::Status::napi_boolean_expected => Err(unsafe { not_a(env, v, name, "of type boolean") }),
    status => Err(Failure::napi("napi_get_value_bool", status)),
  }
}

/// `ERR_INVALID_ARG_TYPE` for the argument `name` holding `v`.
///
/// # Safety
///
/// `env` and `v` belong to the running callback.
pub unsafe fn not_a(env: sys::napi_env, v: sys::napi_value, name: &str, expected: &str) -> Failure {
  // SAFETY: the caller's contract.
  Failure::arg_type(name, expected, &unsafe { describe(env, v) })
}

/// The `napi_valuetype` of `v`.
///
/// # Safety
///
/// `env` and `v` belong to the running callback.
pub unsafe fn type_of(env: sys::napi_env, v: sys::napi_value) -> Result<sys::napi_valuetype> {
  let mut t = 0;
  // SAFETY: `env` and `v` are live (the caller's contract); `t` is a valid out pointer.
  check(unsafe { sys::napi_typeof(env, v, &mut t) }, "napi_typeof")?;
  Ok(t)
}

/// Defines each `(name, cb)` of `entries` on `exports` with [`define`].
///
/// # Safety
///
/// `env` and `exports` are those of the module being initialized.
pub unsafe fn define_all(
  env: sys::napi_env,
  exports: sys::napi_value,
  entries: &[(&CStr, RawFn)],
) -> Result<()> {
  for &(name, cb) in entries {
    // SAFETY: the caller's contract.
    unsafe { define(env, exports, name, cb) }?;
  }
  Ok(())
}

/// Defines `name` on `exports` as a function backed by `cb`.
///
/// # Safety
///
/// `env` and `exports` are those of the module being initialized.
pub unsafe fn define(
  env: sys::napi_env,
  exports: sys::napi_value,
  name: &CStr,
  cb: RawFn,
) -> Result<()> {
  let mut f = ptr::null_mut();
  // SAFETY: `name` is NUL-terminated and its length given; `cb` needs no data.
  let status = unsafe {
    sys::napi_create_function(
      env,
      name.as_ptr(),
      name.to_bytes().len() as isize,
      Some(cb),
      ptr::null_mut(),
      &mut f,
    )
  };
  check(status, "napi_create_function")?;
  // SAFETY: `exports` is an object of this environment and `f` was just made.
  let status = unsafe { sys::napi_set_named_property(env, exports, name.as_ptr(), f) };
  check(status, "napi_set_named_property")
}

/// Per-thread buffers that keys are read into, so a lookup allocates nothing.
#[derive(Default)]
pub struct Scratch {
  bytes: Vec<u8>,
  units: Vec<u16>,
}

const SCRATCH_KEEP: usize = 64 * 1024;

/// Whether UTF-8 from V8 may have replaced a lone surrogate with U+FFFD
/// (in which case it is not an exact form of the string).
fn has_replacement_char(bytes: &[u8]) -> bool {
  bytes.iter().any(|&b| b >= 0x80) && bytes.windows(3).any(|w| w == [0xef, 0xbf, 0xbd])
}

/// Reads a JS string as UTF-8 into `buf` (replacing its contents).
///
/// # Safety
///
/// `env` and `v` belong to the running callback; `v` is a string.
unsafe fn read_utf8(env: sys::napi_env, v: sys::napi_value, buf: &mut Vec<u8>) -> Result<()> {
  if buf.capacity() < 256 {
    buf.reserve(256);
  }
  let cap = buf.capacity();
  let mut len = 0usize;
  // SAFETY: `buf` has room for `cap` bytes, which napi writes at most
  // (the terminating NUL included).
  let status = unsafe {
    sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr() as *mut c_char, cap, &mut len)
  };
  check(status, "napi_get_value_string_utf8")?;
  if len + 4 >= cap {
    // Perhaps truncated: ask for the exact length and read again.
    let mut exact = 0usize;
    // SAFETY: a NULL buffer asks for the length only.
    let status = unsafe { sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut exact) };
    check(status, "napi_get_value_string_utf8")?;
    buf.clear();
    buf.reserve(exact + 1);
    // SAFETY: `buf` now has room for `exact + 1` bytes.
    let status = unsafe {
      sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr() as *mut c_char, exact + 1, &mut len)
    };
    check(status, "napi_get_value_string_utf8")?;
  }
  // SAFETY: napi wrote `len` initialized bytes (plus a terminating NUL), and
  // `len` is below the capacity it was given.
  unsafe { buf.set_len(len) };
  Ok(())
}

/// Reads a JS string as UTF-16 into `buf` (replacing its contents).
///
/// # Safety
///
/// `env` and `v` belong to the running callback; `v` is a string.
unsafe fn read_utf16(env: sys::napi_env, v: sys::napi_value, buf: &mut Vec<u16>) -> Result<()> {
  let mut exact = 0usize;
  // SAFETY: a NULL buffer asks for the length only.
  let status = unsafe { sys::napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut exact) };
  check(status, "napi_get_value_string_utf16")?;
  buf.clear();
  buf.reserve(exact + 1);
  let mut len = 0usize;
  // SAFETY: `buf` has room for `exact + 1` units, which napi writes at most.
  let status =
    unsafe { sys::napi_get_value_string_utf16(env, v, buf.as_mut_ptr(), exact + 1, &mut len) };
  check(status, "napi_get_value_string_utf16")?;
  // SAFETY: napi wrote `len` initialized units, below the capacity given.
  unsafe { buf.set_len(len) };
  Ok(())
}

impl Scratch {
  fn trim(&mut self) {
    if self.bytes.capacity() > SCRATCH_KEEP {
      self.bytes = Vec::new();
    }
    if self.units.capacity() > SCRATCH_KEEP {
      self.units = Vec::new();
    }
  }

  /// Reads a string: UTF-8 when exact, else UTF-16. The bool says which.
  ///
  /// # Safety
  ///
  /// `env` and `v` belong to the running callback; `v` is a string.
  unsafe fn string(&mut self, env: sys::napi_env, v: sys::napi_value) -> Result<bool> {
    // SAFETY: the caller's contract.
    unsafe { read_utf8(env, v, &mut self.bytes) }?;
    if has_replacement_char(&self.bytes) {
      // SAFETY: the caller's contract.
      unsafe { read_utf16(env, v, &mut self.units) }?;
      Ok(false)
    } else {
      Ok(true)
    }
  }

  /// Reads the `key` argument: a number or a string.
  ///
  /// # Safety
  ///
  /// `env` and `v` belong to the running callback.
  pub unsafe fn key(&mut self, env: sys::napi_env, v: sys::napi_value) -> Result<KeyRef<'_>> {
    self.trim();
    // SAFETY: the caller's contract, for every call below.
    unsafe {
      match type_of(env, v)? {
        sys::ValueType::napi_number => Ok(KeyRef::Num(number_key(get_f64(env, v, "key")?))),
        sys::ValueType::napi_string => match self.string(env, v)? {
          true => Ok(KeyRef::Utf8(&self.bytes)),
          false => Ok(KeyRef::Utf16(&self.units)),
        },
        _ => Err(not_a(env, v, "key", "of type string or number")),
      }
    }
  }

  /// Reads the `value` argument: a string, or the bytes of a Uint8Array
  /// (Buffer included), borrowed for the duration of the call.
  ///
  /// # Safety
  ///
  /// `env` and `v` belong to the running callback, and the returned bytes
  /// are not used once it returns.
  pub unsafe fn value<'a>(
    &'a mut self,
    env: sys::napi_env,
    v: sys::napi_value,
  ) -> Result<ValueRef<'a>> {
    self.trim();
    const EXPECTED: &str = "of type string or an instance of Buffer or Uint8Array";
    // SAFETY: the caller's contract.
    let ty = unsafe { type_of(env, v) }?;
    match ty {
      // SAFETY: the caller's contract; `v` is a string.
      sys::ValueType::napi_string => match unsafe { self.string(env, v) }? {
        true => Ok(ValueRef::Utf8(&self.bytes)),
        false => Ok(ValueRef::Utf16(&self.units)),
      },
      sys::ValueType::napi_object => {
        let mut is_typed = false;
        // SAFETY: `v` is an object of this callback; `is_typed` a valid out pointer.
        let status = unsafe { sys::napi_is_typedarray(env, v, &mut is_typed) };
        check(status, "napi_is_typedarray")?;
        if !is_typed {
          // SAFETY: the caller's contract.
          return Err(unsafe { not_a(env, v, "value", EXPECTED) });
        }
        let mut kind = 0;
        let mut length = 0usize;
        let mut data = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        let mut offset = 0usize;
        // SAFETY: `v` is a typed array; every out pointer is valid.
        let status = unsafe {
          sys::napi_get_typedarray_info(
            env,
            v,
            &mut kind,
            &mut length,
            &mut data,
            &mut buffer,
            &mut offset,
          )
        };
        check(status, "napi_get_typedarray_info")?;
        if kind != sys::TypedarrayType::uint8_array {
          // SAFETY: the caller's contract.
          return Err(unsafe { not_a(env, v, "value", EXPECTED) });
        }
        if length == 0 || data.is_null() {
          return Ok(ValueRef::Bytes(&[]));
        }
        // SAFETY: napi reports `length` bytes at `data`, alive while the
        // callback runs, which is as long as the caller keeps this value.
        Ok(ValueRef::Bytes(unsafe {
          std::slice::from_raw_parts(data as *const u8, length)
        }))
      }
      // SAFETY: the caller's contract.
      _ => Err(unsafe { not_a(env, v, "value", EXPECTED) }),
    }
  }
}

/// A fresh JS value for a stored key.
///
/// # Safety
///
/// `env` is the environment of the running callback.
pub unsafe fn key_to_js(env: sys::napi_env, key: KeyRef<'_>) -> Result<sys::napi_value> {
  let mut out = ptr::null_mut();
  // SAFETY: each pointer and length describe the key's own bytes or units,
  // which napi copies into the new value.
  let status = unsafe {
    match key {
      KeyRef::Num(bits) => sys::napi_create_double(env, f64::from_bits(bits), &mut out),
      KeyRef::Utf8(b) => {
        sys::napi_create_string_utf8(env, b.as_ptr() as *const c_char, b.len() as isize, &mut out)
      }
      KeyRef::Utf16(u) => {
        sys::napi_create_string_utf16(env, u.as_ptr(), u.len() as isize, &mut out)
      }
    }
  };
  check(status, "creating a key")?;
  Ok(out)
}

/// A fresh JS value for a stored value: a string, or a Buffer holding a copy.
///
/// # Safety
///
/// `env` is the environment of the running callback.
pub unsafe fn value_to_js(env: sys::napi_env, value: ValueRef<'_>) -> Result<sys::napi_value> {
  let mut out = ptr::null_mut();
  // SAFETY: each pointer and length describe the value's own bytes or units,
  // which napi copies into the new value (or the new Buffer).
  let status = unsafe {
    match value {
      ValueRef::Utf8(b) => {
        sys::napi_create_string_utf8(env, b.as_ptr() as *const c_char, b.len() as isize, &mut out)
      }
      ValueRef::Ascii(b) => {
        sys::napi_create_string_latin1(env, b.as_ptr() as *const c_char, b.len() as isize, &mut out)
      }
      ValueRef::Utf16(u) => {
        sys::napi_create_string_utf16(env, u.as_ptr(), u.len() as isize, &mut out)
      }
      ValueRef::Bytes(b) => {
        let mut data = ptr::null_mut();
        if b.is_empty() {
          sys::napi_create_buffer(env, 0, &mut data, &mut out)
        } else {
          sys::napi_create_buffer_copy(env, b.len(), b.as_ptr() as *const _, &mut data, &mut out)
        }
      }
    }
  };
  check(status, "creating a value")?;
  Ok(out)
}
