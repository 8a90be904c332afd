//! [`wasmtime::Val`] to and from JavaScript values.
//!
//! | wasm | JavaScript |
//! |---|---|
//! | i32, f32, f64 | number (NaN bits are kept where JavaScript can hold them) |
//! | i64 | BigInt (a safe integer is accepted as an argument) |
//! | v128 | BigInt, unsigned 128-bit (a 16-byte Uint8Array is accepted) |
//! | externref | any JavaScript value; `null` is the null reference |
//! | funcref | a wasm function (as exported); `null` is the null reference |

use crate::error::{self, throw, Kind};
use crate::func::{js_function, wasm_func_of};
use crate::store::{StoreData, StoreShared};
use napi::bindgen_prelude::*;
use napi::sys;
use std::ptr;
use std::rc::Rc;
use std::thread::ThreadId;
use wasmtime::{AsContextMut, ExternRef, HeapType, Val, ValType};

/// A JavaScript value held by wasm as an `externref`: a strong napi reference,
/// released when wasmtime's collector drops the externref.
pub(crate) struct JsRef {
  r: sys::napi_ref,
  env: sys::napi_env,
  thread: ThreadId,
  /// The value is a primitive, kept as property `v` of a holder object
  /// (Node 20's `napi_create_reference` takes objects and functions only).
  boxed: bool,
  /// For externrefs: the reference is weak, the value is rooted by its store
  /// under this number, and the number goes to this list when dropped.
  rooted: Option<(u32, crate::store::DroppedExterns)>,
}

// SAFETY: the reference is only read or deleted on `thread`, the thread of its
// environment (checked in `get` and `drop`); dropped elsewhere, it is carried
// back to its store (`SendRef`), which deletes it on that thread.
unsafe impl Send for JsRef {}
// SAFETY: as for `Send`: no access happens off `thread`.
unsafe impl Sync for JsRef {}

impl JsRef {
  /// A strong reference (a pending exception, held for a moment).
  pub(crate) fn new(env: sys::napi_env, value: sys::napi_value) -> Option<JsRef> {
    JsRef::make(env, value, None)
  }

  /// A weak reference to a value `store` roots from JavaScript (an externref).
  pub(crate) fn rooted_in(env: sys::napi_env, value: sys::napi_value, store: &StoreShared) -> Option<JsRef> {
    JsRef::make(env, value, Some(store))
  }

  fn make(env: sys::napi_env, value: sys::napi_value, store: Option<&StoreShared>) -> Option<JsRef> {
    let t = type_of(env, value);
    let boxed = !matches!(t, sys::ValueType::napi_object | sys::ValueType::napi_function);
    let mut target = value;
    let mut r = ptr::null_mut();
    // SAFETY: `value` belongs to the current call on `env`'s thread; the holder
    // object is made on the same env.
    unsafe {
      if boxed {
        sys::napi_create_object(env, &mut target);
        crate::store::put_own(env, target, crate::store::OwnKey::Name(c"v"), value);
      }
      let count = if store.is_some() { 0 } else { 1 };
      if sys::napi_create_reference(env, target, count, &mut r) != sys::Status::napi_ok {
        return None;
      }
    }
    let rooted = store.map(|s| s.root_extern(env, target));
    Some(JsRef { r, env, thread: crate::thread_id(), boxed, rooted })
  }

  /// The value, or null when read off its thread.
  pub(crate) fn get(&self) -> sys::napi_value {
    let mut v = ptr::null_mut();
    if self.thread == crate::thread_id() {
      // SAFETY: our reference, read on its environment's thread.
      unsafe {
        sys::napi_get_reference_value(self.env, self.r, &mut v);
        if self.boxed && !v.is_null() {
          let holder = v;
          sys::napi_get_named_property(self.env, holder, c"v".as_ptr(), &mut v);
        }
      }
    }
    v
  }
}

