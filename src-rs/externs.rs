//! [`wasmtime::Extern`] and [`wasmtime::ExternType`] to and from JavaScript:
//! exports and imports as values, and their full types.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/enum.Extern.html>
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/enum.ExternType.html>

use crate::error::{self, throw, Kind};
use crate::func::js_function;
use crate::global::Global;
use crate::memory::Memory;
use crate::store::{StoreData, StoreShared};
use crate::table::Table;
use crate::val::type_name;
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::rc::Rc;
use wasmtime::{AsContextMut, Extern, ExternType, ValType};

/// The type of an import or export, flattened: `kind` says which fields apply.
/// Imports also carry `module` and `name`, exports `name`.
#[napi(object)]
#[derive(Default, Clone)]
pub struct TypeDesc {
  pub module: Option<String>,
  pub name: Option<String>,
  /// `'func'`, `'memory'`, `'table'`, `'global'` or `'tag'`.
  #[napi(ts_type = "ExternKind")]
  pub kind: String,
  /// Functions: parameter and result types (`'i32'`, `'externref'`, ...).
  #[napi(ts_type = "Array<ValType | RefTypeName>")]
  pub params: Option<Vec<String>>,
  #[napi(ts_type = "Array<ValType | RefTypeName>")]
  pub results: Option<Vec<String>>,
  /// Memories (in pages) and tables (in elements).
  pub minimum: Option<f64>,
  pub maximum: Option<f64>,
  /// Memories.
  pub shared: Option<bool>,
  pub memory64: Option<bool>,
  /// Tables: the element type.
  #[napi(ts_type = "'funcref' | 'externref' | RefTypeName")]
  pub element: Option<String>,
  /// Globals.
  #[napi(ts_type = "ValType | RefTypeName")]
  pub value: Option<String>,
  pub mutable: Option<bool>,
}

impl TypeDesc {
  /// This type as the import `module.name`.
  pub(crate) fn import(self, module: &str, name: &str) -> TypeDesc {
    TypeDesc { module: Some(module.into()), name: Some(name.into()), ..self }
  }

  /// This type as the export `name`.
  pub(crate) fn export(self, name: &str) -> TypeDesc {
    TypeDesc { name: Some(name.into()), ..self }
  }
}

pub(crate) fn func_desc(f: &wasmtime::FuncType) -> TypeDesc {
  TypeDesc {
    kind: "func".into(),
    params: Some(f.params().map(|t| type_name(&t)).collect()),
    results: Some(f.results().map(|t| type_name(&t)).collect()),
    ..Default::default()
  }
}

pub(crate) fn memory_desc(m: &wasmtime::MemoryType) -> TypeDesc {
  TypeDesc {
    kind: "memory".into(),
    minimum: Some(m.minimum() as f64),
    maximum: m.maximum().map(|x| x as f64),
    shared: Some(m.is_shared()),
    memory64: Some(m.is_64()),
    ..Default::default()
  }
}

pub(crate) fn table_desc(t: &wasmtime::TableType) -> TypeDesc {
  TypeDesc {
    kind: "table".into(),
    minimum: Some(t.minimum() as f64),
    maximum: t.maximum().map(|x| x as f64),
    element: Some(type_name(&ValType::Ref(t.element().clone()))),
    ..Default::default()
  }
}

pub(crate) fn global_desc(g: &wasmtime::GlobalType) -> TypeDesc {
  TypeDesc {
    kind: "global".into(),
    value: Some(type_name(g.content())),
    mutable: Some(g.mutability() == wasmtime::Mutability::Var),
    ..Default::default()
  }
}

pub(crate) fn describe(t: &ExternType) -> TypeDesc {
  match t {
    ExternType::Func(f) => func_desc(f),
    ExternType::Memory(m) => memory_desc(m),
    ExternType::Table(t) => table_desc(t),
    ExternType::Global(g) => global_desc(g),
    ExternType::Tag(_) => TypeDesc { kind: "tag".into(), ..Default::default() },
  }
}

