//! wasmtime-napi: the native half. A thin, safe layer over the `wasmtime`
//! crate: conversions, ownership and error mapping. Policy (defaults, buffer
//! helpers, JavaScript-visible lifetimes) lives in the TypeScript facade.
//!
//! One file per wasmtime concept, named as wasmtime names it.

#![deny(clippy::undocumented_unsafe_blocks)]

mod aligned;
mod artifact;
mod async_call;
mod code_memory;
mod engine;
mod error;
mod externs;
mod func;
mod global;
mod host;
mod instance;
mod linker;
mod memory;
mod module;
mod pool;
mod store;
mod table;
mod trap;
mod val;
mod wasi;

use napi::bindgen_prelude::*;
use napi::{sys, JsValue};
use napi_derive::napi;
use std::sync::atomic::Ordering;

/// Runs when the addon loads, once per process.
#[napi_derive::module_init]
fn init() {
  error::install_panic_hook();
}

/// Counters of native state, for tests and monitoring.
#[napi(object)]
pub struct Stats {
  /// Bytes of package memory that raw-loaded modules hold (their artifacts).
  pub pinned_bytes: f64,
  /// How many such regions.
  pub pinned_regions: u32,
  /// Bytes of compiled code (owned by wasmtime) reported to V8 as external memory.
  pub reported_bytes: f64,
  /// Stores whose wasmtime state (instances, memories, tables) is not freed yet.
  pub stores: u32,
  /// Native threads that run wasm off the JavaScript thread, at once
  /// (`WASMTIME_NAPI_THREADS`, default one per core).
  pub threads: u32,
}

/// Current native counters.
#[napi]
pub fn stats() -> Stats {
  Stats {
    pinned_bytes: module::PINNED_BYTES.load(Ordering::Relaxed) as f64,
    pinned_regions: module::PINNED_REGIONS.load(Ordering::Relaxed) as u32,
    reported_bytes: module::REPORTED_BYTES.load(Ordering::Relaxed) as f64,
    stores: store::LIVE_STORES.load(Ordering::Relaxed) as u32,
    threads: pool::size() as u32,
  }
}

/// The host page size: the alignment `deserializeRaw` needs on native engines.
#[napi]
pub fn page_size() -> u32 {
  code_memory::page_size() as u32
}

/// The wasmtime version this addon was built with (artifacts are tied to it).
#[napi]
pub fn wasmtime_version() -> &'static str {
  "48.0.8"
}

/// Offset of the first page boundary inside `array_buffer`'s memory, so that
/// the facade can carve a page-aligned view out of an over-allocated buffer.
#[napi]
pub fn page_align_offset(env: Env, array_buffer: Unknown) -> Result<u32> {
  let mut data = std::ptr::null_mut();
  let mut len = 0usize;
  // SAFETY: a value of the current call; napi checks it is an ArrayBuffer.
  let status = unsafe { sys::napi_get_arraybuffer_info(env.raw(), array_buffer.raw(), &mut data, &mut len) };
  if status != sys::Status::napi_ok {
    return Err(error::throw(&env, error::Kind::Type, error::INVALID_ARGUMENT, "pageAlignOffset expects an ArrayBuffer"));
  }
  let page = code_memory::page_size();
  Ok(((page - (data as usize) % page) % page) as u32)
}

/// The address of a typed array's first byte (tests use it to check that a
/// raw-loaded module's code lies inside the caller's buffer).
#[napi]
pub fn address_of(env: Env, view: Unknown) -> Result<f64> {
  let (mut kind, mut len, mut data, mut ab, mut off) = (0, 0usize, std::ptr::null_mut(), std::ptr::null_mut(), 0usize);
  // SAFETY: a value of the current call; napi checks it is a typed array.
  let status =
    unsafe { sys::napi_get_typedarray_info(env.raw(), view.raw(), &mut kind, &mut len, &mut data, &mut ab, &mut off) };
  if status != sys::Status::napi_ok {
    return Err(error::throw(&env, error::Kind::Type, error::INVALID_ARGUMENT, "addressOf expects a typed array"));
  }
  Ok(data as usize as f64)
}

/// Panics on purpose inside the panic guard, so a test can prove a Rust panic
/// reaches JavaScript as an error (`ERR_WASMTIME_PANIC`), not an abort.
#[doc(hidden)]
#[napi(js_name = "testPanic")]
pub fn test_panic(env: Env) -> Result<()> {
  error::guard(&env, "testPanic", || panic!("deliberate panic for the test suite"))
}

/// A napi-rs `External`, as another addon would make one: a test hands it to
/// the wasm trampoline as `this`, which must refuse it rather than read it as
/// its own data.
#[doc(hidden)]
#[napi(js_name = "testExternal")]
pub fn test_external() -> External<u8> {
  External::new(0)
}

/// The current thread's id, cached per thread: `std::thread::current()`
/// clones a reference-counted handle, and host calls ask on every call.
pub(crate) fn thread_id() -> std::thread::ThreadId {
  thread_local! { static ID: std::thread::ThreadId = std::thread::current().id(); }
  ID.with(|id| *id)
}

/// Does nothing: the floor that the call benchmarks compare against.
#[napi]
pub fn noop(_a: i32, _b: i32) -> i32 {
  0
}

/// Whether `value` is a wasm function made by this addon (an export or a
/// funcref), as opposed to a JavaScript function.
#[napi]
pub fn is_wasm_function(env: Env, value: Unknown) -> bool {
  func::wasm_func_of(&env, value.raw()).is_some()
}
