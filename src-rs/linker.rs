//! [`wasmtime::Linker`] and [`wasmtime::InstancePre`]: resolving imports by
//! name, from host functions, other instances' exports and WASI.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html>
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.InstancePre.html>

use crate::engine::Engine;
use crate::error::{self, throw, Kind};
use crate::externs::{parse_func_type, FuncTypeDesc};
use crate::func::wasm_func_of;
use crate::global::Global;
use crate::memory::Memory;
use crate::table::Table;
use wasmtime::Extern;
use crate::host::HostFunc;
use crate::module::{Module, RawCode};
use crate::store::{Store, StoreData, StoreShared};
use crate::trap;
use crate::wasi::WasiContext;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::rc::{Rc, Weak};
use std::sync::Arc;

/// Says what to do when instantiation hit a limit: which pooling or store
/// option to raise, or that the address space is full of memories.
fn limit_hint(e: &wasmtime::Error) -> String {
  let text = error::chain(e);
  if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
    "; the engine's pooling limits were reached: dispose the stores you no longer need, or raise them in `new Engine({ pooling: { totalCoreInstances, totalMemories, totalTables } })`".into()
  } else if text.contains("table") && text.contains("exceeds") {
    "; raise the store's `tableElements` limit in `new Store(engine, { tableElements })` if this module is trusted".into()
  } else if text.contains("exceeds") || text.contains("limit") {
    "; a store limit was reached: see the options of `new Store(engine, options)`".into()
  } else if text.contains("mmap failed to reserve") {
    no_room_hint()
  } else {
    String::new()
  }
}

/// Says what to do when the process is out of room for another linear memory.
pub(crate) fn no_room_hint() -> String {
  let alive = crate::store::LIVE_STORES.load(std::sync::atomic::Ordering::Relaxed);
  format!(
    "; the process is running out of room for linear memories ({alive} stores alive; without pooling each memory reserves GiBs of address space and a few memory mappings). A disposed store whose `memory.buffer` view is still alive keeps its memory until the view is collected, which happens only once the event loop turns: let a long synchronous loop yield (await), or use `new Engine({{ pooling }})`, whose memories come from a fixed set of slots"
  )
}

/// Options of `linker.func(...)`.
#[napi(object)]
#[derive(Default)]
pub struct FuncOptions {
  /// Pass a `Caller` (the calling instance) as the first argument.
  pub caller: Option<bool>,
}

/// Resolves imports by module and name.
#[napi]
pub struct Linker {
  linker: wasmtime::Linker<StoreData>,
  /// The host functions defined here, to root in each store instantiated
  /// into: by module and name, so a function defined again over another
  /// (`allowShadowing`) replaces it here too.
  hosts: std::collections::HashMap<(String, String), Arc<HostFunc>>,
  /// The store that the items defined with `define*` belong to, if any:
  /// wasmtime panics when they meet another store, so that is refused first.
  /// Held weakly: the store's allocation, and so its address, stays taken
  /// while this lives, so a later store cannot pass for it.
  owner: Option<Weak<StoreShared>>,
  engine: wasmtime::Engine,
  /// The WASI context to move into the store at instantiation.
  wasi: Option<Reference<WasiContext>>,
  /// `allowShadowing`, which wasmtime's linker does not report: defining
  /// WASI shadows two of its own calls and then restores this.
  shadowing: bool,
}

fn link_error(env: &Env, e: &wasmtime::Error) -> napi::Error {
  throw(env, Kind::Error, error::LINK, &error::chain(e))
}

impl Linker {
  /// Records that this linker now holds items of `store`.
  fn own(&mut self, env: &Env, store: &Rc<StoreShared>) -> Result<()> {
    match &self.owner {
      Some(o) if !std::ptr::eq(o.as_ptr(), Rc::as_ptr(store)) => Err(throw(
        env,
        Kind::Error,
        error::LINK,
        "this Linker already holds items of another Store; a linker's defined memories, tables, globals, wasm functions and instances all come from one store. Use a Linker per store.",
      )),
      _ => {
        self.owner = Some(Rc::downgrade(store));
        Ok(())
      }
    }
  }