impl Drop for JsRef {
  fn drop(&mut self) {
    let here = self.thread == crate::thread_id();
    if here {
      // SAFETY: our reference, deleted once, on its environment's thread.
      unsafe { sys::napi_delete_reference(self.env, self.r) };
    }
    // wasmtime may drop an externref inside a collection, in a finalizer, or
    // on a pool thread during callAsync: no JavaScript is touched here, the
    // store unroots the value later, and deletes the reference then if this
    // is not its thread.
    if let Some((id, dropped)) = &self.rooted {
      let reference = (!here).then_some(crate::store::SendRef(self.r));
      dropped.lock().unwrap_or_else(|p| p.into_inner()).push(crate::store::DroppedExtern { id: *id, reference });
    }
  }
}

/// `Number.MAX_SAFE_INTEGER`.
pub(crate) const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// An offset, index, length or count: a whole number from 0 to
/// `Number.MAX_SAFE_INTEGER`, refused (never clamped) otherwise.
pub(crate) fn index(env: &Env, v: f64, what: &str) -> Result<u64> {
  if v >= 0.0 && v <= MAX_SAFE && v.fract() == 0.0 {
    return Ok(v as u64);
  }
  Err(throw(env, Kind::Range, error::INVALID_ARGUMENT, &format!("{what} must be a whole number from 0 to 2^53-1, got {v}")))
}

/// A u64 argument: a BigInt from 0 to 2^64-1, or a safe whole Number.
pub(crate) fn u64_value(env: &Env, value: sys::napi_value, what: &str) -> Result<u64> {
  let raw = env.raw();
  let bad = || throw(env, Kind::Range, error::INVALID_ARGUMENT, &format!("{what} must be a BigInt from 0n to 2n ** 64n - 1n, or a whole Number from 0 to 2^53-1"));
  match type_of(raw, value) {
    sys::ValueType::napi_bigint => {
      let (mut v, mut lossless) = (0u64, false);
      // SAFETY: `value` is a BigInt of the current call.
      unsafe { sys::napi_get_value_bigint_uint64(raw, value, &mut v, &mut lossless) };
      if lossless { Ok(v) } else { Err(bad()) }
    }
    sys::ValueType::napi_number => {
      let mut d = 0.0;
      // SAFETY: `value` is a number of the current call.
      unsafe { sys::napi_get_value_double(raw, value, &mut d) };
      if d >= 0.0 && d <= MAX_SAFE && d.fract() == 0.0 { Ok(d as u64) } else { Err(bad()) }
    }
    _ => Err(bad()),
  }
}

/// The most parameters, and the most results, a function may have to cross
/// the boundary in wasmtime's raw `ValRaw` slots, either way: wasm functions
/// called from JavaScript (func.rs `call_numeric`) and host functions called
/// from wasm (host.rs `call_raw`).
pub(crate) const NUMERIC_SLOTS: usize = 16;

/// Whether a function of these types crosses in raw slots: every parameter
/// and result is i32, i64, f32 or f64, and there are at most `NUMERIC_SLOTS`
/// of either.
pub(crate) fn numbers_only(params: &[ValType], results: &[ValType]) -> bool {
  let number = |t: &ValType| matches!(t, ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64);
  params.len().max(results.len()) <= NUMERIC_SLOTS && params.iter().chain(results).all(number)
}

pub(crate) fn type_name(t: &ValType) -> String {
  match t {
    ValType::I32 => "i32".into(),
    ValType::I64 => "i64".into(),
    ValType::F32 => "f32".into(),
    ValType::F64 => "f64".into(),
    ValType::V128 => "v128".into(),
    ValType::Ref(r) => match (r.heap_type(), r.is_nullable()) {
      (HeapType::Extern, true) => "externref".into(),
      (HeapType::Func, true) => "funcref".into(),
      (h, n) => format!("(ref {}{h})", if n { "null " } else { "" }),
    },
  }
}

fn type_of(env: sys::napi_env, value: sys::napi_value) -> sys::napi_valuetype {
  let mut t = 0;
  // SAFETY: `value` belongs to the current call on `env`'s thread.
  unsafe { sys::napi_typeof(env, value, &mut t) };
  t
}

