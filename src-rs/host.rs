//! Host functions: JavaScript functions that wasm calls, synchronously, on the
//! JavaScript thread ([`wasmtime::Func::new`] / [`wasmtime::Linker::func_new`]),
//! and the [`Caller`] they may receive.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.func_new>
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Caller.html>

use crate::error::{self, throw, Kind};
use crate::externs::extern_to_js;
use crate::store::{StoreData, StoreShared};
use crate::trap::JsException;
use crate::val::{from_val, to_val, type_name};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::ptr;
use std::rc::Rc;
use std::thread::ThreadId;
use wasmtime::{Val, ValType};

/// A JavaScript function that wasm can call. It is held weakly: the Linker
/// object that defined it and the stores it was instantiated into root it
/// from JavaScript (see `store.rs`), so no native reference keeps alive a
/// function that closes over the store.
pub(crate) struct HostFunc {
  func: sys::napi_ref,
  env: sys::napi_env,
  thread: ThreadId,
  results: Vec<ValType>,
  with_caller: bool,
  name: String,
}

// SAFETY: the JavaScript function is only touched on `thread`, the thread of
// its environment; `call` refuses any other thread, and `drop` leaks the
// reference there. wasmtime requires host closures to be `Send + Sync`.
unsafe impl Send for HostFunc {}
// SAFETY: as for `Send`.
unsafe impl Sync for HostFunc {}

impl Drop for HostFunc {
  fn drop(&mut self) {
    if self.thread == std::thread::current().id() {
      // SAFETY: our reference, deleted once, on its environment's thread.
      unsafe { sys::napi_delete_reference(self.env, self.func) };
    }
  }
}

impl HostFunc {
  pub(crate) fn new(env: &Env, func: sys::napi_value, ty: &wasmtime::FuncType, with_caller: bool, name: String) -> Result<HostFunc> {
    let mut t = 0;
    let mut r = ptr::null_mut();
    // SAFETY: `func` belongs to the current call on this thread.
    unsafe {
      sys::napi_typeof(env.raw(), func, &mut t);
      if t != sys::ValueType::napi_function {
        return Err(throw(env, Kind::Type, error::INVALID_ARGUMENT, &format!("the host function for {name} must be a function")));
      }
      sys::napi_create_reference(env.raw(), func, 0, &mut r);
    }
    Ok(HostFunc {
      func: r,
      env: env.raw(),
      thread: std::thread::current().id(),
      results: ty.results().collect(),
      with_caller,
      name,
    })
  }

  /// The JavaScript function, or null once collected.
  pub(crate) fn value(&self) -> sys::napi_value {
    let mut v = ptr::null_mut();
    if self.thread == std::thread::current().id() {
      // SAFETY: our weak reference, read on its environment's thread.
      unsafe { sys::napi_get_reference_value(self.env, self.func, &mut v) };
    }
    v
  }

  /// The body of the wasmtime host function.
  pub(crate) fn call(&self, mut caller: wasmtime::Caller<'_, StoreData>, params: &[Val], results: &mut [Val]) -> wasmtime::Result<()> {
    if self.thread != std::thread::current().id() {
      wasmtime::bail!("host function {} was called on a thread other than its JavaScript thread", self.name);
    }
    let env = self.env;
    let mut scope = ptr::null_mut();
    // SAFETY: a handle scope on this thread's env, closed below on every path,
    // so a long wasm loop of host calls does not pile up JavaScript handles.
    unsafe { sys::napi_open_handle_scope(env, &mut scope) };
    let outcome = self.call_in_scope(&mut caller, params, results);
    // SAFETY: the scope opened above.
    unsafe { sys::napi_close_handle_scope(env, scope) };
    match outcome {
      Ok(()) => Ok(()),
      Err(CallFailure::Js) => Err(wasmtime::Error::new(JsException)),
      Err(CallFailure::Host(msg)) => Err(wasmtime::Error::msg(msg)),
    }
  }

