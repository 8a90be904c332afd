//! [`wasmtime::Memory`]: linear memory, seen from JavaScript without a copy.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html>
//!
//! `buffer` is an ArrayBuffer over the linear memory itself. Engines are
//! configured so memories never move (`memory_may_move(false)`), so a view
//! stays valid after growth (only its length is stale); views are detached
//! before the store frees the memory.

use crate::error::{self, throw, Kind};
use crate::store::StoreShared;
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::ptr;
use std::rc::Rc;

/// A linear memory.
#[napi]
pub struct Memory {
  store: Rc<StoreShared>,
  memory: wasmtime::Memory,
}

impl Memory {
  pub(crate) fn new(store: Rc<StoreShared>, memory: wasmtime::Memory) -> Memory {
    Memory { store, memory }
  }
}

#[napi]
impl Memory {
  /// An ArrayBuffer over the memory's current bytes (no copy).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.data_ptr>
  #[napi(catch_unwind)]
  pub fn buffer<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
    let memory = self.memory;
    let (data, len) = self.store.with(env, |inner| Ok((memory.data_ptr(&inner.store), memory.data_size(&inner.store))))?;
    let mut ab = ptr::null_mut();
    // SAFETY: `data` points at `len` bytes of linear memory, which stays at this
    // address (memories never move) until the store is dropped; before that,
    // `StoreShared::release` detaches this ArrayBuffer (tracked below), so
    // JavaScript never reaches freed memory. No finalizer: the store owns it.
    let status = unsafe {
      sys::napi_create_external_arraybuffer(env.raw(), data.cast(), len, None, ptr::null_mut(), &mut ab)
    };
    if status != sys::Status::napi_ok {
      return Err(throw(
        env,
        Kind::Error,
        error::INTERNAL,
        "this runtime does not allow ArrayBuffers over native memory (e.g. Electron's sandbox); use memory.read() and memory.write()",
      ));
    }
    self.store.track_view(env, ab);
    // SAFETY: `ab` was created on `env` in this call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), ab) })
  }

  /// The memory's size in bytes.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.data_size>
  #[napi(catch_unwind)]
  pub fn data_size(&self, env: Env) -> Result<f64> {
    let memory = self.memory;
    self.store.with(&env, |inner| Ok(memory.data_size(&inner.store) as f64))
  }

  /// The memory's size in pages.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.size>
  #[napi(catch_unwind)]
  pub fn size(&self, env: Env) -> Result<f64> {
    let memory = self.memory;
    self.store.with(&env, |inner| Ok(memory.size(&inner.store) as f64))
  }

  /// Grows the memory by `delta` pages; returns the previous size in pages.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.grow>
  #[napi(catch_unwind)]
  pub fn grow(&self, env: Env, delta: f64) -> Result<f64> {
    let memory = self.memory;
    if !(delta >= 0.0) || delta.fract() != 0.0 {
      return Err(throw(&env, Kind::Range, error::INVALID_ARGUMENT, "grow() takes a non-negative whole number of pages"));
    }
    self.store.with(&env, |inner| {
      memory
        .grow(&mut inner.store, delta as u64)
        .map(|p| p as f64)
        .map_err(|e| throw(&env, Kind::Range, error::INVALID_ARGUMENT, &format!("memory.grow({delta}) failed: {}", error::chain(&e))))
    })
  }

  /// Copies `length` bytes at `offset` out into a new Buffer.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.read>
  #[napi(catch_unwind)]
  pub fn read(&self, env: Env, offset: f64, length: f64) -> Result<Buffer> {
    let memory = self.memory;
    self.store.with(&env, |inner| {
      let mut out = vec![0u8; length.max(0.0) as usize];
      memory
        .read(&inner.store, offset.max(0.0) as usize, &mut out)
        .map_err(|_| throw(&env, Kind::Range, error::INVALID_ARGUMENT, "read outside the memory"))?;
      Ok(out.into())
    })
  }

  /// Copies `bytes` into the memory at `offset`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.write>
  #[napi(catch_unwind)]
  pub fn write(&self, env: Env, offset: f64, bytes: &[u8]) -> Result<()> {
    let memory = self.memory;
    self.store.with(&env, |inner| {
      memory
        .write(&mut inner.store, offset.max(0.0) as usize, bytes)
        .map_err(|_| throw(&env, Kind::Range, error::INVALID_ARGUMENT, "write outside the memory"))
    })
  }
}
