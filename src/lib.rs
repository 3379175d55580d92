#![deny(clippy::all)]
//! N-API binding of leakless. Logic lives in `leakless-core`; this crate
//! converts arguments, owns native structures on behalf of JS objects, and
//! reports their memory to V8.

mod accounting;
mod args;
mod errors;
mod floor;
mod handles;
mod lru;
mod offheap;
mod pool;
mod protocol;
mod raw;
mod records;
mod shared;

use napi_derive::napi;

/// Native memory accounting of this thread.
#[napi(object)]
pub struct NativeStats {
  /// Net bytes reported to V8 with `napi_adjust_external_memory`.
  pub external_bytes: f64,
  /// V8's running total of adjusted memory as of the last report.
  pub v8_adjusted_total: f64,
  /// Heap LRUs alive on this thread.
  pub heap_lru_instances: u32,
  /// Off-heap LRUs alive on this thread.
  pub offheap_lru_instances: u32,
  /// BufferPools alive on this thread (collected ones whose Buffers are still out included).
  pub pool_instances: u32,
  /// Shared-store holders alive on this thread.
  pub shared_instances: u32,
}

/// Flushes pending reports and returns this thread's native accounting.
#[napi]
pub fn native_stats() -> NativeStats {
  pool::sync_accounting();
  shared::sync_accounting();
  NativeStats {
    external_bytes: accounting::reported() as f64,
    v8_adjusted_total: accounting::v8_total() as f64,
    heap_lru_instances: lru::live_instances() as u32,
    offheap_lru_instances: offheap::live_instances() as u32,
    pool_instances: pool::live_instances() as u32,
    shared_instances: shared::live_instances() as u32,
  }
}

/// Adds the entry points written against plain N-API (see `raw.rs`).
#[napi(module_exports)]
pub fn init(exports: napi::bindgen_prelude::Object, env: napi::Env) -> napi::Result<()> {
  let exports = napi::bindgen_prelude::JsValue::raw(&exports);
  // SAFETY: `env` and `exports` are those of the module being initialized.
  let registered = unsafe { offheap::register(env.raw(), exports) };
  errors::js(&env, registered)?;
  // SAFETY: as above.
  let registered = unsafe { shared::register(env.raw(), exports) };
  errors::js(&env, registered)?;
  // SAFETY: as above.
  let registered = unsafe { floor::register(env.raw(), exports) };
  errors::js(&env, registered)
}