/// Parses `'i32'`, `'i64'`, `'f32'`, `'f64'`, `'v128'`, `'externref'`, `'funcref'`.
pub(crate) fn parse_val_type(env: &Env, s: &str) -> Result<ValType> {
  Ok(match s {
    "i32" => ValType::I32,
    "i64" => ValType::I64,
    "f32" => ValType::F32,
    "f64" => ValType::F64,
    "v128" => ValType::V128,
    "externref" => ValType::EXTERNREF,
    "funcref" => ValType::FUNCREF,
    other => {
      return Err(throw(
        env,
        Kind::Type,
        error::INVALID_ARGUMENT,
        &format!("unknown value type '{other}'; use i32, i64, f32, f64, v128, externref or funcref"),
      ))
    }
  })
}

/// `{ params, results }` from JavaScript.
#[napi(object)]
pub struct FuncTypeDesc {
  #[napi(ts_type = "ValType[]")]
  pub params: Vec<String>,
  #[napi(ts_type = "ValType[]")]
  pub results: Vec<String>,
}

pub(crate) fn parse_func_type(env: &Env, engine: &wasmtime::Engine, t: &FuncTypeDesc) -> Result<wasmtime::FuncType> {
  let params = t.params.iter().map(|p| parse_val_type(env, p)).collect::<Result<Vec<_>>>()?;
  let results = t.results.iter().map(|p| parse_val_type(env, p)).collect::<Result<Vec<_>>>()?;
  Ok(wasmtime::FuncType::new(engine, params, results))
}

/// The JavaScript value for an export: a function, or a Memory, Table or
/// Global object.
pub(crate) fn extern_to_js(
  env: &Env,
  store: &Rc<StoreShared>,
  mut cx: impl AsContextMut<Data = StoreData>,
  ext: Extern,
  name: &str,
) -> Result<sys::napi_value> {
  let handle = match ext {
    Extern::Func(f) => return js_function(env, store, &mut cx, f, name),
    // SAFETY: a class instance made on the current call's env.
    Extern::Memory(m) => unsafe { Memory::to_napi_value(env.raw(), Memory::new(store.clone(), m)) },
    // SAFETY: as above.
    Extern::Table(t) => unsafe { Table::to_napi_value(env.raw(), Table::new(store.clone(), t)) },
    // SAFETY: as above.
    Extern::Global(g) => unsafe { Global::to_napi_value(env.raw(), Global::new(store.clone(), g)) },
    Extern::SharedMemory(_) | Extern::Tag(_) => {
      let mut u = std::ptr::null_mut();
      // SAFETY: the current call's env.
      unsafe { sys::napi_get_undefined(env.raw(), &mut u) };
      return Ok(u);
    }
  }?;
  store.attach_roots(env, handle);
  Ok(handle)
}

/// `extern_to_js` of an export looked up by name, or `undefined` when there
/// is none (`getExport` of an instance or a `Caller`).
pub(crate) fn export_to_js(
  env: &Env,
  store: &Rc<StoreShared>,
  cx: impl AsContextMut<Data = StoreData>,
  ext: Option<Extern>,
  name: &str,
) -> Result<sys::napi_value> {
  match ext {
    Some(ext) => extern_to_js(env, store, cx, ext, name),
    None => {
      let mut u = std::ptr::null_mut();
      // SAFETY: the current call's env.
      unsafe { sys::napi_get_undefined(env.raw(), &mut u) };
      Ok(u)
    }
  }
}

/// Makes a handle made by `new Memory`, `new Table` or `new Global` keep its
/// store's roots, as handles taken from exports do: the facade calls this
/// right after construction. Without it, a store reachable only through such
/// a handle lost its host functions to GC (a funcref in a constructed table
/// then threw ERR_WASMTIME_HOST when called). A `Store` does the same in its
/// constructor.
#[napi]
pub fn attach_store_roots(env: Env, handle: Either3<ClassInstance<'_, Memory>, ClassInstance<'_, Table>, ClassInstance<'_, Global>>) {
  let (store, value) = match &handle {
    Either3::A(m) => (&m.store, m.value),
    Either3::B(t) => (&t.store, t.value),
    Either3::C(g) => (&g.store, g.value),
  };
  store.attach_roots(&env, value);
}
