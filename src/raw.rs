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
  // SAFETY: the caller's contract.
  unsafe { counted_args(env, info) }.map(|(argv, _)| argv)
}

/// [`args`], with the number of arguments the caller passed (which may be
/// above `N`): a trailing optional argument left out then costs nothing.
///
/// # Safety
///
/// `env` and `info` are those of the running callback.
pub unsafe fn counted_args<const N: usize>(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> Result<([sys::napi_value; N], usize)> {
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
  Ok((argv, argc))
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

/// The number argument `name`, or `None` for `undefined` or `null`: one
/// call into V8 for a number or `undefined`.
///
/// # Safety
///
/// `env` and `v` belong to the running callback.
pub unsafe fn optional_f64(
  env: sys::napi_env,
  v: sys::napi_value,
  name: &str,
) -> Result<Option<f64>> {
  let mut n = 0f64;
  // SAFETY: `env` and `v` are live (the caller's contract); `n` is a valid out pointer.
  match unsafe { sys::napi_get_value_double(env, v, &mut n) } {
    sys::Status::napi_ok => Ok(Some(n)),
    // SAFETY: as above.
    sys::Status::napi_number_expected => match unsafe { type_of(env, v) }? {
      sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(None),
      // SAFETY: as above.
      _ => Err(unsafe { not_a(env, v, name, "of type number") }),
    },
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
pub struct Scratch {
  bytes: Vec<u8>,
  units: Vec<u16>,
}

const SCRATCH_KEEP: usize = 64 * 1024;

impl Scratch {
  /// Empty buffers; `const`, for thread-locals without lazy initialization.
  pub const fn new() -> Self {
    Scratch {
      bytes: Vec::new(),
      units: Vec::new(),
    }
  }
}

/// Reads a JS string as UTF-16 into `buf` (replacing its contents), in one
/// call when it fits the buffer's capacity. `Ok(false)` if `v` is not a
/// string (nothing read).
///
/// UTF-16 rather than UTF-8: V8 copies a string's UTF-16 units (widening
/// one-byte strings) in a plain loop, while its UTF-8 encoder costs several
/// times more per character; the narrowing below is cheaper than the
/// difference.
///
/// # Safety
///
/// `env` and `v` belong to the running callback.
unsafe fn read_units(env: sys::napi_env, v: sys::napi_value, buf: &mut Vec<u16>) -> Result<bool> {
  if buf.capacity() < 256 {
    buf.reserve(256);
  }
  let cap = buf.capacity();
  let mut len = 0usize;
  // SAFETY: `buf` has room for `cap` units, which napi writes at most (the
  // terminating NUL included).
  let status = unsafe { sys::napi_get_value_string_utf16(env, v, buf.as_mut_ptr(), cap, &mut len) };
  if status == sys::Status::napi_string_expected {
    return Ok(false);
  }
  check(status, "napi_get_value_string_utf16")?;
  if len + 1 >= cap {
    // Perhaps truncated: ask for the exact length and read again.
    let mut exact = 0usize;
    // SAFETY: a NULL buffer asks for the length only.
    let status =
      unsafe { sys::napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut exact) };
    check(status, "napi_get_value_string_utf16")?;
    buf.clear();
    buf.reserve(exact + 1);
    // SAFETY: `buf` now has room for `exact + 1` units.
    let status =
      unsafe { sys::napi_get_value_string_utf16(env, v, buf.as_mut_ptr(), exact + 1, &mut len) };
    check(status, "napi_get_value_string_utf16")?;
  }
  // SAFETY: napi wrote `len` initialized units (plus a terminating NUL),
  // and `len` is below the capacity it was given.
  unsafe { buf.set_len(len) };
  Ok(true)
}

/// The form a string was read in by [`Scratch::string`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Text {
  /// ASCII only, in `bytes` (UTF-8 and Latin-1 alike).
  Ascii,
  /// Exact UTF-8, in `bytes`.
  Utf8,
  /// UTF-16 code units, in `units`.
  Utf16,
}

/// Writes `units` as UTF-8 into `out` (replacing its contents), and says
/// whether they were all ASCII; `Utf16`, with `out` unspecified, when they
/// hold a lone surrogate or U+FFFD (the string is then kept as UTF-16: the
/// form a string takes depends on the string alone, as it did when V8's
/// UTF-8, which replaces lone surrogates with U+FFFD, was read and checked
/// for U+FFFD).
fn utf8_of(units: &[u16], out: &mut Vec<u8>) -> Text {
  out.clear();
  out.reserve(units.len());
  // ASCII, the common case: one narrowing pass the compiler vectorizes.
  let mut any = 0u16;
  for (slot, &u) in out.spare_capacity_mut().iter_mut().zip(units) {
    slot.write(u as u8);
    any |= u;
  }
  if any < 0x80 {
    // SAFETY: the loop above wrote one byte for each of the `units.len()`
    // units, within the capacity reserved.
    unsafe { out.set_len(units.len()) };
    return Text::Ascii;
  }
  let mut tmp = [0u8; 4];
  for c in char::decode_utf16(units.iter().copied()) {
    match c {
      Ok(c) if c != char::REPLACEMENT_CHARACTER => {
        out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes())
      }
      _ => return Text::Utf16,
    }
  }
  Text::Utf8
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

  /// Reads `v` if it is a string, into `bytes` when its UTF-8 is exact
  /// (telling whether it is ASCII), else into `units`; `None` when `v` is
  /// not a string. One call into V8 whatever `v` is.
  ///
  /// # Safety
  ///
  /// `env` and `v` belong to the running callback.
  unsafe fn string(&mut self, env: sys::napi_env, v: sys::napi_value) -> Result<Option<Text>> {
    // SAFETY: the caller's contract.
    if !unsafe { read_units(env, v, &mut self.units) }? {
      return Ok(None);
    }
    Ok(Some(utf8_of(&self.units, &mut self.bytes)))
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
      match self.string(env, v)? {
        Some(Text::Ascii | Text::Utf8) => Ok(KeyRef::Utf8(&self.bytes)),
        Some(Text::Utf16) => Ok(KeyRef::Utf16(&self.units)),
        None => {
          let mut n = 0f64;
          match sys::napi_get_value_double(env, v, &mut n) {
            sys::Status::napi_ok => Ok(KeyRef::Num(number_key(n))),
            sys::Status::napi_number_expected => {
              Err(not_a(env, v, "key", "of type string or number"))
            }
            status => Err(Failure::napi("napi_get_value_double", status)),
          }
        }
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
    match unsafe { self.string(env, v) }? {
      // Known ASCII: the stores need not scan it again.
      Some(Text::Ascii) => return Ok(ValueRef::Ascii(&self.bytes)),
      Some(Text::Utf8) => return Ok(ValueRef::Utf8(&self.bytes)),
      Some(Text::Utf16) => return Ok(ValueRef::Utf16(&self.units)),
      None => {}
    }
    // SAFETY: the caller's contract.
    let ty = unsafe { type_of(env, v) }?;
    match ty {
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

/// A value copied out of a store, so that its JS value is made once the
/// store (its handle table, its shard's lock) is released. The buffers are kept between calls.
pub struct Reply {
  form: Form,
  bytes: Vec<u8>,
  units: Vec<u16>,
}

#[derive(Clone, Copy)]
enum Form {
  Utf8,
  Ascii,
  Utf16,
  Bytes,
}

/// Copies larger than this are not kept for the next call.
const REPLY_KEEP: usize = 64 * 1024;

impl Reply {
  pub const fn new() -> Self {
    Reply {
      form: Form::Utf8,
      bytes: Vec::new(),
      units: Vec::new(),
    }
  }

  pub fn copy(&mut self, value: ValueRef<'_>) {
    if self.bytes.capacity() > REPLY_KEEP {
      self.bytes = Vec::new();
    }
    if self.units.capacity() > REPLY_KEEP {
      self.units = Vec::new();
    }
    let (form, bytes) = match value {
      ValueRef::Utf16(u) => {
        self.units.clear();
        self.units.extend_from_slice(u);
        self.form = Form::Utf16;
        return;
      }
      ValueRef::Utf8(b) => (Form::Utf8, b),
      ValueRef::Ascii(b) => (Form::Ascii, b),
      ValueRef::Bytes(b) => (Form::Bytes, b),
    };
    self.bytes.clear();
    self.bytes.extend_from_slice(bytes);
    self.form = form;
  }

  pub fn get(&self) -> ValueRef<'_> {
    match self.form {
      Form::Utf8 => ValueRef::Utf8(&self.bytes),
      Form::Ascii => ValueRef::Ascii(&self.bytes),
      Form::Utf16 => ValueRef::Utf16(&self.units),
      Form::Bytes => ValueRef::Bytes(&self.bytes),
    }
  }
}