  fn call_in_scope(&self, caller: &mut wasmtime::Caller<'_, StoreData>, params: &[Val], results: &mut [Val]) -> std::result::Result<(), CallFailure> {
    let raw = self.env;
    let env = Env::from_raw(raw);
    let shared_ptr = caller.data().shared;
    // SAFETY: `shared` points at the live StoreShared that owns this store (it
    // is running a call); taking a counted handle keeps it so.
    let shared: Rc<StoreShared> = unsafe {
      Rc::increment_strong_count(shared_ptr);
      Rc::from_raw(shared_ptr)
    };
    let call = shared.next_host_call();
    let mut argv = Vec::with_capacity(params.len() + 1);
    if self.with_caller {
      let ptr = caller as *mut wasmtime::Caller<'_, StoreData> as *mut wasmtime::Caller<'static, StoreData>;
      let js_caller = Caller { store: shared.clone(), ptr, call };
      // SAFETY: making a class instance on the current env.
      let v = unsafe { Caller::to_napi_value(raw, js_caller) }.map_err(|_| self.pending_or("could not create the caller object"))?;
      shared.attach_roots(&env, v);
      argv.push(v);
    }
    for p in params {
      argv.push(from_val(&env, &shared, &mut *caller, p).map_err(|_| self.pending_or("could not convert an argument"))?);
    }
    let mut recv = ptr::null_mut();
    let mut ret = ptr::null_mut();
    let func = self.value();
    if func.is_null() {
      return Err(CallFailure::Host(format!(
        "host function {} was garbage-collected: keep the Linker that defined it, or a handle of the store, alive while wasm may call it",
        self.name
      )));
    }
    // SAFETY: values on this env; the JavaScript call may re-enter the store
    // through `caller`, which `enter_host` registers.
    let status = unsafe {
      sys::napi_get_undefined(raw, &mut recv);
      shared.enter_host(caller, call, || sys::napi_call_function(raw, recv, func, argv.len(), argv.as_ptr(), &mut ret))
    };
    if status != sys::Status::napi_ok {
      return Err(self.pending_into(caller));
    }
    let what = |i: usize| {
      let name = self.name.clone();
      move || if i == usize::MAX { format!("the result of host function {name}") } else { format!("result {i} of host function {name}") }
    };
    match self.results.len() {
      0 => {}
      1 => {
        results[0] = to_val(&env, &mut *caller, ret, &self.results[0], &what(usize::MAX)).map_err(|_| self.pending_into(caller))?;
      }
      n => {
        let mut is_array = false;
        let mut len = 0u32;
        // SAFETY: `ret` is a value of this env.
        unsafe {
          sys::napi_is_array(raw, ret, &mut is_array);
          if is_array {
            sys::napi_get_array_length(raw, ret, &mut len);
          }
        }
        if !is_array || len as usize != n {
          let tys: Vec<String> = self.results.iter().map(type_name).collect();
          return Err(CallFailure::Host(format!(
            "host function {} must return an array of {n} values ({}), as its type says",
            self.name,
            tys.join(", ")
          )));
        }
        for i in 0..n {
          let mut item = ptr::null_mut();
          // SAFETY: index within the array's length.
          unsafe { sys::napi_get_element(raw, ret, i as u32, &mut item) };
          results[i] = to_val(&env, &mut *caller, item, &self.results[i], &what(i)).map_err(|_| self.pending_into(caller))?;
        }
      }
    }
    Ok(())
  }

  /// Moves the pending JavaScript exception (any value, primitives too) into
  /// the store, to be rethrown to the JavaScript caller of wasm once the wasm
  /// frames have unwound.
  fn pending_into(&self, caller: &mut wasmtime::Caller<'_, StoreData>) -> CallFailure {
    let raw = self.env;
    let mut pending = false;
    let mut exc = ptr::null_mut();
    // SAFETY: this env's pending exception, taken once.
    unsafe {
      sys::napi_is_exception_pending(raw, &mut pending);
      if !pending || sys::napi_get_and_clear_last_exception(raw, &mut exc) != sys::Status::napi_ok || exc.is_null() {
        return CallFailure::Host(format!("host function {} failed", self.name));
      }
    }
    match crate::val::JsRef::new(raw, exc) {
      Some(held) => {
        caller.data_mut().pending_exception = Some(held);
        CallFailure::Js
      }
      None => CallFailure::Host(format!("host function {} threw, and the exception could not be kept", self.name)),
    }
  }

  fn pending_or(&self, msg: &str) -> CallFailure {
    CallFailure::Host(format!("host function {}: {msg}", self.name))
  }
}

enum CallFailure {
  /// A JavaScript exception, now in `StoreData::pending_exception`.
  Js,
  Host(String),
}

/// The calling instance, given to host functions defined with `{ caller: true }`
/// as their first argument. Valid only during that host call.
#[napi]
pub struct Caller {
  store: Rc<StoreShared>,
  ptr: *mut wasmtime::Caller<'static, StoreData>,
  /// The number of the host call this caller belongs to.
  call: u64,
}

#[napi]
impl Caller {
  /// The calling instance's export `name` (a function, memory, table or
  /// global), or `undefined`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Caller.html#method.get_export>
  #[napi(catch_unwind, ts_return_type = "WasmFunction | Memory | Table | Global | undefined")]
  pub fn get_export<'env>(&self, env: &'env Env, name: String) -> Result<Unknown<'env>> {
    if !self.store.is_active_caller(self.ptr, self.call) {
      return Err(throw(env, Kind::Error, error::INVALID_ARGUMENT, "this Caller is only valid during the host call it was given to"));
    }
    // SAFETY: the pointer is registered as a running host call (checked
    // above), whose host function is blocked in the JavaScript call we are in.
    let caller = unsafe { &mut *self.ptr };
    let value = match caller.get_export(&name) {
      Some(ext) => extern_to_js(env, &self.store, &mut *caller, ext, &name)?,
      None => {
        let mut u = ptr::null_mut();
        // SAFETY: the current call's env.
        unsafe { sys::napi_get_undefined(env.raw(), &mut u) };
        u
      }
    };
    // SAFETY: made on `env` in this call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
  }
}
