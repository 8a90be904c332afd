//! [`wasmtime::Instance`]: an instantiated module and its exports.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html>

use crate::error::{self, throw, throw_wasm_error, Kind};
use crate::func::Func;
use crate::memory::Memory;
use crate::module::{ExportType, Module};
use crate::store::{Store, StoreShared};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::rc::Rc;

/// Options of `new Instance(store, module, options)`.
#[napi(object)]
#[derive(Default)]
pub struct InstanceOptions {
  /// Satisfy every import with a function that traps when called.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.define_unknown_imports_as_traps>
  pub define_unknown_imports_as_traps: Option<bool>,
}

/// An instance of a module in a store.
#[napi]
pub struct Instance {
  store: Rc<StoreShared>,
  instance: wasmtime::Instance,
}

#[napi]
impl Instance {
  /// Instantiates `module` into `store`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.new>
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, store: &Store, module: &Module, options: Option<InstanceOptions>) -> Result<Self> {
    let options = options.unwrap_or_default();
    let m = module.module(&env)?;
    let instance = store.shared.with(&env, |inner| {
      if !wasmtime::Engine::same(inner.store.engine(), m.engine()) {
        return Err(throw(&env, Kind::Error, error::INSTANTIATE, "the module and the store belong to different engines"));
      }
      // Pin raw code before wasmtime registers the module in the store, so a
      // failed instantiation cannot leave the store with unpinned code.
      if let Some(raw) = module.raw() {
        inner.hold(raw);
      }
      let mut linker = wasmtime::Linker::new(inner.store.engine());
      if options.define_unknown_imports_as_traps.unwrap_or(false) {
        linker
          .define_unknown_imports_as_traps(m)
          .map_err(|e| throw(&env, Kind::Error, error::LINK, &error::chain(&e)))?;
      }
      linker.instantiate(&mut inner.store, m).map_err(|e| {
        if e.downcast_ref::<wasmtime::Trap>().is_some() {
          throw_wasm_error(&env, &e, error::INSTANTIATE)
        } else {
          throw(&env, Kind::Error, error::INSTANTIATE, &format!("instantiation failed: {}", error::chain(&e)))
        }
      })
    })?;
    Ok(Instance { store: store.shared.clone(), instance })
  }

  /// Names and kinds of the instance's exports.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.exports>
  #[napi(catch_unwind)]
  pub fn export_types(&self, env: Env) -> Result<Vec<ExportType>> {
    let instance = self.instance;
    self.store.with(&env, |inner| {
      Ok(
        instance
          .exports(&mut inner.store)
          .map(|e| {
            let name = e.name().to_string();
            let kind = match e.into_extern() {
              wasmtime::Extern::Func(_) => "func",
              wasmtime::Extern::Global(_) => "global",
              wasmtime::Extern::Table(_) => "table",
              wasmtime::Extern::Memory(_) | wasmtime::Extern::SharedMemory(_) => "memory",
              wasmtime::Extern::Tag(_) => "tag",
            };
            ExportType { name, kind: kind.to_string() }
          })
          .collect(),
      )
    })
  }

  /// The exported function `name`, or `null`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.get_func>
  #[napi(catch_unwind)]
  pub fn get_func(&self, env: Env, name: String) -> Result<Option<Func>> {
    let instance = self.instance;
    let store = self.store.clone();
    self.store.with(&env, |inner| {
      Ok(instance.get_func(&mut inner.store, &name).map(|f| Func::new(store, &inner.store, f)))
    })
  }

  /// The exported memory `name`, or `null`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.get_memory>
  #[napi(catch_unwind)]
  pub fn get_memory(&self, env: Env, name: String) -> Result<Option<Memory>> {
    let instance = self.instance;
    let store = self.store.clone();
    self
      .store
      .with(&env, |inner| Ok(instance.get_memory(&mut inner.store, &name).map(|m| Memory::new(store, m))))
  }
}
