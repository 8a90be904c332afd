//! Host functions: JavaScript functions that wasm calls, always on the
//! JavaScript thread ([`wasmtime::Func::new`] / [`wasmtime::Linker::func_new`]),
//! and the [`Caller`] they may receive. A call from wasm running on a pool
//! thread (`callAsync`) is sent to the JavaScript thread and waited for there
//! (async_call.rs); only such a call may return a Promise.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.func_new>
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Caller.html>

use crate::error::{self, throw, Kind};
use crate::externs::export_to_js;
use crate::store::{StoreData, StoreShared};
use crate::trap::JsException;
use crate::val::{from_val, numbers_only, to_val, type_name, NUMERIC_SLOTS};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::mem::MaybeUninit;
use std::ptr;
use std::rc::Rc;
use std::thread::ThreadId;
use wasmtime::{Val, ValRaw, ValType};

/// A JavaScript function that wasm can call. It is held weakly: the Linker
/// object that defined it and the stores it was instantiated into root it
/// from JavaScript (see `store.rs`), so no native reference keeps alive a
/// function that closes over the store.
pub(crate) struct HostFunc {
  func: sys::napi_ref,
  env: sys::napi_env,
  thread: ThreadId,
  params: Vec<ValType>,
  pub(crate) results: Vec<ValType>,
  with_caller: bool,
  pub(crate) name: String,
}

// SAFETY: the JavaScript function is only touched on `thread`, the thread of
// its environment; `call` refuses any other thread, and `drop` leaks the
// reference there. wasmtime requires host closures to be `Send + Sync`.
unsafe impl Send for HostFunc {}
// SAFETY: as for `Send`.
unsafe impl Sync for HostFunc {}

