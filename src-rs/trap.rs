//! Errors that come out of calls into wasm: [`wasmtime::Trap`]s become
//! `WasmTrap`s (the facade's `Error` subclass), JavaScript exceptions thrown
//! by host functions come back as the same object, `proc_exit` becomes an
//! exit error, and anything else a host error.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/enum.Trap.html>
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.WasmBacktrace.html>

use crate::error::{self, throw, trap_code, Kind};
use crate::store::StoreData;
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::cell::Cell;
use std::ptr;
use wasmtime::AsContextMut;

/// A JavaScript exception thrown by a host function; the exception itself is
/// kept in the store (`StoreData::pending_exception`) until the JavaScript
/// caller of wasm rethrows it.
#[derive(Debug)]
pub(crate) struct JsException;

impl std::fmt::Display for JsException {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.write_str("a host function threw a JavaScript exception")
  }
}

impl std::error::Error for JsException {}

thread_local! {
  /// The facade's `WasmTrap` class in this thread's environment.
  static TRAP_CLASS: Cell<sys::napi_ref> = const { Cell::new(ptr::null_mut()) };
}

/// Registers the class that traps are thrown as (the facade's `WasmTrap`).
#[napi]
pub fn set_trap_class(env: Env, ctor: Unknown) -> Result<()> {
  let mut r = ptr::null_mut();
  // SAFETY: `class` is a value of the current call; the reference lives as long
  // as the environment (one per thread), like the class itself.
  unsafe { sys::napi_create_reference(env.raw(), ctor.raw(), 1, &mut r) };
  TRAP_CLASS.with(|c| c.set(r));
  Ok(())
}

unsafe fn string(env: sys::napi_env, s: &str) -> sys::napi_value {
  let mut v = ptr::null_mut();
  // SAFETY: the caller holds a live env.
  unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) };
  v
}

unsafe fn set(env: sys::napi_env, obj: sys::napi_value, key: &std::ffi::CStr, v: sys::napi_value) {
  // SAFETY: the caller holds a live env and object.
  unsafe { sys::napi_set_named_property(env, obj, key.as_ptr(), v) };
}

/// `[{ module, funcIndex, funcName, offset }]`, innermost frame first.
unsafe fn frames(env: sys::napi_env, bt: &wasmtime::WasmBacktrace) -> sys::napi_value {
  let mut arr = ptr::null_mut();
  // SAFETY: values made on the caller's live env.
  unsafe {
    sys::napi_create_array_with_length(env, bt.frames().len(), &mut arr);
    for (i, f) in bt.frames().iter().enumerate() {
      let mut o = ptr::null_mut();
      sys::napi_create_object(env, &mut o);
      let mut null = ptr::null_mut();
      sys::napi_get_null(env, &mut null);
      set(env, o, c"module", f.module().name().map_or(null, |n| string(env, n)));
      let mut idx = ptr::null_mut();
      sys::napi_create_uint32(env, f.func_index(), &mut idx);
      set(env, o, c"funcIndex", idx);
      set(env, o, c"funcName", f.func_name().map_or(null, |n| string(env, n)));
      let off = match f.module_offset() {
        Some(x) => {
          let mut v = ptr::null_mut();
          sys::napi_create_double(env, x as f64, &mut v);
          v
        }
        None => null,
      };
      set(env, o, c"offset", off);
      sys::napi_set_element(env, arr, i as u32, o);
    }
  }
  arr
}

/// Throws the JavaScript error for `err`, which came out of a call into wasm,
/// and returns the pending-exception marker.
pub(crate) fn throw_call_error(
  env: &Env,
  mut cx: impl AsContextMut<Data = StoreData>,
  err: &wasmtime::Error,
) -> napi::Error {
  let raw = env.raw();
  let bt = err.downcast_ref::<wasmtime::WasmBacktrace>();
  // A JavaScript exception from a host function: rethrow that very value.
  if err.downcast_ref::<JsException>().is_some() {
    if let Some(held) = cx.as_context_mut().data_mut().pending_exception.take() {
      let value = held.get();
      drop(held);
      // SAFETY: a value of this env (read on its thread, in this handle scope).
      unsafe {
        let mut t = 0;
        sys::napi_typeof(raw, value, &mut t);
        if t == sys::ValueType::napi_object {
          let mut has = false;
          sys::napi_has_named_property(raw, value, c"wasmBacktrace".as_ptr(), &mut has);
          if !has {
            if let Some(bt) = bt {
              set(raw, value, c"wasmBacktrace", frames(raw, bt));
            }
          }
        }
        sys::napi_throw(raw, value);
      }
      return napi::Error::new(napi::Status::PendingException, "host exception");
    }
  }
  throw_wasm_error(env, err)
}

