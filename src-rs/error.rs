//! Error mapping: every error that reaches JavaScript carries a stable `code`
//! (`ERR_WASMTIME_*`) and a message that says what to do.
//!
//! Functions that fail throw the JavaScript error themselves (so it can be a
//! `TypeError` and carry extra properties) and return a `PendingException`
//! status, which napi-rs passes through without throwing again.

use napi::{sys, Env, Status};
use std::ptr;

/// Which JavaScript constructor the error is made with.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
  Error,
  Type,
  Range,
}

pub(crate) const UNALIGNED_BUFFER: &str = "ERR_WASMTIME_UNALIGNED_BUFFER";
pub(crate) const SHARED_BUFFER: &str = "ERR_WASMTIME_SHARED_BUFFER";
pub(crate) const DETACHED_BUFFER: &str = "ERR_WASMTIME_DETACHED_BUFFER";
/// `deserializeRaw` was given memory the package did not allocate.
pub(crate) const FOREIGN_BUFFER: &str = "ERR_WASMTIME_FOREIGN_BUFFER";
/// An allocation the caller asked for cannot be made (checked, never aborted).
pub(crate) const OUT_OF_MEMORY: &str = "ERR_WASMTIME_OUT_OF_MEMORY";
pub(crate) const INVALID_ARGUMENT: &str = "ERR_WASMTIME_INVALID_ARGUMENT";
pub(crate) const DESERIALIZE: &str = "ERR_WASMTIME_DESERIALIZE";
pub(crate) const COMPILE: &str = "ERR_WASMTIME_COMPILE";
pub(crate) const CONFIG: &str = "ERR_WASMTIME_CONFIG";
pub(crate) const INSTANTIATE: &str = "ERR_WASMTIME_INSTANTIATE";
pub(crate) const LINK: &str = "ERR_WASMTIME_LINK";
pub(crate) const TRAP: &str = "ERR_WASMTIME_TRAP";
/// An error raised on the host side while wasm ran (e.g. an import that traps).
pub(crate) const HOST: &str = "ERR_WASMTIME_HOST";
/// A host function returned a Promise to a synchronous call into wasm.
pub(crate) const HOST_PROMISE: &str = "ERR_WASMTIME_HOST_PROMISE";
/// A WASI guest called `proc_exit`; the error carries `exitCode`.
pub(crate) const EXIT: &str = "ERR_WASMTIME_EXIT";
pub(crate) const STORE_DISPOSED: &str = "ERR_WASMTIME_STORE_DISPOSED";
pub(crate) const STORE_BUSY: &str = "ERR_WASMTIME_STORE_BUSY";
pub(crate) const MODULE_DISPOSED: &str = "ERR_WASMTIME_MODULE_DISPOSED";
pub(crate) const IO: &str = "ERR_WASMTIME_IO";
pub(crate) const WASI: &str = "ERR_WASMTIME_WASI";
pub(crate) const PANIC: &str = "ERR_WASMTIME_PANIC";
pub(crate) const INTERNAL: &str = "ERR_WASMTIME_INTERNAL";

/// A property to set on a thrown error, besides `code` and `message`.
pub(crate) enum Prop<'a> {
  Str(&'a str, &'a str),
}

/// Throws a JavaScript error of `kind` with `code` and `message`, and returns
/// the napi-rs error that tells the binding layer an exception is pending.
pub(crate) fn throw(env: &Env, kind: Kind, code: &str, message: &str) -> napi::Error {
  throw_with(env, kind, code, message, &[])
}

pub(crate) fn throw_with(
  env: &Env,
  kind: Kind,
  code: &str,
  message: &str,
  props: &[Prop<'_>],
) -> napi::Error {
  let raw = env.raw();
  // SAFETY: `raw` is the live env of the current call, on its own thread; every
  // value created here is used within this handle scope before returning.
  unsafe {
    let mut pending = false;
    sys::napi_is_exception_pending(raw, &mut pending);
    if !pending {
      let js_code = js_string(raw, code);
      let js_msg = js_string(raw, message);
      let mut err = ptr::null_mut();
      let status = match kind {
        Kind::Error => sys::napi_create_error(raw, js_code, js_msg, &mut err),
        Kind::Type => sys::napi_create_type_error(raw, js_code, js_msg, &mut err),
        Kind::Range => sys::napi_create_range_error(raw, js_code, js_msg, &mut err),
      };
      if status == sys::Status::napi_ok && !err.is_null() {
        for p in props {
          let Prop::Str(k, v) = p;
          let key = std::ffi::CString::new(*k).unwrap_or_default();
          sys::napi_set_named_property(raw, err, key.as_ptr(), js_string(raw, v));
        }
        sys::napi_throw(raw, err);
      }
    }
  }
  napi::Error::new(Status::PendingException, message.to_string())
}

unsafe fn js_string(env: sys::napi_env, s: &str) -> sys::napi_value {
  let mut v = ptr::null_mut();
  // SAFETY: caller holds a live env; `s` is valid UTF-8 of the given length.
  unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) };
  v
}