impl Drop for HostFunc {
  fn drop(&mut self) {
    if self.thread == crate::thread_id() {
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
      thread: crate::thread_id(),
      params: ty.params().collect(),
      results: ty.results().collect(),
      with_caller,
      name,
    })
  }

  /// The JavaScript function, or null once collected.
  pub(crate) fn value(&self) -> sys::napi_value {
    let mut v = ptr::null_mut();
    if self.thread == crate::thread_id() {
      // SAFETY: our weak reference, read on its environment's thread.
      unsafe { sys::napi_get_reference_value(self.env, self.func, &mut v) };
    }
    v
  }

  /// The body of the wasmtime host function.
  pub(crate) fn call(&self, mut caller: wasmtime::Caller<'_, StoreData>, params: &[Val], results: &mut [Val]) -> wasmtime::Result<()> {
    if self.thread != crate::thread_id() {
      // wasm on a pool thread (`callAsync`): the JavaScript thread runs it.
      return crate::async_call::host_call(self, &mut caller, params, results);
    }
    let env = self.env;
    let mut scope = ptr::null_mut();
    // SAFETY: a handle scope on this thread's env, closed below on every path,
    // so a long wasm loop of host calls does not pile up JavaScript handles.
    unsafe { sys::napi_open_handle_scope(env, &mut scope) };
    let outcome = self.call_in_scope(&mut caller, params, results);
    // SAFETY: the scope opened above.
    unsafe { sys::napi_close_handle_scope(env, scope) };
    outcome.map_err(CallFailure::into_wasmtime)
  }

  /// Whether this function can take wasmtime's raw calling convention
  /// ([`wasmtime::Linker::func_new_unchecked`], with `call_raw`):
  /// `numbers_only` of its type.
  pub(crate) fn raw_convention(&self) -> bool {
    numbers_only(&self.params, &self.results)
  }

  /// The body of a host function defined with the raw calling convention
  /// (`raw_convention`): the same call as `call`, without wasmtime's typed
  /// values in between, which were a fifth of a host call (converting each
  /// value by its type, checking each result's type against the store).
  ///
  /// # Safety
  /// wasmtime passes `raw` as [`wasmtime::Func::new_unchecked`] says: the
  /// parameters of this function's type, initialised, in `raw[..params]`,
  /// and room for its results. Only a function whose type passed
  /// `raw_convention` may be defined with this.
  pub(crate) unsafe fn call_raw(&self, caller: wasmtime::Caller<'_, StoreData>, raw: &mut [MaybeUninit<ValRaw>]) -> wasmtime::Result<()> {
    let (np, nr) = (self.params.len(), self.results.len());
    if np > NUMERIC_SLOTS || nr > NUMERIC_SLOTS || raw.len() < np.max(nr) {
      return Err(CallFailure::Host(format!("host function {}: wasmtime passed {} value slots for {np} parameters and {nr} results", self.name, raw.len())).into_wasmtime());
    }
    let mut params = [Val::I32(0); NUMERIC_SLOTS];
    for (i, t) in self.params.iter().enumerate() {
      // SAFETY: `raw[i]`, `i < np`, is parameter `i`, initialised (this
      // function's contract).
      let r = unsafe { raw[i].assume_init() };
      params[i] = match t {
        ValType::I32 => Val::I32(r.get_i32()),
        ValType::I64 => Val::I64(r.get_i64()),
        ValType::F32 => Val::F32(r.get_f32()),
        ValType::F64 => Val::F64(r.get_f64()),
        _ => return Err(CallFailure::Host(format!("host function {}: parameter {i} is not a number type", self.name)).into_wasmtime()),
      };
    }
    let mut results = [Val::I32(0); NUMERIC_SLOTS];
    self.call(caller, &params[..np], &mut results[..nr])?;
    for (i, (t, v)) in self.results.iter().zip(&results[..nr]).enumerate() {
      // `take_results` converted each result to its type; a mismatch is
      // refused all the same, never written as another type.
      raw[i] = MaybeUninit::new(match (t, *v) {
        (ValType::I32, Val::I32(x)) => ValRaw::i32(x),
        (ValType::I64, Val::I64(x)) => ValRaw::i64(x),
        (ValType::F32, Val::F32(x)) => ValRaw::f32(x),
        (ValType::F64, Val::F64(x)) => ValRaw::f64(x),
        _ => return Err(CallFailure::Host(format!("host function {}: result {i} does not have its type", self.name)).into_wasmtime()),
      });
    }
    Ok(())
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
    let ptr = caller as *mut wasmtime::Caller<'_, StoreData> as *mut wasmtime::Caller<'static, StoreData>;
    let argv = self.js_args(&env, &shared, caller, ptr, call, params)?;
    let ret = shared.enter_host(caller, call, || self.invoke(&argv));
    let ret = ret.map_err(|failed| failed.unwrap_or_else(|| self.pending_into(caller)))?;
    // A Promise is caught where it must be: unused (no results), or when it
    // fails to convert (as one value, or as the array several results need);
    // a result that converts costs no check.
    if self.results.is_empty() && is_promise(raw, ret) {
      return Err(self.promise_in_sync_call(&env, caller, ret));
    }
    match self.take_results(&env, caller, ret, results) {
      Err(_) if is_promise(raw, ret) => Err(self.promise_in_sync_call(&env, caller, ret)),
      r => r,
    }
  }

  /// The error for a Promise returned to a synchronous call (whose rejection,
  /// if any, is then ignored rather than left unhandled).
  fn promise_in_sync_call(&self, env: &Env, caller: &mut wasmtime::Caller<'_, StoreData>, promise: sys::napi_value) -> CallFailure {
    settle_quietly(env.raw(), promise);
    throw(
      env,
      Kind::Error,
      error::HOST_PROMISE,
      &format!(
        "host function {} returned a Promise during a synchronous call into wasm, which cannot wait for it; call the export with fn.callAsync(...) so the guest waits for the Promise",
        self.name
      ),
    );
    self.pending_into(caller)
  }

  /// The JavaScript arguments of a call: the `Caller` object (with
  /// `{ caller: true }`, for `ptr`, which is `caller`), then the parameters.
  pub(crate) fn js_args(
    &self,
    env: &Env,
    shared: &Rc<StoreShared>,
    caller: &mut wasmtime::Caller<'_, StoreData>,
    ptr: *mut wasmtime::Caller<'static, StoreData>,
    call: u64,
    params: &[Val],
  ) -> std::result::Result<Args, CallFailure> {
    let raw = env.raw();
    let mut argv = Args::with_capacity(params.len() + 1);
    if self.with_caller {
      let js_caller = Caller { store: shared.clone(), ptr, call };
      // SAFETY: making a class instance on the current env.
      let v = unsafe { Caller::to_napi_value(raw, js_caller) }.map_err(|_| self.pending_or("could not create the caller object"))?;
      shared.attach_roots(env, v);
      argv.push(v);
    }
    for p in params {
      argv.push(from_val(env, shared, &mut *caller, p).map_err(|_| self.pending_or("could not convert an argument"))?);
    }
    Ok(argv)
  }

  /// Calls the JavaScript function with `argv`: its return value; or
  /// `Err(None)` when it threw (the exception is pending), `Err(Some(..))`
  /// when it was collected. The caller registers the store's way in.
  pub(crate) fn invoke(&self, argv: &[sys::napi_value]) -> std::result::Result<sys::napi_value, Option<CallFailure>> {
    let raw = self.env;
    let func = self.value();
    if func.is_null() {
      return Err(Some(CallFailure::Host(format!(
        "host function {} was garbage-collected: keep the Linker that defined it, or a handle of the store, alive while wasm may call it",
        self.name
      ))));
    }
    let mut recv = ptr::null_mut();
    let mut ret = ptr::null_mut();
    // SAFETY: values on this env, on its thread; `func` is a live function.
    let status = unsafe {
      sys::napi_get_undefined(raw, &mut recv);
      sys::napi_call_function(raw, recv, func, argv.len(), argv.as_ptr(), &mut ret)
    };
    if status == sys::Status::napi_ok {
      Ok(ret)
    } else {
      Err(None)
    }
  }

  /// `take_results` into a new vector (for a guest waiting on another thread).
  pub(crate) fn results_of(&self, env: &Env, caller: &mut wasmtime::Caller<'_, StoreData>, ret: sys::napi_value) -> std::result::Result<Vec<Val>, CallFailure> {
    let mut results = vec![Val::I32(0); self.results.len()];
    self.take_results(env, caller, ret, &mut results).map(|()| results)
  }

  /// Converts what the JavaScript function returned (`ret`) into `results`.
  pub(crate) fn take_results(
    &self,
    env: &Env,
    caller: &mut wasmtime::Caller<'_, StoreData>,
    ret: sys::napi_value,
    results: &mut [Val],
  ) -> std::result::Result<(), CallFailure> {
    let raw = env.raw();
    // Only formatted when a result is wrong.
    let what = |i: usize| {
      move || if i == usize::MAX { format!("the result of host function {}", self.name) } else { format!("result {i} of host function {}", self.name) }
    };
    match self.results.len() {
      0 => {}
      1 => {
        results[0] = to_val(env, &mut *caller, ret, &self.results[0], &what(usize::MAX)).map_err(|_| self.pending_into(caller))?;
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
          results[i] = to_val(env, &mut *caller, item, &self.results[i], &what(i)).map_err(|_| self.pending_into(caller))?;
        }
      }
    }
    Ok(())
  }

  /// Moves the pending JavaScript exception (any value, primitives too) into
  /// the store, to be rethrown to the JavaScript caller of wasm once the wasm
  /// frames have unwound.
  pub(crate) fn pending_into(&self, caller: &mut wasmtime::Caller<'_, StoreData>) -> CallFailure {
    match crate::error::take_pending(self.env) {
      Some(exc) => rethrow_later(self.env, caller, exc, &self.name),
      None => CallFailure::Host(format!("host function {} failed", self.name)),
    }
  }

  fn pending_or(&self, msg: &str) -> CallFailure {
    CallFailure::Host(format!("host function {}: {msg}", self.name))
  }
}

