//! [`wasmtime::Instance`]: an instantiated module and its exports.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html>

use crate::error::{self, throw, Kind};
use crate::externs::extern_to_js;
use crate::linker::instantiate_error;
use crate::module::Module;
use crate::store::{Store, StoreShared};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::ptr;
use std::rc::Rc;

/// An instance of a module in a store.
#[napi]
pub struct Instance {
  pub(crate) store: Rc<StoreShared>,
  pub(crate) instance: wasmtime::Instance,
}

impl Instance {
  /// The JavaScript object for `instance`, holding its store's roots.
  pub(crate) fn to_js<'env>(env: &'env Env, store: Rc<StoreShared>, instance: wasmtime::Instance) -> Result<Unknown<'env>> {
    let shared = store.clone();
    // SAFETY: a class instance made on the current env.
    let v = unsafe { Instance::to_napi_value(env.raw(), Instance { store, instance }) }?;
    shared.attach_roots(env, v);
    // SAFETY: made on `env` in this call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), v) })
  }
}

#[napi]
impl Instance {
  /// Instantiates a module that has no imports, or (with `trapUnknownImports`)
  /// whose imports all become functions that trap when called.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.new>
  #[napi(catch_unwind, ts_return_type = "Instance")]
  pub fn create<'env>(env: &'env Env, store: &Store, module: &Module, trap_unknown_imports: Option<bool>) -> Result<Unknown<'env>> {
    let m = module.module(&env)?;
    if !wasmtime::Engine::same(&store.shared.engine, m.engine()) {
      return Err(throw(&env, Kind::Error, error::INSTANTIATE, "the module and the store belong to different engines"));
    }
    // Hold raw-loaded code before wasmtime registers the module in the store,
    // so a failed instantiation cannot leave the store running code it does
    // not keep alive.
    if let Some(raw) = module.raw() {
      store.shared.hold(raw);
    }
    let instance = store.shared.enter(&env, |mut cx| {
      let mut linker = wasmtime::Linker::new(cx.engine());
      if trap_unknown_imports.unwrap_or(false) {
        linker
          .define_unknown_imports_as_traps(m)
          .map_err(|e| throw(&env, Kind::Error, error::LINK, &error::chain(&e)))?;
      }
      linker.instantiate(&mut cx, m).map_err(|e| instantiate_error(&env, &mut cx, &e))
    })?;
    Instance::to_js(env, store.shared.clone(), instance)
  }

  /// Every export as an object of values: functions, Memory, Table and Global
  /// objects, like `WebAssembly.Instance#exports`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.exports>
  #[napi(catch_unwind)]
  pub fn exports<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
    let instance = self.instance;
    let store = self.store.clone();
    let raw = env.raw();
    let obj = self.store.with(env, |mut cx| {
      let items: Vec<(String, wasmtime::Extern)> =
        instance.exports(&mut cx).map(|e| (e.name().to_string(), e.into_extern())).collect();
      let mut obj = ptr::null_mut();
      let mut props = Vec::with_capacity(items.len());
      for (name, ext) in items {
        let value = extern_to_js(env, &store, &mut cx, ext, &name)?;
        let mut key = ptr::null_mut();
        // SAFETY: a string made on the current call's env, of `name`'s bytes
        // (names may hold NUL, and `__proto__` is an ordinary name here).
        unsafe { sys::napi_create_string_utf8(raw, name.as_ptr().cast(), name.len() as isize, &mut key) };
        // Plain data properties take V8's fast path; the facade freezes the
        // object, as `WebAssembly.Instance#exports` is.
        props.push(crate::store::data_property(ptr::null(), key, value));
      }
      // SAFETY: own data properties defined on a new object of this env; no
      // setter (such as `__proto__`'s) runs.
      unsafe {
        sys::napi_create_object(raw, &mut obj);
        sys::napi_define_properties(raw, obj, props.len(), props.as_ptr());
      }
      Ok(obj)
    })?;
    Ok(Object::from_raw(raw, obj))
  }

  /// The export `name` (a function, Memory, Table or Global), or `undefined`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.get_export>
  #[napi(catch_unwind)]
  pub fn get_export<'env>(&self, env: &'env Env, name: String) -> Result<Unknown<'env>> {
    let instance = self.instance;
    let store = self.store.clone();
    let v = self.store.with(env, |mut cx| match instance.get_export(&mut cx, &name) {
      Some(ext) => extern_to_js(env, &store, &mut cx, ext, &name),
      None => {
        let mut u = ptr::null_mut();
        // SAFETY: the current call's env.
        unsafe { sys::napi_get_undefined(env.raw(), &mut u) };
        Ok(u)
      }
    })?;
    // SAFETY: made on `env` in this call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), v) })
  }
}
