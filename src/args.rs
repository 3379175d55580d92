//! Arguments of the napi-rs entry points, read through the error map.
//!
//! napi-rs converts typed parameters before the function runs and throws
//! its own codes (`NumberExpected`, `InvalidArg`) with messages that do not
//! name the argument. The entry points take `Unknown` instead and read each
//! argument here, with the same Node-API calls napi-rs would make, so that a
//! bad one throws `ERR_INVALID_ARG_TYPE` naming it (see [`crate::errors`]).

use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::{self, NonNull};

use napi::bindgen_prelude::{FromNapiValue, Function, JsValue, Unknown};
use napi::sys;

use crate::errors::{describe, typed_array_name, Failure, Result};

fn received(v: &Unknown<'_>) -> String {
  let raw = v.value();
  // SAFETY: `v` is an argument of the running callback, in its environment.
  unsafe { describe(raw.env, raw.value) }
}

/// Reads a scalar argument with its `napi_get_value_*` call; an argument of
/// another type (the call answers `$wrong`) throws `ERR_INVALID_ARG_TYPE`
/// naming it.
macro_rules! scalar_args {
  ($($(#[$doc:meta])* $fn_name:ident -> $ty:ty: $get:ident, $wrong:ident, $expected:literal;)+) => {$(
    $(#[$doc])*
    pub fn $fn_name(v: &Unknown<'_>, name: &str) -> Result<$ty> {
      let raw = v.value();
      let mut out = <$ty>::default();
      // SAFETY: `v` is an argument of the running callback; `out` is a valid out pointer.
      match unsafe { sys::$get(raw.env, raw.value, &mut out) } {
        sys::Status::napi_ok => Ok(out),
        sys::Status::$wrong => Err(Failure::arg_type(name, $expected, &received(v))),
        status => Err(Failure::napi(stringify!($get), status)),
      }
    }
  )+};
}

scalar_args! {
  /// A number argument.
  number -> f64: napi_get_value_double, napi_number_expected, "of type number";
  /// An id: a number, read as Node-API reads a `uint32` (wrapping, truncating).
  id -> u32: napi_get_value_uint32, napi_number_expected, "of type number";
  /// A boolean argument.
  boolean -> bool: napi_get_value_bool, napi_boolean_expected, "of type boolean";
}

/// A count or size limit from a number: `Infinity` (or anything not a
/// finite number at least 0) means none.
pub fn limit(n: f64) -> usize {
  if n.is_finite() && n >= 0.0 {
    n as usize
  } else {
    usize::MAX
  }
}

/// Refuses `v` unless its type is `ty` (`expected` names it).
fn of_type(v: &Unknown<'_>, name: &str, ty: sys::napi_valuetype, expected: &str) -> Result<()> {
  let raw = v.value();
  let mut t = 0;
  // SAFETY: `v` is an argument of the running callback; `t` is a valid out pointer.
  let status = unsafe { sys::napi_typeof(raw.env, raw.value, &mut t) };
  crate::errors::check(status, "napi_typeof")?;
  if t != ty {
    return Err(Failure::arg_type(name, expected, &received(v)));
  }
  Ok(())
}

/// A string argument.
pub fn string(v: &Unknown<'_>, name: &str) -> Result<String> {
  let raw = v.value();
  of_type(v, name, sys::ValueType::napi_string, "of type string")?;
  // SAFETY: the value is a string of this environment.
  Ok(unsafe { String::from_napi_value(raw.env, raw.value) }?)
}

/// A boolean argument that may be `undefined` or `null`.
pub fn optional_boolean(v: &Unknown<'_>, name: &str) -> Result<Option<bool>> {
  if is_nullish(v)? {
    return Ok(None);
  }
  boolean(v, name).map(Some)
}

/// Whether an argument is `undefined` or `null` (an omitted optional one).
fn is_nullish(v: &Unknown<'_>) -> Result<bool> {
  let raw = v.value();
  let mut ty = 0;
  // SAFETY: `v` is an argument of the running callback; `ty` is a valid out pointer.
  let status = unsafe { sys::napi_typeof(raw.env, raw.value, &mut ty) };
  crate::errors::check(status, "napi_typeof")?;
  Ok(matches!(
    ty,
    sys::ValueType::napi_undefined | sys::ValueType::napi_null
  ))
}

/// A number argument that may be `undefined` or `null`.
pub fn optional_number(v: &Unknown<'_>, name: &str) -> Result<Option<f64>> {
  if is_nullish(v)? {
    return Ok(None);
  }
  number(v, name).map(Some)
}

/// A function argument.
pub fn function<'env>(v: &Unknown<'env>, name: &str) -> Result<Function<'env, (), ()>> {
  let raw = v.value();
  of_type(v, name, sys::ValueType::napi_function, "of type function")?;
  // SAFETY: the value is a function of this environment, which is all
  // `Function` holds.
  Ok(unsafe { Function::from_napi_value(raw.env, raw.value) }?)
}

/// The element type of a typed array argument.
pub trait Element: Copy {
  const KIND: sys::napi_typedarray_type;
}

impl Element for u8 {
  const KIND: sys::napi_typedarray_type = sys::TypedarrayType::uint8_array;
}

