//! The one map from every native failure to the error JS sees.
//!
//! A [`Failure`] has a [`Code`], which fixes the `code` property and the
//! class of the JS error, and a message worded as Node words its own
//! (`The "id" argument must be of type number. Received type string ("x")`).
//! The napi-rs entry points return their failures through [`js`], the plain
//! N-API ones through [`Failure::throw`]; nothing else in the crate throws.
//!
//! | code                        | class        | when                                         |
//! |-----------------------------|--------------|----------------------------------------------|
//! | `ERR_INVALID_ARG_TYPE`      | `TypeError`  | an argument of the wrong type                |
//! | `ERR_INVALID_ARG_VALUE`     | `TypeError`  | right type, unusable value (short or aliased arrays, a malformed log) |
//! | `ERR_OUT_OF_RANGE`          | `RangeError` | a number outside its range                   |
//! | `ERR_LEAKLESS_STALE_HANDLE` | `Error`      | an id that names no live native structure    |
//! | `ERR_LEAKLESS_BUSY`         | `Error`      | a call that re-entered a structure in use    |
//! | `ERR_LEAKLESS_ENV_CLOSING`  | `Error`      | a call while the environment is torn down    |
//! | `ERR_LEAKLESS_TOO_MANY_POOLS` | `RangeError` | every pool id of the thread is in use      |
//! | `ERR_LEAKLESS_NAPI`         | `Error`      | a Node-API call failed                       |
//!
//! The JS layer validates what users pass before it reaches the addon, so
//! users see these only when a bug lets a bad argument through; the codes
//! are stable so that such a bug reads the same from every entry point.

use std::ffi::CString;
use std::fmt::Write as _;
use std::ptr;

use napi::{sys, Env, Status};

/// What went wrong, which decides the JS error's `code` and class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
  InvalidArgType,
  InvalidArgValue,
  OutOfRange,
  StaleHandle,
  Busy,
  EnvClosing,
  TooManyPools,
  Napi,
}

/// The constructor of the JS error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
  Error,
  TypeError,
  RangeError,
}

impl Code {
  /// The `code` property of the JS error.
  pub const fn as_str(self) -> &'static str {
    match self {
      Code::InvalidArgType => "ERR_INVALID_ARG_TYPE",
      Code::InvalidArgValue => "ERR_INVALID_ARG_VALUE",
      Code::OutOfRange => "ERR_OUT_OF_RANGE",
      Code::StaleHandle => "ERR_LEAKLESS_STALE_HANDLE",
      Code::Busy => "ERR_LEAKLESS_BUSY",
      Code::EnvClosing => "ERR_LEAKLESS_ENV_CLOSING",
      Code::TooManyPools => "ERR_LEAKLESS_TOO_MANY_POOLS",
      Code::Napi => "ERR_LEAKLESS_NAPI",
    }
  }

  /// The constructor Node uses for this code.
  pub const fn class(self) -> Class {
    match self {
      Code::InvalidArgType | Code::InvalidArgValue => Class::TypeError,
      Code::OutOfRange | Code::TooManyPools => Class::RangeError,
      Code::StaleHandle | Code::Busy | Code::EnvClosing | Code::Napi => Class::Error,
    }
  }
}

/// A failure on its way to JS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
  pub code: Code,
  pub message: String,
}

/// The result of everything in the binding that can fail.
pub type Result<T> = std::result::Result<T, Failure>;

impl Failure {
  pub fn new(code: Code, message: impl Into<String>) -> Failure {
    Failure {
      code,
      message: message.into(),
    }
  }

  /// `The "name" argument must be <expected>. Received <received>`.
  pub fn arg_type(name: &str, expected: &str, received: &str) -> Failure {
    Failure::new(
      Code::InvalidArgType,
      format!("The \"{name}\" argument must be {expected}. Received {received}"),
    )
  }

  /// `The argument "name" <reason>. Received <received>`.
  pub fn arg_value(name: &str, reason: &str, received: &str) -> Failure {
    Failure::new(
      Code::InvalidArgValue,
      format!("The argument \"{name}\" {reason}. Received {received}"),
    )
  }

  /// `The value of "name" is out of range. It must be <range>. Received <received>`.
  pub fn out_of_range(name: &str, range: &str, received: &str) -> Failure {
    Failure::new(
      Code::OutOfRange,
      format!("The value of \"{name}\" is out of range. It must be {range}. Received {received}"),
    )
  }

  /// No live `what` has this id: it was freed, or never created.
  pub fn stale_handle(what: &str, id: u32) -> Failure {
    Failure::new(
      Code::StaleHandle,
      format!("No live native {what} has id {id}: it was freed, or never created"),
    )
  }

