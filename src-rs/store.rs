//! [`wasmtime::Store`]: the home of instances, memories and their state.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html>
//!
//! The wasmtime store lives in a [`StoreShared`] behind an `Rc`, shared by the
//! `Store` wrapper and by every instance, function, memory, table and global
//! taken from it, so it lives while any of them does. `store.dispose()` drops
//! it early; handles taken from it then throw `ERR_WASMTIME_STORE_DISPOSED`.
//!
//! # Re-entrancy
//! While wasm runs, the store is borrowed by the call. A host function that
//! calls back into wasm of the same store reaches it through the `Caller` of
//! the running host call: [`StoreShared::with`] falls back to the innermost
//! such caller, which [`StoreShared::enter_host`] registers for exactly the
//! duration of the JavaScript call.

use crate::engine::Engine;
use crate::error::{self, throw, Kind};
use crate::module::RawCode;
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasmtime::{AsContextMut, Caller, StoreContextMut};

/// Per-store host state.
pub(crate) struct StoreData {
  /// The `StoreShared` that owns this store (set right after creation).
  pub(crate) shared: *const StoreShared,
  /// A JavaScript exception thrown by a host function, carried through the
  /// wasm frames to the JavaScript caller (a strong napi reference).
  pub(crate) pending_exception: Option<sys::napi_ref>,
  /// WASI preview1 state, when a `WasiContext` was attached.
  pub(crate) wasi: Option<wasmtime_wasi::p1::WasiP1Ctx>,
  /// Resource limits (memory and table growth, instance counts).
  pub(crate) limits: wasmtime::StoreLimits,
}

// SAFETY: a store is used only on the JavaScript thread that created it: the
// `Store` object cannot move to another thread (napi objects are bound to their
// environment), and wasmtime only calls host functions on the thread that
// called into wasm. `Send` is required by wasmtime-wasi's linker signature.
unsafe impl Send for StoreData {}

pub(crate) struct StoreShared {
  // Field order is drop order: the wasmtime store (with its clones of every
  // module instantiated into it) goes before the pins on raw-loaded code.
  inner: RefCell<Option<wasmtime::Store<StoreData>>>,
  raw: RefCell<Vec<Arc<RawCode>>>,
  /// Callers of host functions now running JavaScript, innermost last, each
  /// with the number of the host call it belongs to.
  callers: RefCell<Vec<(*mut Caller<'static, StoreData>, u64)>>,
  /// Numbers host calls, so a `Caller` object kept past its call is refused
  /// even if a later call's caller sits at the same address.
  host_calls: std::cell::Cell<u64>,
  /// Weak references to ArrayBuffers that view this store's linear memories.
  /// They are detached before the memories go away.
  views: RefCell<Vec<sys::napi_ref>>,
  pub(crate) env: sys::napi_env,
  pub(crate) engine: wasmtime::Engine,
}

impl StoreShared {
  pub(crate) fn new(env: &Env, engine: &wasmtime::Engine) -> Rc<StoreShared> {
    let data = StoreData {
      shared: std::ptr::null(),
      pending_exception: None,
      wasi: None,
      limits: wasmtime::StoreLimits::default(),
    };
    let mut store = wasmtime::Store::new(engine, data);
    store.limiter(|d| &mut d.limits);
    let shared = Rc::new(StoreShared {
      inner: RefCell::new(Some(store)),
      raw: RefCell::new(Vec::new()),
      callers: RefCell::new(Vec::new()),
      host_calls: std::cell::Cell::new(0),
      views: RefCell::new(Vec::new()),
      env: env.raw(),
      engine: engine.clone(),
    });
    let ptr = Rc::as_ptr(&shared);
    if let Some(store) = shared.inner.borrow_mut().as_mut() {
      store.data_mut().shared = ptr;
    }
    shared
  }

