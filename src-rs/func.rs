//! [`wasmtime::Func`]: calling WebAssembly functions from JavaScript.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Func.html>
//!
//! Values: i32, f32 and f64 are numbers; i64 is a BigInt (an integral number
//! is accepted as an argument). Several results come back as an array.

use crate::error::{self, throw, throw_wasm_error, Kind};
use crate::store::{StoreData, StoreShared};
use napi::bindgen_prelude::*;
use napi::{sys, JsValue};
use napi_derive::napi;
use std::ptr;
use std::rc::Rc;
use wasmtime::{Val, ValType};

/// An exported WebAssembly function.
#[napi]
pub struct Func {
  store: Rc<StoreShared>,
  func: wasmtime::Func,
  params: Vec<ValType>,
  results: Vec<ValType>,
}

impl Func {
  pub(crate) fn new(store: Rc<StoreShared>, ctx: &wasmtime::Store<StoreData>, func: wasmtime::Func) -> Func {
    let ty = func.ty(ctx);
    Func { store, func, params: ty.params().collect(), results: ty.results().collect() }
  }
}

fn type_name(t: &ValType) -> &'static str {
  match t {
    ValType::I32 => "i32",
    ValType::I64 => "i64",
    ValType::F32 => "f32",
    ValType::F64 => "f64",
    ValType::V128 => "v128",
    ValType::Ref(_) => "ref",
  }
}

/// Converts one JavaScript argument to a wasm value of type `ty`.
fn to_val(env: &Env, value: sys::napi_value, ty: &ValType, index: usize) -> Result<Val> {
  let raw = env.raw();
  let mut t = 0;
  // SAFETY: `value` is an argument of the current call on this thread.
  unsafe { sys::napi_typeof(raw, value, &mut t) };
  let wrong = |expected: &str| {
    throw(
      env,
      Kind::Type,
      error::INVALID_ARGUMENT,
      &format!("argument {index} must be {expected} for a wasm {} parameter", type_name(ty)),
    )
  };
  let number = || -> Result<f64> {
    if t != sys::ValueType::napi_number {
      return Err(wrong("a number"));
    }
    let mut d = 0.0;
    // SAFETY: `value` is a number (checked).
    unsafe { sys::napi_get_value_double(raw, value, &mut d) };
    Ok(d)
  };
  Ok(match ty {
    ValType::I32 => {
      let mut v = 0i32;
      number()?;
      // SAFETY: `value` is a number; napi applies ToInt32 (wrapping), as JS does.
      unsafe { sys::napi_get_value_int32(raw, value, &mut v) };
      Val::I32(v)
    }
    ValType::I64 => {
      if t == sys::ValueType::napi_bigint {
        let mut v = 0i64;
        let mut lossless = false;
        // SAFETY: `value` is a BigInt; a value outside i64 wraps (two's
        // complement), so unsigned 64-bit values keep their bits.
        unsafe { sys::napi_get_value_bigint_int64(raw, value, &mut v, &mut lossless) };
        Val::I64(v)
      } else {
        let d = number().map_err(|_| wrong("a BigInt"))?;
        if d.fract() != 0.0 || !d.is_finite() || d.abs() > 9_007_199_254_740_991.0 {
          return Err(wrong("a BigInt or a safe integer"));
        }
        Val::I64(d as i64)
      }
    }
    ValType::F32 => Val::F32((number()? as f32).to_bits()),
    ValType::F64 => Val::F64(number()?.to_bits()),
    _ => {
      return Err(throw(
        env,
        Kind::Type,
        error::INVALID_ARGUMENT,
        &format!("wasm {} parameters cannot be passed from JavaScript yet", type_name(ty)),
      ))
    }
  })
}

/// Converts a wasm result to JavaScript.
fn from_val(env: &Env, v: &Val) -> Result<sys::napi_value> {
  let raw = env.raw();
  let mut out = ptr::null_mut();
  // SAFETY: creating primitives on the current call's env.
  let status = unsafe {
    match v {
      Val::I32(i) => sys::napi_create_int32(raw, *i, &mut out),
      Val::I64(i) => sys::napi_create_bigint_int64(raw, *i, &mut out),
      Val::F32(bits) => sys::napi_create_double(raw, f64::from(f32::from_bits(*bits)), &mut out),
      Val::F64(bits) => sys::napi_create_double(raw, f64::from_bits(*bits), &mut out),
      _ => {
        return Err(throw(env, Kind::Type, error::INVALID_ARGUMENT, "this wasm result type cannot be returned to JavaScript yet"))
      }
    }
  };
  if status != sys::Status::napi_ok {
    return Err(throw(env, Kind::Error, error::INTERNAL, "could not create a JavaScript value for a wasm result"));
  }
  Ok(out)
}

#[napi]
impl Func {
  /// Calls the function with `args` (an array), returning `undefined`, one
  /// value, or an array of values.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Func.html#method.call>
  #[napi(catch_unwind)]
  pub fn call<'env>(&self, env: &'env Env, args: Vec<Unknown<'env>>) -> Result<Unknown<'env>> {
    if args.len() != self.params.len() {
      return Err(throw(
        env,
        Kind::Type,
        error::INVALID_ARGUMENT,
        &format!("this wasm function takes {} argument(s), {} given", self.params.len(), args.len()),
      ));
    }
    let mut params = Vec::with_capacity(args.len());
    for (i, (a, ty)) in args.iter().zip(&self.params).enumerate() {
      params.push(to_val(env, a.raw(), ty, i)?);
    }
    let mut results = vec![Val::I32(0); self.results.len()];
    let func = self.func;
    self.store.with(env, |inner| {
      func.call(&mut inner.store, &params, &mut results).map_err(|e| throw_wasm_error(env, &e, error::HOST))
    })?;
    let value = match results.len() {
      0 => {
        let mut u = ptr::null_mut();
        // SAFETY: current call's env.
        unsafe { sys::napi_get_undefined(env.raw(), &mut u) };
        u
      }
      1 => from_val(env, &results[0])?,
      n => {
        let mut arr = ptr::null_mut();
        // SAFETY: current call's env; indices are in range.
        unsafe {
          sys::napi_create_array_with_length(env.raw(), n, &mut arr);
          for (i, r) in results.iter().enumerate() {
            sys::napi_set_element(env.raw(), arr, i as u32, from_val(env, r)?);
          }
        }
        arr
      }
    };
    // SAFETY: `value` was created on `env` in this call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
  }

  /// Parameter types, e.g. `['i32', 'i64']`.
  #[napi(getter)]
  pub fn params(&self) -> Vec<&'static str> {
    self.params.iter().map(type_name).collect()
  }

  /// Result types.
  #[napi(getter)]
  pub fn results(&self) -> Vec<&'static str> {
    self.results.iter().map(type_name).collect()
  }
}