  /// Moves the linker's WASI context into the store, if it has none yet.
  fn attach_wasi(&self, env: &Env, shared: &StoreShared) -> Result<()> {
    let Some(ctx) = &self.wasi else { return Ok(()) };
    shared.with(env, |mut cx| {
      if cx.data().wasi.is_none() {
        cx.data_mut().wasi = Some(ctx.take(env)?);
      }
      Ok(())
    })
  }
}

/// Refuses to instantiate `module` into `store` when they belong to different
/// engines (`new Instance`, `Linker.instantiate`, `InstancePre.instantiate`).
pub(crate) fn same_engine(env: &Env, store: &StoreShared, module: &wasmtime::Module) -> Result<()> {
  if wasmtime::Engine::same(&store.engine, module.engine()) {
    Ok(())
  } else {
    Err(throw(env, Kind::Error, error::INSTANTIATE, "the module and the store belong to different engines"))
  }
}

pub(crate) fn instantiate_error(env: &Env, mut cx: impl wasmtime::AsContextMut<Data = StoreData>, e: &wasmtime::Error) -> napi::Error {
  if e.downcast_ref::<wasmtime::Trap>().is_some() || e.downcast_ref::<trap::JsException>().is_some() {
    trap::throw_call_error(env, cx, e)
  } else if let Some(why) = cx.as_context_mut().data_mut().limits.refusal(e) {
    throw(env, Kind::Error, error::INSTANTIATE, &format!("instantiation failed: {why}{}", no_room_hint()))
  } else {
    throw(env, Kind::Error, error::INSTANTIATE, &format!("instantiation failed: {}{}", error::chain(e), limit_hint(e)))
  }
}

#[napi]
impl Linker {
  /// `new Linker(engine)`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.new>
  #[napi(constructor)]
  pub fn new(engine: &Engine) -> Self {
    Linker { linker: wasmtime::Linker::new(&engine.engine), hosts: Default::default(), owner: None, engine: engine.engine.clone(), wasi: None, shadowing: false }
  }

  /// Whether later definitions may replace earlier ones of the same name.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.allow_shadowing>
  #[napi]
  pub fn allow_shadowing(&mut self, allow: bool) {
    self.linker.allow_shadowing(allow);
    self.shadowing = allow;
  }

  /// Defines every import of `module` that is still undefined as a function
  /// that traps when called.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.define_unknown_imports_as_traps>
  #[napi(catch_unwind)]
  pub fn define_unknown_imports_as_traps(&mut self, env: Env, module: &Module) -> Result<()> {
    let m = module.module(&env)?;
    self.linker.define_unknown_imports_as_traps(m).map_err(|e| link_error(&env, &e))
  }

  fn define_extern(&mut self, env: &Env, store: &Store, owner: *const StoreShared, module: &str, name: &str, ext: Extern) -> Result<()> {
    if owner != Rc::as_ptr(&store.shared) {
      return Err(throw(env, Kind::Type, error::INVALID_ARGUMENT, &format!("{module}.{name} belongs to another Store than the one given")));
    }
    self.own(env, &store.shared)?;
    let linker = &mut self.linker;
    store.shared.with(env, |cx| linker.define(&cx, module, name, ext).map(|_| ()).map_err(|e| link_error(env, &e)))
  }

  /// Defines `module.name` as a wasm function of `store` (an export or funcref).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.define>
  #[napi(catch_unwind)]
  pub fn define_func(&mut self, env: Env, store: &Store, module: String, name: String, func: Unknown) -> Result<()> {
    let (f, owner) = wasm_func_of(&env, func.raw()).ok_or_else(|| {
      throw(&env, Kind::Type, error::INVALID_ARGUMENT, &format!("{module}.{name}: expected a wasm function"))
    })?;
    self.define_extern(&env, store, owner, &module, &name, Extern::Func(f))
  }