/// Throws the JavaScript error for `err` from a call into wasm that ran no
/// JavaScript: a WASI exit (`ERR_WASMTIME_EXIT` with `exitCode`), a trap
/// (`WasmTrap`), or another host error (`ERR_WASMTIME_HOST`).
pub(crate) fn throw_wasm_error(env: &Env, err: &wasmtime::Error) -> napi::Error {
  let raw = env.raw();
  let bt = err.downcast_ref::<wasmtime::WasmBacktrace>();
  if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
    let e = error::throw_with(
      env,
      Kind::Error,
      error::EXIT,
      &format!("the guest exited with code {}", exit.0),
      &[],
    );
    set_last_exception_number(raw, c"exitCode", exit.0);
    return e;
  }
  let Some(trap) = err.downcast_ref::<wasmtime::Trap>() else {
    let mut msg = err.root_cause().to_string();
    if err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
      // The only pooled resource a call takes: a `callAsync` fiber stack,
      // which wasmtime's store keeps after its call until it is dropped.
      msg.push_str("; every `callAsync` stack of the engine's pool is taken, by calls in flight or by stores that made one (a store keeps its stack until disposed): dispose stores you no longer need, or raise `new Engine({ pooling: { totalStacks } })`");
    }
    if let Some(bt) = bt {
      msg.push_str(&format!("\n{bt}"));
    }
    return throw(env, Kind::Error, error::HOST, &msg);
  };
  let mut msg = trap.to_string();
  if let Some(bt) = bt {
    msg.push_str(&format!("\n{bt}"));
  }
  throw_trap_with(env, trap_code(*trap), &msg, bt)
}

/// Throws a `WasmTrap` with `trapCode` and `message` (no wasm frames): for
/// traps raised before wasm is entered.
pub(crate) fn throw_trap(env: &Env, code: &str, message: &str) -> napi::Error {
  throw_trap_with(env, code, message, None)
}

fn throw_trap_with(env: &Env, code: &str, msg: &str, bt: Option<&wasmtime::WasmBacktrace>) -> napi::Error {
  let raw = env.raw();
  let class = TRAP_CLASS.with(|c| c.get());
  // SAFETY: values made on the current call's env; `class` is our reference.
  unsafe {
    let mut ctor = ptr::null_mut();
    if class.is_null() || sys::napi_get_reference_value(raw, class, &mut ctor) != sys::Status::napi_ok || ctor.is_null() {
      return error::throw_with(env, Kind::Error, error::TRAP, msg, &[error::Prop::Str("trapCode", code)]);
    }
    let args = [string(raw, msg)];
    let mut obj = ptr::null_mut();
    if sys::napi_new_instance(raw, ctor, 1, args.as_ptr(), &mut obj) != sys::Status::napi_ok {
      return napi::Error::new(napi::Status::PendingException, msg.to_string());
    }
    set(raw, obj, c"code", string(raw, error::TRAP));
    set(raw, obj, c"trapCode", string(raw, code));
    let bt_value = match bt {
      Some(bt) => frames(raw, bt),
      None => {
        let mut a = ptr::null_mut();
        sys::napi_create_array(raw, &mut a);
        a
      }
    };
    set(raw, obj, c"wasmBacktrace", bt_value);
    sys::napi_throw(raw, obj);
  }
  napi::Error::new(napi::Status::PendingException, msg.to_string())
}

/// Sets a number property on the exception now pending (thrown just before).
fn set_last_exception_number(env: sys::napi_env, key: &std::ffi::CStr, n: i32) {
  // SAFETY: the env of the current call; the pending exception is taken and
  // thrown again unchanged but for the property.
  unsafe {
    let mut exc = ptr::null_mut();
    if sys::napi_get_and_clear_last_exception(env, &mut exc) == sys::Status::napi_ok && !exc.is_null() {
      let mut v = ptr::null_mut();
      sys::napi_create_int32(env, n, &mut v);
      set(env, exc, key, v);
      sys::napi_throw(env, exc);
    }
  }
}
