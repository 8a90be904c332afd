//! [`wasmtime::Func`]: wasm functions as JavaScript functions.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Func.html>
//!
//! Every wasm function given to JavaScript (an export, a funcref) is a real
//! JavaScript function, bound from one native trampoline (see [`trampoline`]):
//! arguments arrive positionally, with no array in between. The function
//! object is type-tagged and wraps its [`FuncData`], so it can be passed back
//! to wasm as a funcref or defined in a linker.

use crate::error::{self, throw, Kind};
use crate::store::{StoreData, StoreShared};
use crate::trap;
use crate::val::{from_val, numbers_only, to_val, type_name, NUMERIC_SLOTS};
use napi::bindgen_prelude::*;
use napi::sys;
use std::ffi::c_void;
use std::ptr;
use std::rc::Rc;
use wasmtime::{AsContextMut, RootScope, Val, ValRaw, ValType};

/// What a JavaScript function made for a wasm function carries: owned by the
/// function's external, freed by its finalizer.
pub(crate) struct FuncData {
  pub(crate) store: Rc<StoreShared>,
  pub(crate) func: wasmtime::Func,
  pub(crate) params: Vec<ValType>,
  pub(crate) results: Vec<ValType>,
  /// `numbers_only` of its type: calls take the fast path (`call_numeric`).
  numeric: bool,
}

/// Marks function objects made here, so that only their `FuncData` external
/// (under `data_key`) is ever read as one.
static FUNC_TAG: sys::napi_type_tag = sys::napi_type_tag { lower: 0x7761_736d_7469_6d65, upper: 0x6675_6e63_6461_7461 };

/// Marks the externals that hold a `FuncData`: the trampoline reads its bound
/// `this` as one only when it carries this tag, since JavaScript can reach the
/// trampoline (see `call`) and call it with any external as `this`.
static DATA_TAG: sys::napi_type_tag = sys::napi_type_tag { lower: 0x7761_736d_7469_6d65, upper: 0x6578_7466_756e_6364 };

/// Makes the JavaScript function for `func`.
///
/// Its `FuncData` is owned by an external, which the function holds and a
/// finalizer frees. The data cannot live in the store instead (one record per
/// wasm function, no finalizer per function, as 0555e9d had it): JavaScript
/// can reach the external (`Object.getOwnPropertySymbols(f)`, or a replaced
/// `bind` it is handed to) and the trampoline, keep only the external, and
/// call one on the other after the store is freed. Node-API externals carry
/// no properties, so nothing else could tie the store to the external.
pub(crate) fn js_function(
  env: &Env,
  store: &Rc<StoreShared>,
  cx: impl AsContextMut<Data = StoreData>,
  func: wasmtime::Func,
  name: &str,
) -> Result<sys::napi_value> {
  let raw = env.raw();
  let (trampoline, bind) = trampoline(raw);
  if !PROTOTYPE_SHARED.get() {
    PROTOTYPE_SHARED.set(share_prototype(raw, trampoline));
  }
  if !PROTOTYPE_SHARED.get() {
    return Err(throw(
      env,
      Kind::Error,
      error::INTERNAL,
      "a wasm function cannot get its prototype: Object.setPrototypeOf is not the original, or threw; restore it (wasm functions work again as soon as it is, unless it made their trampoline non-extensible)",
    ));
  }
  let ty = func.ty(&cx);
  let params: Vec<ValType> = ty.params().collect();
  let results: Vec<ValType> = ty.results().collect();
  let numeric = numbers_only(&params, &results);
  let data = Box::into_raw(Box::new(FuncData { store: store.clone(), func, params, results, numeric }));
  let mut ext = ptr::null_mut();
  let mut f = ptr::null_mut();
  let key = data_key(raw);
  // SAFETY: `data` is a live box owned by the external made here, freed by
  // `finalize_func_data` when that external is collected, never before; it
  // holds its store (`FuncData::store`). So whatever holds the external, `f`
  // or JavaScript that took it from `f`, can read the data. The external is
  // the bound `this` of `f` and a read-only, non-configurable property of `f`
  // (under `data_key`), so it outlives every call of `f` and every
  // `func_data` of `f`. A property instead of `napi_wrap` spares each
  // function a weak reference that every garbage collection must visit.
  unsafe {
    if sys::napi_create_external(raw, data.cast(), Some(finalize_func_data), ptr::null_mut(), &mut ext) != sys::Status::napi_ok {
      drop(Box::from_raw(data));
      return Err(throw(env, Kind::Error, error::INTERNAL, "could not create a function"));
    }
    // Left untagged, the external is garbage, and its finalizer frees `data`.
    if sys::napi_type_tag_object(raw, ext, &DATA_TAG) != sys::Status::napi_ok {
      return Err(throw(env, Kind::Error, error::INTERNAL, "could not create a function"));
    }
    if sys::napi_call_function(raw, trampoline, bind, 1, &ext, &mut f) != sys::Status::napi_ok || f.is_null() {
      return Err(throw(env, Kind::Error, error::INTERNAL, "could not create a function"));
    }
    let mut js_name = ptr::null_mut();
    sys::napi_create_string_utf8(raw, name.as_ptr().cast(), name.len() as isize, &mut js_name);
    let props = [
      crate::store::hidden_property(key, ext),
      // The store's roots (host functions, externrefs) live as long as `f`.
      (*data).store.roots_property(raw),
      // Like any function's `name`: read-only but configurable. `params`,
      // `results` and `callAsync` are on the prototype (see `share_prototype`).
      value_property(c"name", js_name, sys::PropertyAttributes::configurable),
    ];
    // Tagged only once the property is there: `func_data` trusts every
    // tagged function to carry it. Left untagged, `f` and its external are
    // garbage, and the external's finalizer frees `data`.
    if sys::napi_define_properties(raw, f, props.len(), props.as_ptr()) != sys::Status::napi_ok
      || sys::napi_type_tag_object(raw, f, &FUNC_TAG) != sys::Status::napi_ok
    {
      return Err(throw(env, Kind::Error, error::INTERNAL, "could not create a function"));
    }
  }
  Ok(f)
}