/// Converts a JavaScript value to a wasm value of type `ty`. `what` names the
/// value in error messages ("argument 0", "result of host function f").
pub(crate) fn to_val(
  env: &Env,
  mut cx: impl AsContextMut<Data = StoreData>,
  value: sys::napi_value,
  ty: &ValType,
  what: &dyn Fn() -> String,
) -> Result<Val> {
  let raw = env.raw();
  let t = type_of(raw, value);
  let wrong = |expected: &str| {
    throw(env, Kind::Type, error::INVALID_ARGUMENT, &format!("{} must be {expected} for a wasm {}", what(), type_name(ty)))
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
      number()?;
      let mut v = 0i32;
      // SAFETY: `value` is a number; napi applies ToInt32 (wrapping), as JS does.
      unsafe { sys::napi_get_value_int32(raw, value, &mut v) };
      Val::I32(v)
    }
    ValType::I64 => {
      if t == sys::ValueType::napi_bigint {
        let (mut v, mut lossless) = (0i64, false);
        // SAFETY: `value` is a BigInt; out-of-range values wrap (two's
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
    ValType::V128 => Val::V128(to_u128(env, value, t).ok_or_else(|| wrong("a BigInt or a 16-byte Uint8Array"))?.into()),
    ValType::Ref(r) => {
      if t == sys::ValueType::napi_null || t == sys::ValueType::napi_undefined {
        if !r.is_nullable() {
          return Err(wrong("a non-null reference"));
        }
        return Ok(match r.heap_type().top() {
          HeapType::Extern => Val::ExternRef(None),
          HeapType::Func => Val::FuncRef(None),
          HeapType::Any => Val::AnyRef(None),
          _ => Val::ExnRef(None),
        });
      }
      match r.heap_type().top() {
        HeapType::Extern => {
          // SAFETY: `shared` points at the live StoreShared that owns this
          // store, which is in use on its own thread right now.
          let store = unsafe { &*cx.as_context().data().shared };
          let holder = JsRef::rooted_in(raw, value, store).ok_or_else(|| wrong("a value"))?;
          let ext = ExternRef::new(&mut cx, holder)
            .map_err(|e| throw(env, Kind::Error, error::HOST, &format!("cannot allocate an externref: {}", error::chain(&e))))?;
          Val::ExternRef(Some(ext))
        }
        HeapType::Func => {
          let (f, owner) = wasm_func_of(env, value).ok_or_else(|| wrong("a wasm function (an export, or null)"))?;
          if owner != cx.as_context().data().shared {
            return Err(wrong("a function of the same Store"));
          }
          if let HeapType::ConcreteFunc(ft) = r.heap_type() {
            if !f.matches_ty(&cx, ft) {
              return Err(wrong("a function of the right type"));
            }
          }
          Val::FuncRef(Some(f))
        }
        _ => return Err(wrong("(unsupported) a GC reference")),
      }
    }
  })
}