  /// Defines `module.name` as a Memory of `store`.
  #[napi(catch_unwind)]
  pub fn define_memory(&mut self, env: Env, store: &Store, module: String, name: String, memory: &Memory) -> Result<()> {
    self.define_extern(&env, store, Rc::as_ptr(&memory.store), &module, &name, Extern::Memory(memory.memory))
  }

  /// Defines `module.name` as a Table of `store`.
  #[napi(catch_unwind)]
  pub fn define_table(&mut self, env: Env, store: &Store, module: String, name: String, table: &Table) -> Result<()> {
    self.define_extern(&env, store, Rc::as_ptr(&table.store), &module, &name, Extern::Table(table.table))
  }

  /// Defines `module.name` as a Global of `store`.
  #[napi(catch_unwind)]
  pub fn define_global(&mut self, env: Env, store: &Store, module: String, name: String, global: &Global) -> Result<()> {
    self.define_extern(&env, store, Rc::as_ptr(&global.store), &module, &name, Extern::Global(global.global))
  }

  /// Defines every export of instance `index` of `instance_store` under the
  /// module name `name`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.instance>
  #[napi(catch_unwind)]
  pub fn define_instance(&mut self, env: Env, store: &Store, name: String, instance_store: &Store, index: u32) -> Result<()> {
    if !Rc::ptr_eq(&instance_store.shared, &store.shared) {
      return Err(throw(&env, Kind::Type, error::INVALID_ARGUMENT, "the instance belongs to another Store"));
    }
    self.own(&env, &store.shared)?;
    let linker = &mut self.linker;
    store.shared.with(&env, |mut cx| {
      let inst = crate::instance::nth(&env, &cx, index)?;
      linker.instance(&mut cx, &name, inst).map(|_| ()).map_err(|e| link_error(&env, &e))
    })
  }

  /// Defines `module.name` as a host function: `fn(...args)` (or
  /// `fn(caller, ...args)` with `{ caller: true }`) of type `{ params, results }`.
  /// A type of numbers only takes the raw calling convention.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.func_new>
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.func_new_unchecked>
  #[napi(catch_unwind)]
  pub fn func(
    &mut self,
    env: Env,
    module: String,
    name: String,
    ty: FuncTypeDesc,
    func: Unknown,
    options: Option<FuncOptions>,
  ) -> Result<()> {
    let ft = parse_func_type(&env, &self.engine, &ty)?;
    let host = Arc::new(HostFunc::new(&env, func.raw(), &ft, options.and_then(|o| o.caller).unwrap_or(false), format!("{module}.{name}"))?);
    let defined = host.clone();
    if host.raw_convention() {
      // SAFETY: `host` was made from `ft` and passed `raw_convention`, and
      // `call_raw` reads and writes `ft`'s parameters and results, numbers
      // all, by their types.
      unsafe { self.linker.func_new_unchecked(&module, &name, ft, move |caller, raw| defined.call_raw(caller, raw)) }
    } else {
      self.linker.func_new(&module, &name, ft, move |caller, params, results| defined.call(caller, params, results))
    }
    .map_err(|e| link_error(&env, &e))?;
    // Only once defined: a refused definition must not stay rooted.
    self.hosts.insert((module, name), host);
    Ok(())
  }

  /// Defines WASI preview1 (`wasi_snapshot_preview1`), backed by `ctx` in the
  /// store this linker next instantiates into.
  /// <https://docs.rs/wasmtime-wasi/48.0.8/wasmtime_wasi/p1/fn.add_to_linker_sync.html>
  #[napi(catch_unwind)]
  pub fn define_wasi(&mut self, env: Env, ctx: Reference<WasiContext>) -> Result<()> {
    if self.wasi.is_none() {
      crate::wasi::add_to_linker(&mut self.linker, self.shadowing).map_err(|e| link_error(&env, &e))?;
    }
    self.wasi = Some(ctx);
    Ok(())
  }

