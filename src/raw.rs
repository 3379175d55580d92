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

pub type RawFn = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// Reads up to `N` arguments; missing ones are `undefined`.
pub unsafe fn args<const N: usize>(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> [sys::napi_value; N] {
  let mut argc = N;
  let mut argv = [ptr::null_mut(); N];
  unsafe {
    sys::napi_get_cb_info(
      env,
      info,
      &mut argc,
      argv.as_mut_ptr(),
      ptr::null_mut(),
      ptr::null_mut(),
    );
  }
  if argc < N {
    let undefined = unsafe { undefined(env) };
    for slot in argv.iter_mut().skip(argc) {
      *slot = undefined;
    }
  }
  argv
}

pub unsafe fn undefined(env: sys::napi_env) -> sys::napi_value {
  let mut v = ptr::null_mut();
  unsafe { sys::napi_get_undefined(env, &mut v) };
  v
}

pub unsafe fn boolean(env: sys::napi_env, b: bool) -> sys::napi_value {
  let mut v = ptr::null_mut();
  unsafe { sys::napi_get_boolean(env, b, &mut v) };
  v
}

pub unsafe fn number(env: sys::napi_env, n: f64) -> sys::napi_value {
  let mut v = ptr::null_mut();
  unsafe { sys::napi_create_double(env, n, &mut v) };
  v
}

pub unsafe fn get_u32(env: sys::napi_env, v: sys::napi_value) -> u32 {
  let mut n = 0u32;
  unsafe { sys::napi_get_value_uint32(env, v, &mut n) };
  n
}

pub unsafe fn get_f64(env: sys::napi_env, v: sys::napi_value) -> f64 {
  let mut n = 0f64;
  unsafe { sys::napi_get_value_double(env, v, &mut n) };
  n
}

pub unsafe fn type_of(env: sys::napi_env, v: sys::napi_value) -> i32 {
  let mut t = 0;
  unsafe { sys::napi_typeof(env, v, &mut t) };
  t
}

/// Throws a `TypeError` with `code`; returns `undefined` for the callback.
pub unsafe fn throw_type_error(env: sys::napi_env, code: &CStr, message: &CStr) -> sys::napi_value {
  unsafe {
    sys::napi_throw_type_error(env, code.as_ptr(), message.as_ptr());
    undefined(env)
  }
}

/// Throws a plain `Error` (for states JS should never reach).
pub unsafe fn throw_error(env: sys::napi_env, message: &str) -> sys::napi_value {
  let text = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
  unsafe {
    sys::napi_throw_error(env, c"ERR_LEAKLESS_INTERNAL".as_ptr(), text.as_ptr());
    undefined(env)
  }
}

/// Defines `name` on `exports` as a function backed by `cb`.
pub unsafe fn define(env: sys::napi_env, exports: sys::napi_value, name: &CStr, cb: RawFn) {
  let mut f = ptr::null_mut();
  unsafe {
    sys::napi_create_function(
      env,
      name.as_ptr(),
      name.to_bytes().len() as isize,
      Some(cb),
      ptr::null_mut(),
      &mut f,
    );
    sys::napi_set_named_property(env, exports, name.as_ptr(), f);
  }
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
unsafe fn read_utf8(env: sys::napi_env, v: sys::napi_value, buf: &mut Vec<u8>) -> bool {
  if buf.capacity() < 256 {
    buf.reserve(256);
  }
  let cap = buf.capacity();
  let mut len = 0usize;
  let status = unsafe {
    sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr() as *mut c_char, cap, &mut len)
  };
  if status != sys::Status::napi_ok {
    return false;
  }
  if len + 4 >= cap {
    // Perhaps truncated: ask for the exact length and read again.
    let mut exact = 0usize;
    unsafe { sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut exact) };
    buf.clear();
    buf.reserve(exact + 1);
    unsafe {
      sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr() as *mut c_char, exact + 1, &mut len);
    }
  }
  // SAFETY: napi wrote `len` bytes (plus a terminating NUL) into the buffer.
  unsafe { buf.set_len(len) };
  true
}