fn to_u128(env: &Env, value: sys::napi_value, t: sys::napi_valuetype) -> Option<u128> {
  let raw = env.raw();
  if t == sys::ValueType::napi_bigint {
    let mut sign = 0;
    let mut words = [0u64; 2];
    let mut n = 2usize;
    // SAFETY: `value` is a BigInt; `words` has room for `n` words (napi copies
    // at most that many, the low ones, so wider values wrap to 128 bits).
    unsafe { sys::napi_get_value_bigint_words(raw, value, &mut sign, &mut n, words.as_mut_ptr()) };
    let v = u128::from(words[0]) | (u128::from(words[1]) << 64);
    return Some(if sign != 0 { v.wrapping_neg() } else { v });
  }
  let mut is_typed = false;
  // SAFETY: `value` belongs to the current call.
  unsafe { sys::napi_is_typedarray(raw, value, &mut is_typed) };
  if !is_typed {
    return None;
  }
  let (mut kind, mut len, mut data, mut ab, mut off) = (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
  // SAFETY: `value` is a typed array.
  unsafe { sys::napi_get_typedarray_info(raw, value, &mut kind, &mut len, &mut data, &mut ab, &mut off) };
  if kind != sys::TypedarrayType::uint8_array || len != 16 || data.is_null() {
    return None;
  }
  let mut bytes = [0u8; 16];
  // SAFETY: `data` points at 16 readable bytes (checked above).
  unsafe { ptr::copy_nonoverlapping(data as *const u8, bytes.as_mut_ptr(), 16) };
  Some(u128::from_le_bytes(bytes))
}

/// Makes a JavaScript number. `napi_create_double` canonicalises NaN, losing
/// a payload that V8's own wasm would show; an element read from a
/// Float64Array keeps it, so NaNs (rare) take that way.
unsafe fn number(env: sys::napi_env, d: f64, out: &mut sys::napi_value) -> sys::napi_status {
  if !d.is_nan() {
    // SAFETY: the caller's live env.
    return unsafe { sys::napi_create_double(env, d, out) };
  }
  // SAFETY: an 8-byte ArrayBuffer made here, written through the data pointer
  // napi returns for it, viewed as one f64.
  unsafe {
    let mut data = ptr::null_mut();
    let mut ab = ptr::null_mut();
    let mut view = ptr::null_mut();
    sys::napi_create_arraybuffer(env, 8, &mut data, &mut ab);
    ptr::write_unaligned(data as *mut u64, d.to_bits());
    sys::napi_create_typedarray(env, sys::TypedarrayType::float64_array, 1, ab, 0, &mut view);
    sys::napi_get_element(env, view, 0, out)
  }
}

/// A number or BigInt for a numeric wasm value (no store needed).
pub(crate) fn number_or_bigint(env: &Env, v: &Val) -> Result<sys::napi_value> {
  let raw = env.raw();
  let mut out = ptr::null_mut();
  // SAFETY: creating primitives on the current call's env.
  let status = unsafe {
    match v {
      Val::I32(i) => sys::napi_create_int32(raw, *i, &mut out),
      Val::I64(i) => sys::napi_create_bigint_int64(raw, *i, &mut out),
      Val::F32(bits) => number(raw, f64::from(f32::from_bits(*bits)), &mut out),
      Val::F64(bits) => number(raw, f64::from_bits(*bits), &mut out),
      _ => sys::Status::napi_invalid_arg,
    }
  };
  if status != sys::Status::napi_ok {
    return Err(throw(env, Kind::Error, error::INTERNAL, "could not create a JavaScript number"));
  }
  Ok(out)
}

/// Converts a wasm value to JavaScript.
pub(crate) fn from_val(
  env: &Env,
  shared: &Rc<StoreShared>,
  mut cx: impl AsContextMut<Data = StoreData>,
  v: &Val,
) -> Result<sys::napi_value> {
  let raw = env.raw();
  let mut out = ptr::null_mut();
  // SAFETY: creating values on the current call's env.
  let status = unsafe {
    match v {
      Val::I32(_) | Val::I64(_) | Val::F32(_) | Val::F64(_) => return number_or_bigint(env, v),
      Val::V128(x) => {
        let x = x.as_u128();
        let words = [x as u64, (x >> 64) as u64];
        sys::napi_create_bigint_words(raw, 0, 2, words.as_ptr(), &mut out)
      }
      Val::ExternRef(None) | Val::FuncRef(None) | Val::AnyRef(None) | Val::ExnRef(None) => sys::napi_get_null(raw, &mut out),
      Val::ExternRef(Some(r)) => {
        let data = r.data(&cx).ok().flatten().and_then(|d| d.downcast_ref::<JsRef>());
        match data {
          Some(js) => {
            out = js.get();
            if out.is_null() { sys::napi_get_undefined(raw, &mut out) } else { sys::Status::napi_ok }
          }
          None => sys::napi_get_undefined(raw, &mut out),
        }
      }
      Val::FuncRef(Some(f)) => {
        out = js_function(env, shared, &mut cx, *f, "")?;
        sys::Status::napi_ok
      }
      _ => return Err(throw(env, Kind::Type, error::INVALID_ARGUMENT, "this wasm GC reference cannot be given to JavaScript yet")),
    }
  };
  if status != sys::Status::napi_ok {
    return Err(throw(env, Kind::Error, error::INTERNAL, "could not create a JavaScript value for a wasm value"));
  }
  Ok(out)
}