  /// A call reached `what` while another call on this thread was using it.
  pub fn busy(what: &str) -> Failure {
    Failure::new(
      Code::Busy,
      format!("The native {what} is in use by a call that has not returned"),
    )
  }

  /// The thread's environment is being torn down.
  pub fn env_closing(what: &str) -> Failure {
    Failure::new(
      Code::EnvClosing,
      format!("Cannot {what}: the environment is shutting down"),
    )
  }

  /// The Node-API function `call` returned `status`.
  pub fn napi(call: &str, status: sys::napi_status) -> Failure {
    Failure::new(
      Code::Napi,
      format!("{call} failed with status {}", Status::from(status)),
    )
  }

  /// Throws this failure as a JS error in `env`, unless an exception is
  /// already pending (the first error is the one JS must see). Returns
  /// `NULL`, which a callback may return as `undefined`.
  ///
  /// # Safety
  ///
  /// `env` is the environment of the current callback, on its thread.
  pub unsafe fn throw(&self, env: sys::napi_env) -> sys::napi_value {
    let mut pending = false;
    // SAFETY: `env` is live (this function's contract); `pending` is a valid out pointer.
    let status = unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if status != sys::Status::napi_ok || pending {
      return ptr::null_mut();
    }
    let code = CString::new(self.code.as_str()).unwrap_or_default();
    let message = CString::new(self.message.replace('\0', " ")).unwrap_or_default();
    let throw = match self.code.class() {
      Class::Error => sys::napi_throw_error,
      Class::TypeError => sys::napi_throw_type_error,
      Class::RangeError => sys::napi_throw_range_error,
    };
    // SAFETY: both strings are NUL-terminated and outlive the call, which
    // copies them into the new error. A failure here means the environment
    // cannot run JS any more, so there is no one left to tell.
    unsafe { throw(env, code.as_ptr(), message.as_ptr()) };
    ptr::null_mut()
  }
}

impl std::fmt::Display for Failure {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write!(f, "{}: {}", self.code.as_str(), self.message)
  }
}

/// A napi-rs error (from a conversion or an `Env` call) is a failed
/// Node-API call. If it left an exception pending, that one is what JS sees.
impl From<napi::Error> for Failure {
  fn from(e: napi::Error) -> Failure {
    let status = e.status;
    let message = if e.reason.is_empty() {
      format!("A Node-API call failed with status {status}")
    } else {
      format!("A Node-API call failed with status {status}: {}", e.reason)
    };
    Failure::new(Code::Napi, message)
  }
}

/// Succeeds when `status` is `napi_ok`, else names the failed `call`.
pub fn check(status: sys::napi_status, call: &str) -> Result<()> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(Failure::napi(call, status))
  }
}

/// Hands the outcome of a napi-rs entry point to napi-rs: a failure is
/// thrown here, with its code and class, and napi-rs is told an exception
/// is pending so that it throws nothing of its own.
pub fn js<T>(env: &Env, outcome: Result<T>) -> napi::Result<T> {
  outcome.map_err(|failure| {
    // SAFETY: `env` is the environment of the running napi-rs callback.
    unsafe { failure.throw(env.raw()) };
    napi::Error::new(Status::PendingException, failure.message)
  })
}

/// Node's words for a received number: `type number (1.5)`.
pub fn describe_number(n: f64) -> String {
  let shown = if n.is_nan() {
    "NaN".to_string()
  } else if n.is_infinite() {
    if n > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
  } else if n == 0.0 && n.is_sign_negative() {
    "-0".to_string()
  } else {
    n.to_string()
  };
  format!("type number ({shown})")
}