impl Element for u32 {
  const KIND: sys::napi_typedarray_type = sys::TypedarrayType::uint32_array;
}

impl Element for f64 {
  const KIND: sys::napi_typedarray_type = sys::TypedarrayType::float64_array;
}

/// A typed array argument: where its elements are, not yet a slice. The
/// memory belongs to JS and stays alive while the callback runs (the
/// argument is on the JS stack, and nothing in the binding detaches it).
pub struct View<'env, T: Element> {
  name: &'static str,
  data: NonNull<T>,
  len: usize,
  _env: PhantomData<&'env mut [T]>,
}

impl<'env, T: Element> View<'env, T> {
  pub fn len(&self) -> usize {
    self.len
  }

  /// Where the first element is (dangling when empty).
  pub fn address(&self) -> usize {
    self.data.as_ptr() as usize
  }

  /// The bytes it covers (empty for an empty array).
  fn bytes(&self) -> Range<usize> {
    let start = self.data.as_ptr() as usize;
    start..start + self.len * std::mem::size_of::<T>()
  }

  /// The elements, read only.
  ///
  /// # Safety
  ///
  /// No `&mut` slice over the same memory may be alive at the same time:
  /// [`refuse_aliases`] must have accepted every writable view of the call.
  pub unsafe fn as_slice(&self) -> &'env [T] {
    // SAFETY: Node-API reported `len` elements of `T` at `data`, suitably
    // aligned (a typed array's offset is a multiple of its element size),
    // alive for the callback; overlap with a writable slice is excluded by
    // the caller.
    unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.len) }
  }

  /// The elements, writable.
  ///
  /// # Safety
  ///
  /// No other slice over the same memory may be alive at the same time:
  /// [`refuse_aliases`] must have accepted this view against every other
  /// array of the call, and this is called once per view.
  pub unsafe fn as_mut_slice(&mut self) -> &'env mut [T] {
    // SAFETY: as in `as_slice`; exclusivity is the caller's contract.
    unsafe { std::slice::from_raw_parts_mut(self.data.as_ptr(), self.len) }
  }
}

/// A typed array argument whose elements are `T`.
pub fn typed<'env, T: Element>(v: &Unknown<'env>, name: &'static str) -> Result<View<'env, T>> {
  let raw = v.value();
  let expected = || format!("an instance of {}", typed_array_name(T::KIND));
  let (mut kind, mut len, mut data, mut ab, mut offset) =
    (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
  // SAFETY: `v` is an argument of the running callback; every out pointer
  // is valid. On a value that is not a typed array, Node-API answers
  // napi_invalid_arg and throws nothing: one call does both checks.
  let status = unsafe {
    sys::napi_get_typedarray_info(
      raw.env,
      raw.value,
      &mut kind,
      &mut len,
      &mut data,
      &mut ab,
      &mut offset,
    )
  };
  if status == sys::Status::napi_invalid_arg {
    return Err(Failure::arg_type(name, &expected(), &received(v)));
  }
  crate::errors::check(status, "napi_get_typedarray_info")?;
  if kind != T::KIND {
    return Err(Failure::arg_type(name, &expected(), &received(v)));
  }
  // An empty array may report any pointer, NULL included: never read it.
  let data = match NonNull::new(data.cast::<T>()) {
    Some(p) if len > 0 => p,
    _ => {
      len = 0;
      NonNull::dangling()
    }
  };
  Ok(View {
    name,
    data,
    len,
    _env: PhantomData,
  })
}

/// A typed array argument that may be `undefined` or `null`.
pub fn optional_typed<'env, T: Element>(
  v: &Unknown<'env>,
  name: &'static str,
) -> Result<Option<View<'env, T>>> {
  if is_nullish(v)? {
    return Ok(None);
  }
  typed(v, name).map(Some)
}

/// A typed array of a call, for [`refuse_aliases`].
pub struct Span {
  name: &'static str,
  bytes: Range<usize>,
  writable: bool,
  /// The array's type, formatted only for an error: a call that passes
  /// pays no allocation for it.
  kind: &'static str,
}

impl<T: Element> View<'_, T> {
  /// This view as read only.
  pub fn reads(&self) -> Span {
    Span {
      name: self.name,
      bytes: self.bytes(),
      writable: false,
      kind: typed_array_name(T::KIND),
    }
  }

  /// This view as written by the call.
  pub fn writes(&self) -> Span {
    Span {
      writable: true,
      ..self.reads()
    }
  }
}

/// Refuses a call in which an array the call writes shares memory with
/// another array of the call (the same array twice, or two views of one
/// buffer that overlap): Rust may not hold a writable slice and another
/// slice over the same bytes.
pub fn refuse_aliases(spans: &[Span]) -> Result<()> {
  for (i, a) in spans.iter().enumerate() {
    for b in &spans[i + 1..] {
      let empty = a.bytes.is_empty() || b.bytes.is_empty();
      let overlap = a.bytes.start < b.bytes.end && b.bytes.start < a.bytes.end;
      if (a.writable || b.writable) && !empty && overlap {
        return Err(Failure::arg_value(
          b.name,
          &format!("must not share memory with \"{}\"", a.name),
          &format!("an instance of {}", b.kind),
        ));
      }
    }
  }
  Ok(())
}