unsafe fn read_utf16(env: sys::napi_env, v: sys::napi_value, buf: &mut Vec<u16>) {
  let mut exact = 0usize;
  unsafe { sys::napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut exact) };
  buf.clear();
  buf.reserve(exact + 1);
  let mut len = 0usize;
  unsafe {
    sys::napi_get_value_string_utf16(env, v, buf.as_mut_ptr(), exact + 1, &mut len);
    buf.set_len(len);
  }
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
  unsafe fn string(&mut self, env: sys::napi_env, v: sys::napi_value) -> Option<bool> {
    if !unsafe { read_utf8(env, v, &mut self.bytes) } {
      return None;
    }
    if has_replacement_char(&self.bytes) {
      unsafe { read_utf16(env, v, &mut self.units) };
      Some(false)
    } else {
      Some(true)
    }
  }

  /// Reads a key: a number or a string. `None` for any other type.
  pub unsafe fn key(&mut self, env: sys::napi_env, v: sys::napi_value) -> Option<KeyRef<'_>> {
    self.trim();
    match unsafe { type_of(env, v) } {
      sys::ValueType::napi_number => Some(KeyRef::Num(number_key(unsafe { get_f64(env, v) }))),
      sys::ValueType::napi_string => match unsafe { self.string(env, v) }? {
        true => Some(KeyRef::Utf8(&self.bytes)),
        false => Some(KeyRef::Utf16(&self.units)),
      },
      _ => None,
    }
  }

  /// Reads a value: a string, or the bytes of a Uint8Array (Buffer
  /// included), borrowed for the duration of the call. `None` for any other
  /// type.
  pub unsafe fn value<'a>(
    &'a mut self,
    env: sys::napi_env,
    v: sys::napi_value,
  ) -> Option<ValueRef<'a>> {
    self.trim();
    match unsafe { type_of(env, v) } {
      sys::ValueType::napi_string => match unsafe { self.string(env, v) }? {
        true => Some(ValueRef::Utf8(&self.bytes)),
        false => Some(ValueRef::Utf16(&self.units)),
      },
      sys::ValueType::napi_object => {
        let mut is_typed = false;
        unsafe { sys::napi_is_typedarray(env, v, &mut is_typed) };
        if !is_typed {
          return None;
        }
        let mut kind = 0;
        let mut length = 0usize;
        let mut data = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        let mut offset = 0usize;
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
        if status != sys::Status::napi_ok || kind != sys::TypedarrayType::uint8_array {
          return None;
        }
        if length == 0 || data.is_null() {
          return Some(ValueRef::Bytes(&[]));
        }
        // SAFETY: napi reports `length` bytes at `data`, alive while the
        // callback runs, which is as long as the caller keeps this value.
        Some(ValueRef::Bytes(unsafe {
          std::slice::from_raw_parts(data as *const u8, length)
        }))
      }
      _ => None,
    }
  }
}

/// A fresh JS value for a stored key.
pub unsafe fn key_to_js(env: sys::napi_env, key: KeyRef<'_>) -> sys::napi_value {
  let mut out = ptr::null_mut();
  unsafe {
    match key {
      KeyRef::Num(bits) => sys::napi_create_double(env, f64::from_bits(bits), &mut out),
      KeyRef::Utf8(b) => {
        sys::napi_create_string_utf8(env, b.as_ptr() as *const c_char, b.len() as isize, &mut out)
      }
      KeyRef::Utf16(u) => {
        sys::napi_create_string_utf16(env, u.as_ptr(), u.len() as isize, &mut out)
      }
    };
  }
  out
}

/// A fresh JS value for a stored value: a string, or a Buffer holding a copy.
pub unsafe fn value_to_js(env: sys::napi_env, value: ValueRef<'_>) -> sys::napi_value {
  let mut out = ptr::null_mut();
  unsafe {
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
    };
  }
  out
}