thread_local! {
  /// The symbol under which a wasm function keeps its `FuncData` external.
  static DATA_KEY: std::cell::Cell<sys::napi_ref> = const { std::cell::Cell::new(ptr::null_mut()) };
  /// The template-made function every wasm function is bound from.
  static TRAMPOLINE: std::cell::Cell<sys::napi_ref> = const { std::cell::Cell::new(ptr::null_mut()) };
  /// `Function.prototype.bind`.
  static BIND: std::cell::Cell<sys::napi_ref> = const { std::cell::Cell::new(ptr::null_mut()) };
  /// Whether the trampoline has its shared prototype (see `share_prototype`;
  /// tried again at each function until it has).
  static PROTOTYPE_SHARED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A descriptor of the data property `utf8name` = `value`.
fn value_property(utf8name: &'static std::ffi::CStr, value: sys::napi_value, attributes: sys::napi_property_attributes) -> sys::napi_property_descriptor {
  crate::store::property(utf8name.as_ptr(), ptr::null_mut(), value, attributes)
}

/// The trampoline and `Function.prototype.bind`, made once per thread.
///
/// Why not `napi_create_function` per wasm function: on Node 24, every error
/// created while such a function is on the stack survives young-generation
/// collections until the next full one, so a loop of traps grows V8's new
/// space to its maximum (about 130 MB of RSS). Functions made from a template
/// (`napi_define_class`) do not have that cost. Templates are never freed, so
/// there is one, and each wasm function is `trampoline.bind(external)`: a
/// distinct, collectable function whose bound `this` carries its `FuncData`.
fn trampoline(raw: sys::napi_env) -> (sys::napi_value, sys::napi_value) {
  let t = crate::store::per_thread(raw, &TRAMPOLINE, || {
    let getter = |utf8name: &'static std::ffi::CStr, getter| sys::napi_property_descriptor {
      getter: Some(getter),
      ..value_property(utf8name, ptr::null_mut(), sys::PropertyAttributes::configurable)
    };
    let props = [getter(c"params", get_params), getter(c"results", get_results)];
    let mut cls = ptr::null_mut();
    // SAFETY: a class with two getters, made on this thread's env.
    unsafe { sys::napi_define_class(raw, c"wasm".as_ptr(), 4, Some(call_trampoline), ptr::null_mut(), props.len(), props.as_ptr(), &mut cls) };
    cls
  });
  let bind = crate::store::per_thread(raw, &BIND, || {
    let mut b = ptr::null_mut();
    // SAFETY: a property of a function made on this env.
    unsafe { sys::napi_get_named_property(raw, t, c"bind".as_ptr(), &mut b) };
    b
  });
  (t, bind)
}