/// Takes (and clears) the exception pending on `raw`, if any.
pub(crate) fn take_pending(raw: sys::napi_env) -> Option<sys::napi_value> {
  let mut pending = false;
  let mut exc = ptr::null_mut();
  // SAFETY: this env's pending exception, taken once.
  unsafe {
    sys::napi_is_exception_pending(raw, &mut pending);
    if !pending || sys::napi_get_and_clear_last_exception(raw, &mut exc) != sys::Status::napi_ok || exc.is_null() {
      return None;
    }
  }
  Some(exc)
}

/// Formats a wasmtime error with its whole cause chain on one line.
pub(crate) fn chain(e: &wasmtime::Error) -> String {
  format!("{e:#}")
}

/// Stable, documented names for wasmtime's trap codes.
pub(crate) fn trap_code(t: wasmtime::Trap) -> &'static str {
  use wasmtime::Trap::*;
  match t {
    StackOverflow => "stack_overflow",
    MemoryOutOfBounds => "memory_out_of_bounds",
    HeapMisaligned => "heap_misaligned",
    TableOutOfBounds => "table_out_of_bounds",
    IndirectCallToNull => "indirect_call_to_null",
    BadSignature => "indirect_call_type_mismatch",
    IntegerOverflow => "integer_overflow",
    IntegerDivisionByZero => "integer_divide_by_zero",
    BadConversionToInteger => "bad_conversion_to_integer",
    UnreachableCodeReached => "unreachable",
    Interrupt => "interrupt",
    OutOfFuel => "out_of_fuel",
    AtomicWaitNonSharedMemory => "atomic_wait_non_shared_memory",
    NullReference => "null_reference",
    ArrayOutOfBounds => "array_out_of_bounds",
    AllocationTooLarge => "allocation_too_large",
    CastFailure => "cast_failure",
    _ => "other",
  }
}

/// Runs `f`, turning a Rust panic into a JavaScript error. Used around calls
/// into wasmtime that assert on their input, so that no panic reaches Node.
pub(crate) fn guard<T>(env: &Env, what: &str, f: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
  match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
    Ok(r) => r,
    Err(payload) => {
      let detail = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
      Err(throw(
        env,
        Kind::Error,
        PANIC,
        &format!("{what} panicked inside the native addon: {detail}. The operation was abandoned; please report this with the input that caused it."),
      ))
    }
  }
}

thread_local! {
  /// The message of the last panic on this thread, for the facade to tell a
  /// caught panic (napi-rs reports it as `GenericFailure`) from other errors.
  static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Replaces the default panic hook, which prints to the process's stderr, with
/// one that records the message: every panic in the addon is caught and
/// reaches JavaScript as `ERR_WASMTIME_PANIC`. `WASMTIME_NAPI_DEBUG=1` prints
/// them as well.
pub(crate) fn install_panic_hook() {
  let print = std::env::var_os("WASMTIME_NAPI_DEBUG").is_some();
  std::panic::set_hook(Box::new(move |info| {
    let msg = match (info.payload().downcast_ref::<&str>(), info.payload().downcast_ref::<String>()) {
      (Some(s), _) => s.to_string(),
      (_, Some(s)) => s.clone(),
      _ => "unknown panic".to_string(),
    };
    let msg = match info.location() {
      Some(l) => format!("{msg} (at {}:{})", l.file(), l.line()),
      None => msg,
    };
    if print {
      eprintln!("wasmtime-napi: caught panic: {msg}");
    }
    LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
  }));
}

/// The last panic caught on this thread, if any, cleared by the call.
#[napi_derive::napi]
pub fn take_panic() -> Option<String> {
  LAST_PANIC.with(|p| p.borrow_mut().take())
}