/// Keeps `exc` (any JavaScript value a host function threw, or its Promise
/// rejected with) in the store, to be rethrown to the JavaScript caller of
/// wasm once the wasm frames have unwound.
pub(crate) fn rethrow_later(raw: sys::napi_env, caller: &mut wasmtime::Caller<'_, StoreData>, exc: sys::napi_value, name: &str) -> CallFailure {
  match crate::val::JsRef::new(raw, exc) {
    Some(held) => {
      caller.data_mut().pending_exception = Some(held);
      CallFailure::Js
    }
    None => CallFailure::Host(format!("host function {name} threw, and the exception could not be kept")),
  }
}

/// Whether `v` is a Promise.
pub(crate) fn is_promise(raw: sys::napi_env, v: sys::napi_value) -> bool {
  let mut is = false;
  // SAFETY: a value of the current call on this env.
  unsafe { sys::napi_is_promise(raw, v, &mut is) };
  is
}

/// Attaches a handler that ignores the rejection of `promise`, a Promise
/// nobody will wait for: an unhandled rejection would end the process.
fn settle_quietly(raw: sys::napi_env, promise: sys::napi_value) {
  let f = crate::store::noop_fn(raw);
  then(raw, promise, f, f);
}

/// `promise.then(on_fulfilled, on_rejected)`; false if that threw (its
/// exception is cleared).
pub(crate) fn then(raw: sys::napi_env, promise: sys::napi_value, on_fulfilled: sys::napi_value, on_rejected: sys::napi_value) -> bool {
  let mut then = ptr::null_mut();
  let mut out = ptr::null_mut();
  let args = [on_fulfilled, on_rejected];
  // SAFETY: values of this env, on its thread.
  let ok = unsafe {
    sys::napi_get_named_property(raw, promise, c"then".as_ptr(), &mut then) == sys::Status::napi_ok
      && sys::napi_call_function(raw, promise, then, 2, args.as_ptr(), &mut out) == sys::Status::napi_ok
  };
  if !ok {
    let mut exc = ptr::null_mut();
    // SAFETY: this env's pending exception, if any, dropped.
    unsafe { sys::napi_get_and_clear_last_exception(raw, &mut exc) };
  }
  ok
}

/// The arguments of one host call: on the stack up to eight.
pub(crate) type Args = smallvec::SmallVec<[sys::napi_value; 8]>;

/// Why a host call did not produce results.
pub(crate) enum CallFailure {
  /// A JavaScript exception, now in `StoreData::pending_exception`.
  Js,
  Host(String),
}

impl CallFailure {
  /// The error wasmtime carries out of the host call.
  pub(crate) fn into_wasmtime(self) -> wasmtime::Error {
    match self {
      CallFailure::Js => wasmtime::Error::new(JsException),
      CallFailure::Host(msg) => wasmtime::Error::msg(msg),
    }
  }
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
    let value = self.store.with_caller(env, self.ptr, self.call, |caller| {
      let ext = caller.get_export(&name);
      export_to_js(env, &self.store, &mut *caller, ext, &name)
    })?;
    // SAFETY: made on `env` in this call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
  }
}
