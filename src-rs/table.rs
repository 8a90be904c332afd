//! [`wasmtime::Table`]: a wasm table of references.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Table.html>

use crate::error::{self, throw, Kind};
use crate::externs::{parse_val_type, table_desc, TypeDesc};
use crate::store::{Store, StoreShared};
use crate::val::{from_val, to_val};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::rc::Rc;
use wasmtime::{RootScope, ValType};

/// What to do when a table cannot be made or grown.
const TABLE_HINT: &str = "a table stays within its maximum and its store's `tableElements` limit (raise it in `new Store(engine, { tableElements })`)";

/// `{ element: 'funcref' | 'externref', minimum, maximum? }` for `new Table`.
#[napi(object)]
pub struct TableTypeDesc {
  #[napi(ts_type = "'funcref' | 'externref'")]
  pub element: String,
  pub minimum: f64,
  pub maximum: Option<f64>,
}

/// A wasm table.
#[napi]
pub struct Table {
  pub(crate) store: Rc<StoreShared>,
  pub(crate) table: wasmtime::Table,
}

impl Table {
  pub(crate) fn new(store: Rc<StoreShared>, table: wasmtime::Table) -> Table {
    Table { store, table }
  }

  fn element(&self, env: &Env) -> Result<ValType> {
    let t = self.table;
    self.store.with(env, |cx| Ok(ValType::Ref(t.ty(&cx).element().clone())))
  }
}

#[napi]
impl Table {
  /// A host-created table, every element `init` (default null).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Table.html#method.new>
  #[napi(constructor, catch_unwind)]
  pub fn new_js(env: Env, store: &Store, ty: TableTypeDesc, init: Option<Unknown>) -> Result<Self> {
    let ValType::Ref(rt) = parse_val_type(&env, &ty.element)? else {
      return Err(throw(&env, Kind::Type, error::INVALID_ARGUMENT, "a table's element must be 'funcref' or 'externref'"));
    };
    let minimum = crate::val::index(&env, ty.minimum, "table minimum")?;
    let maximum = ty.maximum.map(|m| crate::val::index(&env, m, "table maximum")).transpose()?;
    let limit = u64::from(u32::MAX);
    if minimum > limit || maximum.is_some_and(|m| m > limit || m < minimum) {
      return Err(throw(&env, Kind::Range, error::INVALID_ARGUMENT, &format!("a table needs minimum <= maximum <= {limit}; got minimum {minimum}, maximum {maximum:?}")));
    }
    let tt = wasmtime::TableType::new(rt.clone(), minimum as u32, maximum.map(|m| m as u32));
    let table = store.shared.with(&env, |mut cx| {
      let mut scope = RootScope::new(&mut cx);
      let init = match init {
        Some(v) => to_val(&env, &mut scope, v.raw(), &ValType::Ref(rt.clone()), &|| "the initial element".into())?,
        None => wasmtime::Val::null_ref(rt.heap_type()),
      };
      let r = init.ref_().ok_or_else(|| throw(&env, Kind::Type, error::INVALID_ARGUMENT, "a table element must be a reference"))?;
      wasmtime::Table::new(&mut scope, tt, r)
        .map_err(|e| throw(&env, Kind::Range, error::INVALID_ARGUMENT, &format!("cannot create the table: {}; {TABLE_HINT}", error::chain(&e))))
    })?;
    Ok(Table { store: store.shared.clone(), table })
  }

  /// The element at `index`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Table.html#method.get>
  #[napi(catch_unwind)]
  pub fn get<'env>(&self, env: &'env Env, index: f64) -> Result<Unknown<'env>> {
    let t = self.table;
    let store = self.store.clone();
    let index = crate::val::index(env, index, "table.get(index)")?;
    let v = self.store.with(env, |mut cx| {
      let mut scope = RootScope::new(&mut cx);
      let r = t
        .get(&mut scope, index)
        .ok_or_else(|| throw(env, Kind::Range, error::INVALID_ARGUMENT, &format!("table index {index} is out of bounds")))?;
      from_val(env, &store, &mut scope, &r.into())
    })?;
    // SAFETY: made on `env` in this call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), v) })
  }

  /// Sets the element at `index`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Table.html#method.set>
  #[napi(catch_unwind)]
  pub fn set(&self, env: Env, index: f64, value: Unknown) -> Result<()> {
    let t = self.table;
    let elem = self.element(&env)?;
    let index = crate::val::index(&env, index, "table.set(index)")?;
    self.store.with(&env, |mut cx| {
      let mut scope = RootScope::new(&mut cx);
      let v = to_val(&env, &mut scope, value.raw(), &elem, &|| "the element".into())?;
      let r = v.ref_().ok_or_else(|| throw(&env, Kind::Type, error::INVALID_ARGUMENT, "a table element must be a reference"))?;
      t.set(&mut scope, index, r)
        .map_err(|e| throw(&env, Kind::Range, error::INVALID_ARGUMENT, &format!("table.set({index}) failed: {}", error::chain(&e))))
    })
  }

  /// Grows by `delta` elements set to `init` (default null); returns the old size.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Table.html#method.grow>
  #[napi(catch_unwind)]
  pub fn grow(&self, env: Env, delta: f64, init: Option<Unknown>) -> Result<f64> {
    let t = self.table;
    let elem = self.element(&env)?;
    let delta = crate::val::index(&env, delta, "table.grow(delta)")?;
    self.store.with(&env, |mut cx| {
      let mut scope = RootScope::new(&mut cx);
      let v = match init {
        Some(v) => to_val(&env, &mut scope, v.raw(), &elem, &|| "the initial element".into())?,
        None => match &elem {
          ValType::Ref(rt) => wasmtime::Val::null_ref(rt.heap_type()),
          _ => return Err(throw(&env, Kind::Type, error::INVALID_ARGUMENT, "a table element must be a reference")),
        },
      };
      let r = v.ref_().ok_or_else(|| throw(&env, Kind::Type, error::INVALID_ARGUMENT, "a table element must be a reference"))?;
      t.grow(&mut scope, delta, r)
        .map(|old| old as f64)
        .map_err(|e| throw(&env, Kind::Range, error::INVALID_ARGUMENT, &format!("table.grow({delta}) failed: {}; {TABLE_HINT}", error::chain(&e))))
    })
  }

  /// The number of elements.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Table.html#method.size>
  #[napi(catch_unwind)]
  pub fn size(&self, env: Env) -> Result<f64> {
    let t = self.table;
    self.store.with(&env, |cx| Ok(t.size(&cx) as f64))
  }

  /// `{ kind: 'table', element, minimum, maximum }`.
  #[napi(getter, js_name = "type", catch_unwind)]
  pub fn ty(&self, env: Env) -> Result<TypeDesc> {
    let t = self.table;
    self.store.with(&env, |cx| Ok(table_desc(&t.ty(&cx))))
  }
}
