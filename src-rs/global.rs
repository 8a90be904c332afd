//! [`wasmtime::Global`]: a wasm global, read and written from JavaScript.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Global.html>

use crate::error::{self, throw, Kind};
use crate::externs::{global_desc, parse_val_type, TypeDesc};
use crate::store::{Store, StoreShared};
use crate::trap;
use crate::val::{from_val, to_val};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::rc::Rc;
use wasmtime::RootScope;

/// `{ value: 'i32', mutable?: boolean }` for `new Global`.
#[napi(object)]
pub struct GlobalTypeDesc {
  #[napi(ts_type = "ValType")]
  pub value: String,
  pub mutable: Option<bool>,
}

/// A wasm global.
#[napi]
pub struct Global {
  pub(crate) store: Rc<StoreShared>,
  pub(crate) global: wasmtime::Global,
}

impl Global {
  pub(crate) fn new(store: Rc<StoreShared>, global: wasmtime::Global) -> Global {
    Global { store, global }
  }
}

#[napi]
impl Global {
  /// A host-created global: `new Global(store, { value: 'i32', mutable: true }, 0)`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Global.html#method.new>
  #[napi(constructor, catch_unwind)]
  pub fn new_js(env: Env, store: &Store, ty: GlobalTypeDesc, value: Unknown) -> Result<Self> {
    let vt = parse_val_type(&env, &ty.value)?;
    let mutability = if ty.mutable.unwrap_or(false) { wasmtime::Mutability::Var } else { wasmtime::Mutability::Const };
    let gt = wasmtime::GlobalType::new(vt.clone(), mutability);
    let global = store.shared.with(&env, |mut cx| {
      let mut scope = RootScope::new(&mut cx);
      let v = to_val(&env, &mut scope, value.raw(), &vt, &|| "the initial value".into())?;
      wasmtime::Global::new(&mut scope, gt, v)
        .map_err(|e| throw(&env, Kind::Type, error::INVALID_ARGUMENT, &format!("cannot create the global: {}", error::chain(&e))))
    })?;
    Ok(Global { store: store.shared.clone(), global })
  }

  /// The global's current value.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Global.html#method.get>
  #[napi(getter, catch_unwind)]
  pub fn value<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
    let g = self.global;
    let store = self.store.clone();
    let v = self.store.with(env, |mut cx| {
      let mut scope = RootScope::new(&mut cx);
      let v = g.get(&mut scope);
      from_val(env, &store, &mut scope, &v)
    })?;
    // SAFETY: made on `env` in this call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), v) })
  }

  /// Sets the value; a `TypeError` for an immutable global or a wrong type.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Global.html#method.set>
  #[napi(setter, js_name = "value", catch_unwind)]
  pub fn set_value(&self, env: Env, value: Unknown) -> Result<()> {
    let g = self.global;
    self.store.with(&env, |mut cx| {
      let ty = g.ty(&cx);
      if ty.mutability() != wasmtime::Mutability::Var {
        return Err(throw(&env, Kind::Type, error::INVALID_ARGUMENT, "this global is immutable"));
      }
      let mut scope = RootScope::new(&mut cx);
      let v = to_val(&env, &mut scope, value.raw(), ty.content(), &|| "the value".into())?;
      g.set(&mut scope, v).map_err(|e| trap::throw_call_error(&env, &mut scope, &e))
    })
  }

  /// `{ kind: 'global', value, mutable }`.
  #[napi(getter, js_name = "type", catch_unwind)]
  pub fn ty(&self, env: Env) -> Result<TypeDesc> {
    let g = self.global;
    self.store.with(&env, |cx| Ok(global_desc(&g.ty(&cx))))
  }
}