  /// Runs `f` with the live store, or throws a clear error if the store was
  /// disposed or is borrowed by a call that is not a host function.
  pub(crate) fn with<T>(&self, env: &Env, f: impl FnOnce(StoreContextMut<'_, StoreData>) -> Result<T>) -> Result<T> {
    match self.inner.try_borrow_mut() {
      Ok(mut slot) => match slot.as_mut() {
        Some(store) => f(store.as_context_mut()),
        None => Err(throw(
          env,
          Kind::Error,
          error::STORE_DISPOSED,
          "this Store was disposed; its instances, functions and memories can no longer be used. Create a new Store and instantiate again.",
        )),
      },
      Err(_) => {
        let top = self.callers.borrow().last().map(|(c, _)| *c);
        match top {
          // SAFETY: the pointer was registered by `enter_host` from a live
          // `&mut Caller` whose host call is on the stack below us, blocked in
          // a JavaScript call; that host call does not touch its caller until
          // the JavaScript call returns, and unregisters it before then.
          Some(caller) => f(unsafe { &mut *caller }.as_context_mut()),
          None => Err(throw(env, Kind::Error, error::STORE_BUSY, "this Store is in the middle of another operation")),
        }
      }
    }
  }

  /// Numbers the next host call.
  pub(crate) fn next_host_call(&self) -> u64 {
    let n = self.host_calls.get() + 1;
    self.host_calls.set(n);
    n
  }

  /// Makes `caller` (of host call number `call`) the store's way in while `js`
  /// runs (a host function calling JavaScript), so that JavaScript can call
  /// back into wasm.
  pub(crate) fn enter_host<R>(&self, caller: &mut Caller<'_, StoreData>, call: u64, js: impl FnOnce() -> R) -> R {
    let ptr = caller as *mut Caller<'_, StoreData> as *mut Caller<'static, StoreData>;
    self.callers.borrow_mut().push((ptr, call));
    struct Pop<'a>(&'a RefCell<Vec<(*mut Caller<'static, StoreData>, u64)>>);
    impl Drop for Pop<'_> {
      fn drop(&mut self) {
        self.0.borrow_mut().pop();
      }
    }
    let _pop = Pop(&self.callers);
    js()
  }

  /// Whether `caller` of host call `call` is running now.
  pub(crate) fn is_active_caller(&self, caller: *mut Caller<'static, StoreData>, call: u64) -> bool {
    self.callers.borrow().contains(&(caller, call))
  }

  /// Keeps `code` pinned for as long as this store lives.
  pub(crate) fn hold(&self, code: &Arc<RawCode>) {
    let mut raw = self.raw.borrow_mut();
    if !raw.iter().any(|c| Arc::ptr_eq(c, code)) {
      raw.push(code.clone());
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

  pub(crate) fn is_disposed(&self) -> bool {
    matches!(self.inner.try_borrow(), Ok(s) if s.is_none())
  }

  /// Detaches every live view, drops the wasmtime store, then the pins.
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
    let store = self.inner.borrow_mut().take();
    if let Some(mut store) = store {
      if let Some(r) = store.data_mut().pending_exception.take() {
        // SAFETY: our strong reference, made on `self.env`, on its thread.
        unsafe { sys::napi_delete_reference(self.env, r) };
      }
      drop(store);
    }
    self.raw.borrow_mut().clear();
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

/// Options of `new Store(engine, options)`.
#[napi(object)]
#[derive(Default)]
pub struct StoreOptions {
  /// Most bytes any one linear memory may grow to.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.StoreLimitsBuilder.html#method.memory_size>
  pub memory_size: Option<f64>,
  /// Most elements any one table may grow to.
  pub table_elements: Option<f64>,
  /// Most instances in this store.
  pub instances: Option<u32>,
  /// Most tables in this store.
  pub tables: Option<u32>,
  /// Most memories in this store.
  pub memories: Option<u32>,
}

/// A collection of instances and their state.
#[napi]
pub struct Store {
  pub(crate) shared: Rc<StoreShared>,
}

#[napi]
impl Store {
  /// `new Store(engine, options?)`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.new>
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, engine: &Engine, options: Option<StoreOptions>) -> Result<Self> {
    let shared = StoreShared::new(&env, &engine.engine);
    if let Some(o) = options {
      let mut b = wasmtime::StoreLimitsBuilder::new();
      if let Some(v) = o.memory_size {
        b = b.memory_size(v as usize);
      }
      if let Some(v) = o.table_elements {
        b = b.table_elements(v as usize);
      }
      if let Some(v) = o.instances {
        b = b.instances(v as usize);
      }
      if let Some(v) = o.tables {
        b = b.tables(v as usize);
      }
      if let Some(v) = o.memories {
        b = b.memories(v as usize);
      }
      let limits = b.build();
      shared.with(&env, |mut cx| {
        cx.data_mut().limits = limits;
        Ok(())
      })?;
    }
    Ok(Store { shared })
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
    self.shared.is_disposed()
  }

  /// Sets the fuel left (engines made with `consumeFuel`).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.set_fuel>
  #[napi(catch_unwind)]
  pub fn set_fuel(&self, env: Env, fuel: BigInt) -> Result<()> {
    let (_, v, _) = fuel.get_u64();
    self.shared.with(&env, |mut cx| {
      cx.set_fuel(v).map_err(|e| throw(&env, Kind::Error, error::CONFIG, &format!("{}; create the Engine with {{ consumeFuel: true }}", error::chain(&e))))
    })
  }

  /// The fuel left.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.get_fuel>
  #[napi(catch_unwind)]
  pub fn get_fuel(&self, env: Env) -> Result<BigInt> {
    self.shared.with(&env, |cx| {
      cx.get_fuel()
        .map(BigInt::from)
        .map_err(|e| throw(&env, Kind::Error, error::CONFIG, &format!("{}; create the Engine with {{ consumeFuel: true }}", error::chain(&e))))
    })
  }

  /// Wasm in this store traps with `interrupt` once the engine's epoch has
  /// advanced `ticks` times from now (engines made with `epochInterruption`).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.set_epoch_deadline>
  #[napi(catch_unwind)]
  pub fn set_epoch_deadline(&self, env: Env, ticks: f64) -> Result<()> {
    self.shared.with(&env, |mut cx| {
      cx.set_epoch_deadline(ticks.max(0.0) as u64);
      Ok(())
    })
  }

  /// Runs a garbage collection of the store's GC heap (externrefs that wasm
  /// dropped are released to JavaScript).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.gc>
  #[napi(catch_unwind)]
  pub fn gc(&self, env: Env) -> Result<()> {
    self.shared.with(&env, |mut cx| {
      cx.gc(None).map_err(|e| throw(&env, Kind::Error, error::INTERNAL, &format!("gc failed: {}", error::chain(&e))))
    })
  }
}
