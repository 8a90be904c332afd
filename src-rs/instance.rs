//! [`wasmtime::Instance`]: an instantiated module and its exports. JavaScript
//! names an instance by its Store and a number (see `record`).
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html>

use crate::error::{self, throw, Kind};
use crate::externs::{export_to_js, extern_to_js};
use crate::linker::instantiate_error;
use crate::module::Module;
use crate::store::{Store, StoreData};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::ptr;
use wasmtime::{AsContext, AsContextMut};

/// Records `instance`, made in `cx`, and returns the number JavaScript names
/// it by: its place in the store's list.
///
/// An instance is not a class object of its own. Per request (a store, one
/// instance, a call, dispose), a napi-rs class object was about a tenth of
/// the time: its construction, wrap, reference, finalizer and napi-rs's
/// reference map entry. The facade's `Instance` holds its Store and this
/// number, so the store (and the roots its object carries) lives as long as
/// the instance, as before.
pub(crate) fn record(mut cx: impl AsContextMut<Data = StoreData>, instance: wasmtime::Instance) -> u32 {
  let mut cx = cx.as_context_mut();
  let list = &mut cx.data_mut().instances;
  list.push(instance);
  // At most the store's instance limit (10,000 by default), far below 2^32.
  (list.len() - 1) as u32
}

/// The instance numbered `index` in `cx`'s store.
pub(crate) fn nth(env: &Env, cx: &impl AsContext<Data = StoreData>, index: u32) -> Result<wasmtime::Instance> {
  cx.as_context().data().instances.get(index as usize).copied().ok_or_else(|| {
    throw(env, Kind::Range, error::INVALID_ARGUMENT, "no instance with this number in this Store; use the Instance that instantiation returned")
  })
}

/// Instantiates a module that has no imports, or (with `trapUnknownImports`)
/// whose imports all become functions that trap when called. Returns the
/// instance's number in `store`.
/// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.new>
#[napi(catch_unwind)]
pub fn instance_create(env: Env, store: &Store, module: &Module, trap_unknown_imports: Option<bool>) -> Result<u32> {
  let m = module.module(&env)?;
  crate::linker::same_engine(&env, &store.shared, m)?;
  // Hold raw-loaded code before wasmtime registers the module in the store,
  // so a failed instantiation cannot leave the store running code it does
  // not keep alive.
  if let Some(raw) = module.raw() {
    store.shared.hold(raw);
  }
  store.shared.enter(&env, |mut cx| {
    let mut linker = wasmtime::Linker::new(cx.engine());
    if trap_unknown_imports.unwrap_or(false) {
      linker
        .define_unknown_imports_as_traps(m)
        .map_err(|e| throw(&env, Kind::Error, error::LINK, &error::chain(&e)))?;
    }
    let instance = linker.instantiate(&mut cx, m).map_err(|e| instantiate_error(&env, &mut cx, &e))?;
    Ok(record(&mut cx, instance))
  })
}

/// Every export of instance `index` of `store` as an object of values:
/// functions, Memory, Table and Global objects, like
/// `WebAssembly.Instance#exports`.
/// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.exports>
#[napi(catch_unwind)]
pub fn instance_exports<'env>(env: &'env Env, store: &Store, index: u32) -> Result<Object<'env>> {
  let store = &store.shared;
  let raw = env.raw();
  let obj = store.with(env, |mut cx| {
    let instance = nth(env, &cx, index)?;
    let items: Vec<(String, wasmtime::Extern)> =
      instance.exports(&mut cx).map(|e| (e.name().to_string(), e.into_extern())).collect();
    let mut obj = ptr::null_mut();
    let mut props = Vec::with_capacity(items.len());
    for (name, ext) in items {
      let value = extern_to_js(env, store, &mut cx, ext, &name)?;
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

/// The export `name` of instance `index` of `store` (a function, Memory,
/// Table or Global), or `undefined`.
/// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html#method.get_export>
#[napi(catch_unwind)]
pub fn instance_get_export<'env>(env: &'env Env, store: &Store, index: u32, name: String) -> Result<Unknown<'env>> {
  let store = &store.shared;
  let v = store.with(env, |mut cx| {
    let ext = nth(env, &cx, index)?.get_export(&mut cx, &name);
    export_to_js(env, store, &mut cx, ext, &name)
  })?;
  // SAFETY: made on `env` in this call.
  Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), v) })
}