/// Makes the trampoline's `prototype` object (the getters of `params` and
/// `results`, and `callAsync`, over `Function.prototype`) the prototype of
/// the trampoline itself, and so of every function bound from it (a bound
/// function's prototype is its target's): every wasm function of the thread
/// shares these, as instances share their class's methods. Three own
/// properties on each function, two of them new arrays, were a third of
/// making it, and every export of every per-request instance is a new one.
///
/// Returns whether that took: it runs `Object.setPrototypeOf`, which
/// JavaScript may have replaced before this thread's first wasm function.
/// Running it again is harmless.
fn share_prototype(raw: sys::napi_env, trampoline: sys::napi_value) -> bool {
  // SAFETY: (all below) values made on, or reached from, this thread's env.
  unsafe {
    let get = |from: sys::napi_value, name: &std::ffi::CStr| {
      let mut v = ptr::null_mut();
      sys::napi_get_named_property(raw, from, name.as_ptr(), &mut v);
      v
    };
    let prototype_of = |of: sys::napi_value| {
      let mut v = ptr::null_mut();
      sys::napi_get_prototype(raw, of, &mut v);
      v
    };
    let same = |a: sys::napi_value, b: sys::napi_value| {
      let mut eq = false;
      !a.is_null() && !b.is_null() && sys::napi_strict_equals(raw, a, b, &mut eq) == sys::Status::napi_ok && eq
    };
    // The realm's own `Function.prototype`, whatever the global `Function`,
    // or an earlier attempt's replaced `setPrototypeOf`, did: the prototype
    // of a function made just now, which nothing else has seen.
    let mut fresh = ptr::null_mut();
    sys::napi_create_function(raw, c"".as_ptr(), 0, Some(crate::store::noop_body), ptr::null_mut(), &mut fresh);
    let function_prototype = prototype_of(fresh);
    let proto = get(trampoline, c"prototype");
    let call_async = value_property(
      c"callAsync",
      crate::async_call::call_async_function(raw),
      sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable,
    );
    sys::napi_define_properties(raw, proto, 1, &call_async);
    // `f.constructor` stays `Function`, as for any function.
    let mut key = ptr::null_mut();
    sys::napi_create_string_utf8(raw, c"constructor".as_ptr(), 11, &mut key);
    let mut deleted = false;
    sys::napi_delete_property(raw, proto, key, &mut deleted);
    let mut global = ptr::null_mut();
    sys::napi_get_global(raw, &mut global);
    let object = get(global, c"Object");
    let set_prototype_of = get(object, c"setPrototypeOf");
    let mut ignored = ptr::null_mut();
    sys::napi_call_function(raw, object, set_prototype_of, 2, [proto, function_prototype].as_ptr(), &mut ignored);
    sys::napi_call_function(raw, object, set_prototype_of, 2, [trampoline, proto].as_ptr(), &mut ignored);
    // What a replaced `Object` or `setPrototypeOf` threw gives way to the
    // caller's coded error.
    let threw = crate::error::take_pending(raw).is_some();
    !threw && same(prototype_of(proto), function_prototype) && same(prototype_of(trampoline), proto)
  }
}

unsafe extern "C" fn get_params(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  // SAFETY: the live env and callback info of this call.
  unsafe { get_types(env, info, |fd| &fd.params) }
}

unsafe extern "C" fn get_results(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  // SAFETY: the live env and callback info of this call.
  unsafe { get_types(env, info, |fd| &fd.results) }
}

/// `fn.params` and `fn.results`: a new array of type names, so that changing
/// one changes nothing else.
///
/// # Safety
/// `env` and `info` are those of the current callback.
unsafe fn get_types(env: sys::napi_env, info: sys::napi_callback_info, which: fn(&FuncData) -> &Vec<ValType>) -> sys::napi_value {
  let e = Env::from_raw(env);
  let arr = error::guard(&e, "reading a wasm function's type", || {
    let mut this = ptr::null_mut();
    let mut arr = ptr::null_mut();
    // SAFETY: (all below) the env and info of the current callback; `fd`
    // lives as long as `this`, a value of this call.
    unsafe {
      sys::napi_get_cb_info(env, info, &mut 0, ptr::null_mut(), &mut this, ptr::null_mut());
      let Some(fd) = func_data(&e, this) else {
        return Err(throw(&e, Kind::Type, error::INVALID_ARGUMENT, "params and results are read from a wasm function: fn.params"));
      };
      let tys = which(fd);
      sys::napi_create_array_with_length(env, tys.len(), &mut arr);
      for (i, t) in tys.iter().enumerate() {
        let s = type_name(t);
        let mut v = ptr::null_mut();
        sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v);
        sys::napi_set_element(env, arr, i as u32, v);
      }
    }
    Ok(arr)
  });
  // An error is pending when there is none.
  arr.unwrap_or(ptr::null_mut())
}