/// Node's words for what was received in place of an argument
/// (`type string ("abc")`, `an instance of Uint32Array`, `undefined`), read
/// without running any JS: no getter, no Proxy trap, no `toString`.
///
/// # Safety
///
/// `env` and `value` belong to the current callback.
pub unsafe fn describe(env: sys::napi_env, value: sys::napi_value) -> String {
  let mut ty = 0;
  // SAFETY: `env` and `value` are live (this function's contract).
  if unsafe { sys::napi_typeof(env, value, &mut ty) } != sys::Status::napi_ok {
    return "a value of unknown type".to_string();
  }
  match ty {
    sys::ValueType::napi_undefined => "undefined".to_string(),
    sys::ValueType::napi_null => "null".to_string(),
    sys::ValueType::napi_boolean => {
      let mut b = false;
      // SAFETY: `value` is a boolean, `b` a valid out pointer.
      match unsafe { sys::napi_get_value_bool(env, value, &mut b) } {
        sys::Status::napi_ok => format!("type boolean ({b})"),
        _ => "type boolean".to_string(),
      }
    }
    sys::ValueType::napi_number => {
      let mut n = 0f64;
      // SAFETY: `value` is a number, `n` a valid out pointer.
      match unsafe { sys::napi_get_value_double(env, value, &mut n) } {
        sys::Status::napi_ok => describe_number(n),
        _ => "type number".to_string(),
      }
    }
    // SAFETY: `value` is a string of this callback.
    sys::ValueType::napi_string => unsafe { describe_string(env, value) },
    sys::ValueType::napi_symbol => "type symbol".to_string(),
    sys::ValueType::napi_bigint => {
      let (mut n, mut lossless) = (0i64, false);
      // SAFETY: `value` is a BigInt; both out pointers are valid.
      let status = unsafe { sys::napi_get_value_bigint_int64(env, value, &mut n, &mut lossless) };
      if status == sys::Status::napi_ok && lossless {
        format!("type bigint ({n}n)")
      } else {
        "type bigint".to_string()
      }
    }
    sys::ValueType::napi_function => "function".to_string(),
    // SAFETY: `value` is an object (or an external) of this callback.
    _ => unsafe { describe_object(env, value) },
  }
}

/// `type string ("...")`, cut after 25 characters as Node does.
unsafe fn describe_string(env: sys::napi_env, value: sys::napi_value) -> String {
  let mut units = [0u16; 29];
  let mut len = 0usize;
  // SAFETY: `value` is a string; `units` has room for 29 units including
  // the terminating NUL napi writes.
  let status = unsafe {
    sys::napi_get_value_string_utf16(env, value, units.as_mut_ptr(), units.len(), &mut len)
  };
  if status != sys::Status::napi_ok {
    return "type string".to_string();
  }
  let mut text = String::from_utf16_lossy(&units[..len]);
  if len > 27 {
    text = text.chars().take(25).collect();
    text.push_str("...");
  }
  let mut out = String::from("type string (");
  let _ = write!(out, "{text:?}");
  out.push(')');
  out
}

unsafe fn describe_object(env: sys::napi_env, value: sys::napi_value) -> String {
  let mut yes = false;
  // SAFETY: `value` is live; `yes` is a valid out pointer.
  if unsafe { sys::napi_is_array(env, value, &mut yes) } == sys::Status::napi_ok && yes {
    return "an instance of Array".to_string();
  }
  // SAFETY: as above.
  if unsafe { sys::napi_is_typedarray(env, value, &mut yes) } == sys::Status::napi_ok && yes {
    let (mut kind, mut len, mut data, mut ab, mut offset) =
      (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
    // SAFETY: `value` is a typed array; every out pointer is valid.
    let status = unsafe {
      sys::napi_get_typedarray_info(
        env,
        value,
        &mut kind,
        &mut len,
        &mut data,
        &mut ab,
        &mut offset,
      )
    };
    if status == sys::Status::napi_ok {
      return format!("an instance of {}", typed_array_name(kind));
    }
  }
  // SAFETY: as above.
  if unsafe { sys::napi_is_arraybuffer(env, value, &mut yes) } == sys::Status::napi_ok && yes {
    return "an instance of ArrayBuffer".to_string();
  }
  // SAFETY: as above.
  if unsafe { sys::napi_is_dataview(env, value, &mut yes) } == sys::Status::napi_ok && yes {
    return "an instance of DataView".to_string();
  }
  "an object".to_string()
}

/// The constructor name of a `napi_typedarray_type`.
pub fn typed_array_name(kind: sys::napi_typedarray_type) -> &'static str {
  match kind {
    sys::TypedarrayType::int8_array => "Int8Array",
    sys::TypedarrayType::uint8_array => "Uint8Array",
    sys::TypedarrayType::uint8_clamped_array => "Uint8ClampedArray",
    sys::TypedarrayType::int16_array => "Int16Array",
    sys::TypedarrayType::uint16_array => "Uint16Array",
    sys::TypedarrayType::int32_array => "Int32Array",
    sys::TypedarrayType::uint32_array => "Uint32Array",
    sys::TypedarrayType::float32_array => "Float32Array",
    sys::TypedarrayType::float64_array => "Float64Array",
    sys::TypedarrayType::bigint64_array => "BigInt64Array",
    sys::TypedarrayType::biguint64_array => "BigUint64Array",
    _ => "TypedArray",
  }
}