  /// Instantiates `module` into `store` with this linker's definitions, and
  /// returns the instance's number in `store` (instance.rs).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.instantiate>
  #[napi(catch_unwind)]
  pub fn instantiate(&self, env: &Env, store: &Store, module: &Module) -> Result<u32> {
    let m = module.module(env)?;
    same_engine(env, &store.shared, m)?;
    if let Some(raw) = module.raw() {
      store.shared.hold(raw);
    }
    same_store(env, &self.owner, &store.shared)?;
    root_hosts(env, &store.shared, self.hosts.values());
    self.attach_wasi(env, &store.shared)?;
    let linker = &self.linker;
    store.shared.enter(env, |mut cx| {
      let inst = linker.instantiate(&mut cx, m).map_err(|e| instantiate_error(env, &mut cx, &e))?;
      Ok(crate::instance::record(&mut cx, inst))
    })
  }

  /// Resolves every import of `module` now, for cheap repeated instantiation.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.instantiate_pre>
  #[napi(catch_unwind)]
  pub fn instantiate_pre(&self, env: Env, module: &Module) -> Result<InstancePre> {
    let m = module.module(&env)?;
    let pre = self.linker.instantiate_pre(m).map_err(|e| link_error(&env, &e))?;
    Ok(InstancePre { pre, hosts: self.hosts.values().cloned().collect(), owner: self.owner.clone(), raw: module.raw().cloned() })
  }
}

/// Refuses to instantiate into `store` when the linker holds another store's items.
fn same_store(env: &Env, owner: &Option<Weak<StoreShared>>, store: &Rc<StoreShared>) -> Result<()> {
  match owner {
    Some(o) if !std::ptr::eq(o.as_ptr(), Rc::as_ptr(store)) => Err(throw(
      env,
      Kind::Error,
      error::LINK,
      "this Linker holds memories, tables, globals, wasm functions or instances of another Store, which cannot be used in this one; define them from this store, or use a Linker per store",
    )),
    _ => Ok(()),
  }
}

/// Roots `hosts` in `store`, so they live as long as its handles.
fn root_hosts<'a>(env: &Env, store: &StoreShared, hosts: impl IntoIterator<Item = &'a Arc<HostFunc>>) {
  store.root(env, hosts.into_iter().map(|h| (Arc::as_ptr(h) as usize, h.value())));
}

/// A module with its imports resolved, ready to instantiate many times.
#[napi]
pub struct InstancePre {
  // Field order is drop order: the module clone inside `pre` goes first.
  pre: wasmtime::InstancePre<StoreData>,
  hosts: Vec<Arc<HostFunc>>,
  owner: Option<Weak<StoreShared>>,
  raw: Option<Arc<RawCode>>,
}

#[napi]
impl InstancePre {
  /// Instantiates into `store` (which needs a WASI context of its own when the
  /// module imports WASI: pass one), and returns the instance's number in
  /// `store` (instance.rs).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.InstancePre.html#method.instantiate>
  #[napi(catch_unwind)]
  pub fn instantiate(&self, env: &Env, store: &Store, wasi: Option<&WasiContext>) -> Result<u32> {
    same_engine(env, &store.shared, self.pre.module())?;
    if let Some(raw) = &self.raw {
      store.shared.hold(raw);
    }
    same_store(env, &self.owner, &store.shared)?;
    root_hosts(env, &store.shared, &self.hosts);
    if let Some(ctx) = wasi {
      let p1 = ctx.take(env)?;
      store.shared.with(env, |mut cx| {
        cx.data_mut().wasi = Some(p1);
        Ok(())
      })?;
    }
    let pre = &self.pre;
    store.shared.enter(env, |mut cx| {
      let inst = pre.instantiate(&mut cx).map_err(|e| instantiate_error(env, &mut cx, &e))?;
      Ok(crate::instance::record(&mut cx, inst))
    })
  }
}