fn data_key(raw: sys::napi_env) -> sys::napi_value {
  crate::store::per_thread_symbol(raw, &DATA_KEY, c"wasmtime-napi.func")
}

unsafe extern "C" fn finalize_func_data(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  // SAFETY: `data` is the box made in `js_function`, finalized once.
  drop(unsafe { Box::from_raw(data as *mut FuncData) });
}

/// The wasm function behind a JavaScript function made by `js_function`, and
/// the store it belongs to.
pub(crate) fn wasm_func_of(env: &Env, value: sys::napi_value) -> Option<(wasmtime::Func, *const StoreShared)> {
  // SAFETY: the data lives as long as `value`, a value of the current call.
  let fd = unsafe { func_data(env, value) }?;
  Some((fd.func, Rc::as_ptr(&fd.store)))
}

/// What a JavaScript function made by `js_function` carries, or `None` for
/// any other value.
///
/// # Safety
/// The reference must not outlive `value`, which holds the data.
pub(crate) unsafe fn func_data<'a>(env: &Env, value: sys::napi_value) -> Option<&'a FuncData> {
  let raw = env.raw();
  let mut tagged = false;
  // SAFETY: `value` belongs to the current call. Only functions carrying our
  // tag are read, and `js_function` gave each of those, before any JavaScript
  // saw it, a read-only, non-configurable own property under `data_key`
  // holding the external of a `FuncData` that lives as long as the function.
  unsafe {
    let mut t = 0;
    sys::napi_typeof(raw, value, &mut t);
    if t != sys::ValueType::napi_function {
      return None;
    }
    if sys::napi_check_object_type_tag(raw, value, &FUNC_TAG, &mut tagged) != sys::Status::napi_ok || !tagged {
      return None;
    }
    let mut ext = ptr::null_mut();
    if sys::napi_get_property(raw, value, data_key(raw), &mut ext) != sys::Status::napi_ok {
      return None;
    }
    // And the external must be ours: `value` may be a Proxy (from a replaced
    // `bind`), whose traps run here.
    let mut ours = false;
    if sys::napi_check_object_type_tag(raw, ext, &DATA_TAG, &mut ours) != sys::Status::napi_ok || !ours {
      return None;
    }
    let mut data = ptr::null_mut();
    if sys::napi_get_value_external(raw, ext, &mut data) != sys::Status::napi_ok {
      return None;
    }
    (data as *const FuncData).as_ref()
  }
}

const INLINE_ARGS: usize = 8;

unsafe extern "C" fn call_trampoline(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    // SAFETY: napi calls this with the live env and callback info of a call to
    // a function made by `js_function`, whose data is a live `FuncData`.
    unsafe { call(env, info) }
  }));
  match result {
    Ok(Ok(v)) => v,
    Ok(Err(_)) => ptr::null_mut(), // the exception is pending
    Err(_) => {
      let e = Env::from_raw(env);
      throw(&e, Kind::Error, error::PANIC, "a call into wasm panicked inside the native addon; please report this");
      ptr::null_mut()
    }
  }
}

