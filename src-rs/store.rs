//! [`wasmtime::Store`]: the home of instances, memories and their state.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html>
//!
//! The wasmtime store lives in a [`StoreShared`] behind an `Rc`, shared by the
//! `Store` wrapper and by every instance, function and memory taken from it, so
//! it lives while any of them does. `store.dispose()` drops it early; handles
//! taken from it then throw `ERR_WASMTIME_STORE_DISPOSED`.

use crate::engine::Engine;
use crate::error::{self, throw, Kind};
use crate::module::RawCode;
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Per-store host state (WASI contexts and limits will live here).
#[derive(Default)]
pub(crate) struct StoreData {}

pub(crate) struct StoreInner {
  // Field order is drop order: the wasmtime store (with its clones of every
  // module instantiated into it) goes before the pins on raw-loaded code.
  pub(crate) store: wasmtime::Store<StoreData>,
  raw: Vec<Arc<RawCode>>,
}

impl StoreInner {
  /// Keeps `code` pinned for as long as this store lives.
  pub(crate) fn hold(&mut self, code: &Arc<RawCode>) {
    if !self.raw.iter().any(|c| Arc::ptr_eq(c, code)) {
      self.raw.push(code.clone());
    }
  }
}

pub(crate) struct StoreShared {
  pub(crate) inner: RefCell<Option<StoreInner>>,
  /// Weak references to ArrayBuffers that view this store's linear memories.
  /// They are detached before the memories go away.
  views: RefCell<Vec<sys::napi_ref>>,
  env: sys::napi_env,
}

impl StoreShared {
  /// Runs `f` with the live store, or throws a clear error if the store was
  /// disposed or is in the middle of another call.
  pub(crate) fn with<T>(&self, env: &Env, f: impl FnOnce(&mut StoreInner) -> Result<T>) -> Result<T> {
    let mut slot = self.inner.try_borrow_mut().map_err(|_| {
      throw(env, Kind::Error, error::STORE_BUSY, "this Store is already running a call (re-entrant calls come with host functions)")
    })?;
    match slot.as_mut() {
      Some(inner) => f(inner),
      None => Err(throw(
        env,
        Kind::Error,
        error::STORE_DISPOSED,
        "this Store was disposed; its instances, functions and memories can no longer be used. Create a new Store and instantiate again.",
      )),
    }
  }

  /// Remembers an ArrayBuffer that views linear memory, to detach it later.
  pub(crate) fn track_view(&self, env: &Env, array_buffer: sys::napi_value) {
    let mut r = std::ptr::null_mut();
    // SAFETY: `array_buffer` is a value of the current call; a weak reference
    // (count 0) does not keep it alive.
    if unsafe { sys::napi_create_reference(env.raw(), array_buffer, 0, &mut r) } == sys::Status::napi_ok {
      let mut views = self.views.borrow_mut();
      views.retain(|v| {
        if !is_collected(self.env, *v) {
          return true;
        }
        // SAFETY: `v` is our reference, deleted once, on its env's thread.
        unsafe { sys::napi_delete_reference(self.env, *v) };
        false
      });
      views.push(r);
    }
  }

  /// Detaches every live view, then drops the wasmtime store.
  fn release(&self) {
    for v in self.views.borrow_mut().drain(..) {
      // SAFETY: the references were made on `self.env`, and this runs on its
      // thread: stores are only dropped from finalizers and `dispose()`.
      unsafe {
        let mut value = std::ptr::null_mut();
        if sys::napi_get_reference_value(self.env, v, &mut value) == sys::Status::napi_ok && !value.is_null() {
          sys::napi_detach_arraybuffer(self.env, value);
        }
        sys::napi_delete_reference(self.env, v);
      }
    }
    let inner = self.inner.borrow_mut().take();
    drop(inner);
  }
}

fn is_collected(env: sys::napi_env, r: sys::napi_ref) -> bool {
  let mut value = std::ptr::null_mut();
  // SAFETY: `r` is a live reference made on `env`, on this thread.
  unsafe { sys::napi_get_reference_value(env, r, &mut value) };
  value.is_null()
}

impl Drop for StoreShared {
  fn drop(&mut self) {
    self.release();
  }
}

/// A collection of instances and their state.
#[napi]
pub struct Store {
  pub(crate) shared: Rc<StoreShared>,
}

#[napi]
impl Store {
  /// `new Store(engine)`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.new>
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, engine: &Engine) -> Result<Self> {
    let store = wasmtime::Store::new(&engine.engine, StoreData::default());
    Ok(Store {
      shared: Rc::new(StoreShared {
        inner: RefCell::new(Some(StoreInner { store, raw: Vec::new() })),
        views: RefCell::new(Vec::new()),
        env: env.raw(),
      }),
    })
  }

  /// Drops the wasmtime store now instead of at garbage collection. Memory
  /// views taken from it are detached; its handles throw from then on.
  #[napi(catch_unwind)]
  pub fn dispose(&self, env: Env) -> Result<()> {
    if self.shared.inner.try_borrow_mut().is_err() {
      return Err(throw(&env, Kind::Error, error::STORE_BUSY, "cannot dispose a Store while it is running a call"));
    }
    self.shared.release();
    Ok(())
  }

  /// True after `dispose()`.
  #[napi(getter)]
  pub fn is_disposed(&self) -> bool {
    matches!(self.shared.inner.try_borrow(), Ok(s) if s.is_none())
  }
}