unsafe fn call(env: sys::napi_env, info: sys::napi_callback_info) -> Result<sys::napi_value> {
  let e = Env::from_raw(env);
  let mut argc = INLINE_ARGS;
  let mut inline = [ptr::null_mut(); INLINE_ARGS];
  let mut this = ptr::null_mut();
  let mut data = ptr::null_mut();
  // SAFETY: (all below) the env and info of the current callback.
  unsafe { sys::napi_get_cb_info(env, info, &mut argc, inline.as_mut_ptr(), &mut this, ptr::null_mut()) };
  // Only an external tagged in `js_function` holds a `FuncData`. `this` is
  // usually the bound external; under `new` it is a fresh object. And the
  // trampoline itself can reach JavaScript: `js_function` binds it with the
  // `Function.prototype.bind` of a thread's first wasm function, which
  // JavaScript may have replaced by then, and such a `bind` can call the
  // trampoline with any `this`, another addon's external included.
  let mut ours = false;
  // SAFETY: `this` of the current callback; checking a tag of a value of any
  // type fails cleanly (a napi status, or `ours` false).
  let tagged = unsafe { sys::napi_check_object_type_tag(env, this, &DATA_TAG, &mut ours) } == sys::Status::napi_ok && ours;
  // SAFETY: as above; reading a value as an external fails cleanly for
  // anything else.
  if !tagged || unsafe { sys::napi_get_value_external(env, this, &mut data) } != sys::Status::napi_ok || data.is_null() {
    let mut t = sys::ValueType::napi_undefined;
    // SAFETY: as above.
    unsafe { sys::napi_typeof(env, this, &mut t) };
    let message = if t == sys::ValueType::napi_external {
      "this function runs only bound to a wasm function's own data; call the wasm function instead"
    } else {
      "a wasm function is not a constructor: call it without `new`"
    };
    return Err(throw(&e, Kind::Type, error::INVALID_ARGUMENT, message));
  }
  // SAFETY: `this` carries `DATA_TAG`, which only `js_function` gives, to an
  // external it made holding a live `FuncData` (freed only when that
  // external is collected, and `this` holds it for this call).
  let fd = unsafe { &*(data as *const FuncData) };
  let mut heap = Vec::new();
  let args: &[sys::napi_value] = if argc <= INLINE_ARGS {
    &inline[..argc]
  } else {
    heap.resize(argc, ptr::null_mut());
    let mut n = argc;
    // SAFETY: the current callback's env and info; `heap` has room for `n`.
    unsafe { sys::napi_get_cb_info(env, info, &mut n, heap.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()) };
    &heap[..]
  };
  if fd.numeric && args.len() == fd.params.len() {
    return call_numeric(&e, fd, args);
  }
  call_func(&e, &fd.store, fd.func, &fd.params, &fd.results, args)
}

/// The hot path for functions of numbers only: one napi call per argument and
/// result, no allocation, no root scope, and `call_unchecked` on a stack array.
fn call_numeric(env: &Env, fd: &FuncData, args: &[sys::napi_value]) -> Result<sys::napi_value> {
  let raw = env.raw();
  let mut slots = [ValRaw::i32(0); NUMERIC_SLOTS];
  for (i, (a, ty)) in args.iter().zip(&fd.params).enumerate() {
    slots[i] = match numeric_arg(raw, *a, ty) {
      Some(v) => v,
      // Let the general conversion say precisely what was wrong.
      None => {
        return fd.store.with(env, |mut cx| to_val(env, &mut cx, *a, ty, &|| format!("argument {i}")).map(|_| ptr::null_mut()))
      }
    };
  }
  let n = fd.params.len().max(fd.results.len());
  let func = fd.func;
  fd.store.enter(env, |mut cx| {
    // SAFETY: `slots` holds `n` >= params and >= results values; the first
    // `params.len()` were written with exactly the parameter types (checked
    // by `numeric_arg` against the function's own type), and there are no
    // references among them. This is not a call from within an async call.
    let r = unsafe { func.call_unchecked(&mut cx, &mut slots[..n] as *mut [ValRaw]) };
    r.map_err(|e| trap::throw_call_error(env, &mut cx, &e))
  })?;
  let mut out = ptr::null_mut();
  match fd.results.len() {
    // SAFETY: the current call's env.
    0 => unsafe { sys::napi_get_undefined(raw, &mut out) },
    1 => return numeric_result(env, &slots[0], &fd.results[0]),
    k => {
      // SAFETY: the current call's env; indices in range.
      unsafe { sys::napi_create_array_with_length(raw, k, &mut out) };
      for (i, ty) in fd.results.iter().enumerate() {
        let v = numeric_result(env, &slots[i], ty)?;
        // SAFETY: as above.
        unsafe { sys::napi_set_element(raw, out, i as u32, v) };
      }
      sys::Status::napi_ok
    }
  };
  Ok(out)
}

/// A JavaScript number (or BigInt, for i64) as a raw wasm value, or `None` if
/// it has the wrong type.
fn numeric_arg(env: sys::napi_env, v: sys::napi_value, ty: &ValType) -> Option<ValRaw> {
  // SAFETY: `v` is an argument of the current call; each getter checks the
  // value's type itself and fails without side effects on a mismatch.
  unsafe {
    match ty {
      ValType::I32 => {
        let mut x = 0i32;
        (sys::napi_get_value_int32(env, v, &mut x) == sys::Status::napi_ok).then(|| ValRaw::i32(x))
      }
      ValType::F64 => {
        let mut d = 0.0;
        (sys::napi_get_value_double(env, v, &mut d) == sys::Status::napi_ok).then(|| ValRaw::f64(d.to_bits()))
      }
      ValType::F32 => {
        let mut d = 0.0;
        (sys::napi_get_value_double(env, v, &mut d) == sys::Status::napi_ok).then(|| ValRaw::f32((d as f32).to_bits()))
      }
      ValType::I64 => {
        let (mut x, mut lossless) = (0i64, false);
        if sys::napi_get_value_bigint_int64(env, v, &mut x, &mut lossless) == sys::Status::napi_ok {
          return Some(ValRaw::i64(x));
        }
        let mut d = 0.0;
        (sys::napi_get_value_double(env, v, &mut d) == sys::Status::napi_ok
          && d.fract() == 0.0
          && d.abs() <= crate::val::MAX_SAFE)
          .then(|| ValRaw::i64(d as i64))
      }
      _ => None,
    }
  }
}

fn numeric_result(env: &Env, v: &ValRaw, ty: &ValType) -> Result<sys::napi_value> {
  let val = match ty {
    ValType::I32 => Val::I32(v.get_i32()),
    ValType::I64 => Val::I64(v.get_i64()),
    ValType::F32 => Val::F32(v.get_f32()),
    _ => Val::F64(v.get_f64()),
  };
  crate::val::number_or_bigint(env, &val)
}

/// The error for a call with the wrong number of arguments.
pub(crate) fn arity_error(env: &Env, wanted: usize, given: usize) -> napi::Error {
  throw(env, Kind::Type, error::INVALID_ARGUMENT, &format!("this wasm function takes {wanted} argument(s), {given} given"))
}

/// Calls `func` with JavaScript arguments and converts its results: nothing is
/// `undefined`, one result is the value, several are an array.
pub(crate) fn call_func(
  env: &Env,
  store: &Rc<StoreShared>,
  func: wasmtime::Func,
  param_types: &[ValType],
  result_types: &[ValType],
  args: &[sys::napi_value],
) -> Result<sys::napi_value> {
  if args.len() != param_types.len() {
    return Err(arity_error(env, param_types.len(), args.len()));
  }
  store.enter(env, |mut cx| {
    // Roots made for externref arguments and results end with this scope.
    let mut scope = RootScope::new(&mut cx);
    let mut params = Vec::with_capacity(args.len());
    for (i, (a, ty)) in args.iter().zip(param_types).enumerate() {
      params.push(to_val(env, &mut scope, *a, ty, &|| format!("argument {i}"))?);
    }
    let mut results = vec![Val::I32(0); result_types.len()];
    if let Err(err) = func.call(&mut scope, &params, &mut results) {
      return Err(trap::throw_call_error(env, &mut scope, &err));
    }
    results_to_js(env, store, &mut scope, &results)
  })
}

pub(crate) fn results_to_js(
  env: &Env,
  store: &Rc<StoreShared>,
  mut cx: impl AsContextMut<Data = StoreData>,
  results: &[Val],
) -> Result<sys::napi_value> {
  let raw = env.raw();
  let mut out = ptr::null_mut();
  match results.len() {
    // SAFETY: the current call's env.
    0 => unsafe { sys::napi_get_undefined(raw, &mut out) },
    1 => return from_val(env, store, &mut cx, &results[0]),
    n => {
      // SAFETY: the current call's env; indices in range.
      unsafe { sys::napi_create_array_with_length(raw, n, &mut out) };
      for (i, r) in results.iter().enumerate() {
        let v = from_val(env, store, &mut cx, r)?;
        // SAFETY: as above.
        unsafe { sys::napi_set_element(raw, out, i as u32, v) };
      }
      sys::Status::napi_ok
    }
  };
  Ok(out)
}
