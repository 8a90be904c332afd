//! [`wasmtime::Module`]: compiling, validating, serializing and the three
//! loaders, among them the zero-copy [`Module::deserialize_raw`].
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html>
//!
//! # Raw loading and lifetimes
//! A module loaded raw runs code straight out of a [`Region`]: page-aligned
//! memory the package allocated and lent to JavaScript as an ArrayBuffer
//! (`alignedBuffer`, `readPrecompiled`, ...). `deserializeRaw` takes it back:
//! once the module is loaded the ArrayBuffer is detached, so no JavaScript
//! operation can reach the bytes again. [`RawCode`] holds the wasmtime module
//! and the region; every native holder of the module (the `Module` wrappers
//! on every thread, each `Store` it was instantiated into, each `InstancePre`,
//! each share-registry entry) holds an `Arc<RawCode>`, and the region is
//! unmapped only after wasmtime has unpublished and deregistered the code.
//! Since a region can be loaded only once (it is detached by the first load;
//! sharing clones the loaded module, never loads again), wasmtime never sees
//! the same code range registered twice.
//!
//! # Sharing across threads
//! `module.share()` puts an entry in a process-wide registry ([`SHARED`]): a
//! clone of the code (a `wasmtime::Module` clone, or the `Arc<RawCode>`, so
//! raw-loaded code and its region stay alive) and a duplicate of the engine.
//! The id it returns is posted to a worker, where `Module.fromShared` clones
//! the entry into a new wrapper: the same compiled code, no recompile, no
//! copy, no second load. From then on that wrapper (and every store it is
//! instantiated into) holds the code itself, whichever thread exits first.
//!
//! An entry belongs to the wrapper that made it ([`Ticket`]): one entry per
//! wrapper however often it shares, removed when that wrapper is released
//! (`module[Symbol.dispose]()`) or garbage-collected (also when its thread
//! exits). A handle used after that is stale: `fromShared` throws. So the
//! registry never holds more entries than there are live wrappers that
//! shared, and it never keeps code alive on its own.

use crate::engine::Engine;
use crate::error::{self, guard, throw, Kind};
use crate::externs::{describe, TypeDesc};
use crate::aligned::Region;
use napi::bindgen_prelude::*;
use napi::{sys, JsValue};
use napi_derive::napi;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

pub(crate) static PINNED_BYTES: AtomicUsize = AtomicUsize::new(0);
pub(crate) static PINNED_REGIONS: AtomicUsize = AtomicUsize::new(0);
/// Bytes of compiled code currently reported to V8 with `adjust_external_memory`.
pub(crate) static REPORTED_BYTES: AtomicI64 = AtomicI64::new(0);

/// Tells V8 that `delta` bytes of native memory came or went, so that garbage
/// collection feels compiled code it cannot see.
fn report(env: &Env, delta: i64) -> Result<()> {
  env.adjust_external_memory(delta)?;
  REPORTED_BYTES.fetch_add(delta, Ordering::Relaxed);
  Ok(())
}

/// The one wasmtime module loaded over a region, and the region itself.
pub(crate) struct RawCode {
  // Field order is drop order: the module (and with it wasmtime's last use of
  // the code, including unwind deregistration) goes before the region.
  module: wasmtime::Module,
  region: Arc<Region>,
}

impl Drop for RawCode {
  fn drop(&mut self) {
    PINNED_BYTES.fetch_sub(self.region.len(), Ordering::Relaxed);
    PINNED_REGIONS.fetch_sub(1, Ordering::Relaxed);
  }
}

/// What a `Module` wrapper holds.
pub(crate) enum Code {
  /// Code in memory wasmtime owns (compiled, copied or mapped from a file).
  Owned(wasmtime::Module),
  /// Code in a caller's buffer.
  Raw(Arc<RawCode>),
}

impl Code {
  /// Another hold on the same compiled code (no copy, no load).
  fn duplicate(&self) -> Code {
    match self {
      Code::Owned(m) => Code::Owned(m.clone()),
      Code::Raw(r) => Code::Raw(r.clone()),
    }
  }

  fn module(&self) -> &wasmtime::Module {
    match self {
      Code::Owned(m) => m,
      Code::Raw(r) => &r.module,
    }
  }

  /// Bytes to report to V8 for a wrapper holding this code.
  fn size(&self) -> i64 {
    match self {
      Code::Owned(m) => {
        let range = m.image_range();
        (range.end as usize - range.start as usize) as i64
      }
      Code::Raw(r) => r.region.len() as i64,
    }
  }
}

/// What the share registry holds: clones that other threads' wrappers are
/// made from.
pub(crate) enum Shared {
  Engine(Engine),
  Module { code: Code, engine: Engine },
}

impl Shared {
  fn duplicate(&self) -> Shared {
    match self {
      Shared::Engine(e) => Shared::Engine(e.duplicate()),
      Shared::Module { code, engine } => Shared::Module { code: code.duplicate(), engine: engine.duplicate() },
    }
  }
}

/// The process-wide share registry, by entry number.
static SHARED: LazyLock<Mutex<HashMap<u64, Shared>>> = LazyLock::new(|| Mutex::new(HashMap::new()));
static NEXT_ENTRY: AtomicU64 = AtomicU64::new(1);

/// A random number of this process, in every id, so that a handle from
/// another process (saved, or sent over IPC) is refused rather than taken for
/// an unrelated entry that happens to have the same number here.
static PROCESS: LazyLock<u64> = LazyLock::new(|| {
  let mut h = std::collections::hash_map::RandomState::new().build_hasher();
  h.write_u32(std::process::id());
  h.finish()
});

fn registry() -> MutexGuard<'static, HashMap<u64, Shared>> {
  SHARED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Ownership of one registry entry: the entry is removed when this drops
/// (with the wrapper that shared).
pub(crate) struct Ticket(u64);

impl Ticket {
  pub(crate) fn new(entry: Shared) -> Ticket {
    let n = NEXT_ENTRY.fetch_add(1, Ordering::Relaxed);
    registry().insert(n, entry);
    Ticket(n)
  }

  /// The id handles carry: `<process>-<entry>`.
  pub(crate) fn id(&self) -> String {
    format!("{:016x}-{}", *PROCESS, self.0)
  }
}

impl Drop for Ticket {
  fn drop(&mut self) {
    let gone = registry().remove(&self.0);
    // Dropped after the lock: this may free the last hold on the code.
    drop(gone);
  }
}

/// A copy of the entry `id` names, for `fromShared` (`who`).
pub(crate) fn lookup(env: &Env, id: &str, who: &str) -> Result<Shared> {
  let entry = id.split_once('-').and_then(|(p, n)| Some((u64::from_str_radix(p, 16).ok()?, n.parse::<u64>().ok()?)));
  let Some((process, n)) = entry else {
    return Err(throw(env, Kind::Type, error::INVALID_ARGUMENT, &format!("{who} expects a handle from engine.share() or module.share(); '{id}' is not one")));
  };
  if process != *PROCESS {
    return Err(throw(
      env,
      Kind::Type,
      error::INVALID_ARGUMENT,
      &format!("{who}: this handle was made by another process (or an earlier run); handles work only between threads of the process that made them. Send the artifact instead (module.serialize()) and load it there."),
    ));
  }
  let found = registry().get(&n).map(Shared::duplicate);
  found.ok_or_else(|| {
    if who.starts_with("Module") {
      throw(
        env,
        Kind::Error,
        error::MODULE_DISPOSED,
        &format!("{who}: the handle outlived its module: the Module that shared it was disposed or garbage-collected (or its thread exited). Keep that Module alive until every thread has called Module.fromShared, e.g. until each worker has answered."),
      )
    } else {
      throw(
        env,
        Kind::Type,
        error::INVALID_ARGUMENT,
        &format!("{who}: the handle outlived its engine: the Engine that shared it was garbage-collected (or its thread exited). Keep that Engine alive until every thread has called Engine.fromShared."),
      )
    }
  })
}

/// How many entries the share registry holds (tests check it returns to its
/// start: sharing does not leak).
#[napi]
pub fn shared_handles() -> u32 {
  registry().len() as u32
}

/// A compiled WebAssembly module.
#[napi(custom_finalize)]
pub struct Module {
  /// `None` after `release()`.
  code: Option<Code>,
  /// The engine the code belongs to, for `share()`; `None` after `release()`.
  engine: Option<Engine>,
  /// Bytes reported to V8 as external memory for this wrapper.
  reported: i64,
  /// This wrapper's share-registry entry, made by the first `share()`.
  ticket: Option<Ticket>,
}

impl ObjectFinalize for Module {
  fn finalize(self, env: Env) -> Result<()> {
    if self.reported != 0 {
      report(&env, -self.reported)?;
    }
    Ok(())
  }
}

impl Module {
  /// The wasmtime module, or a clear error after `release()`.
  pub(crate) fn module(&self, env: &Env) -> Result<&wasmtime::Module> {
    match &self.code {
      Some(code) => Ok(code.module()),
      None => Err(disposed(env)),
    }
  }

  /// The engine, or a clear error after `release()`.
  pub(crate) fn engine(&self, env: &Env) -> Result<&Engine> {
    self.engine.as_ref().ok_or_else(|| disposed(env))
  }

  pub(crate) fn raw(&self) -> Option<&Arc<RawCode>> {
    match &self.code {
      Some(Code::Raw(r)) => Some(r),
      _ => None,
    }
  }

  fn wrap(code: Code, engine: &Engine, reported: i64) -> Module {
    Module { code: Some(code), engine: Some(engine.duplicate()), reported, ticket: None }
  }

  /// Wraps a module whose code wasmtime owns and tells V8 how much native
  /// memory it holds, so garbage collection feels it.
  fn owned(env: &Env, module: wasmtime::Module, engine: &Engine) -> Result<Self> {
    let code = Code::Owned(module);
    let reported = code.size();
    report(env, reported)?;
    Ok(Module::wrap(code, engine, reported))
  }
}

fn disposed(env: &Env) -> napi::Error {
  throw(
    env,
    Kind::Error,
    error::MODULE_DISPOSED,
    "this Module was disposed; instances made from it still run, but it cannot be used again. Load it again.",
  )
}

fn deserialize_error(env: &Env, e: &wasmtime::Error) -> napi::Error {
  throw(
    env,
    Kind::Error,
    error::DESERIALIZE,
    &format!(
      "not a loadable precompiled module: {}. Artifacts load only in the same wasmtime-napi version with a compatible engine configuration; precompile again with engine.precompileModule() or `wasmtime-napi precompile`.",
      error::chain(e)
    ),
  )
}

/// What `deserializeRaw` learns of its argument before touching it.
struct RawView {
  data: *mut u8,
  len: usize,
  /// The ArrayBuffer behind the view.
  array_buffer: sys::napi_value,
  /// The package region that ArrayBuffer lends to JavaScript.
  region: Arc<Region>,
}

/// Checks that `value` is a Uint8Array over an ArrayBuffer the package lent
/// to JavaScript (and so can take back), still attached.
fn inspect_raw_buffer(env: &Env, value: sys::napi_value) -> Result<RawView> {
  let raw = env.raw();
  let invalid = || {
    throw(
      env,
      Kind::Type,
      error::INVALID_ARGUMENT,
      "Module.deserializeRaw expects a Buffer or Uint8Array holding a precompiled module, from readPrecompiled(), readPrecompiledSync() or alignedBuffer()",
    )
  };
  let mut is_typed = false;
  let mut kind = 0;
  let mut len = 0usize;
  let mut data: *mut std::ffi::c_void = ptr::null_mut();
  let mut array_buffer = ptr::null_mut();
  let mut offset = 0usize;
  // SAFETY: `raw` and `value` belong to the current call on this thread; the
  // out-pointers are valid locals.
  unsafe {
    if sys::napi_is_typedarray(raw, value, &mut is_typed) != sys::Status::napi_ok || !is_typed {
      return Err(invalid());
    }
    if sys::napi_get_typedarray_info(raw, value, &mut kind, &mut len, &mut data, &mut array_buffer, &mut offset)
      != sys::Status::napi_ok
      || kind != sys::TypedarrayType::uint8_array
    {
      return Err(invalid());
    }
    // `napi_is_arraybuffer` is false for a SharedArrayBuffer.
    let mut is_plain = false;
    sys::napi_is_arraybuffer(raw, array_buffer, &mut is_plain);
    if !is_plain {
      return Err(throw(
        env,
        Kind::Type,
        error::SHARED_BUFFER,
        "Module.deserializeRaw refuses a buffer backed by a SharedArrayBuffer: another thread could write the code while it runs. Read the artifact with readPrecompiled(), or use Module.deserialize() to copy it.",
      ));
    }
    let mut detached = false;
    sys::napi_is_detached_arraybuffer(raw, array_buffer, &mut detached);
    if detached {
      return Err(throw(
        env,
        Kind::Type,
        error::DETACHED_BUFFER,
        "Module.deserializeRaw was given a detached buffer: it was already loaded (the Module owns those bytes now; reuse that Module) or transferred away. Read the artifact again with readPrecompiled().",
      ));
    }
  }
  if len == 0 {
    return Err(throw(env, Kind::Error, error::DESERIALIZE, "not a loadable precompiled module: the buffer is empty"));
  }
  let mut ab_data = ptr::null_mut();
  let mut ab_len = 0usize;
  // SAFETY: `array_buffer` is a live, attached ArrayBuffer of this call.
  unsafe { sys::napi_get_arraybuffer_info(raw, array_buffer, &mut ab_data, &mut ab_len) };
  let region = Region::find(ab_data as usize, ab_len).ok_or_else(|| {
    throw(
      env,
      Kind::Type,
      error::FOREIGN_BUFFER,
      "Module.deserializeRaw runs code in place, so it must own the bytes: it takes only buffers the package allocated (readPrecompiled(), readPrecompiledSync(), alignedBuffer(), engine.precompileModule(), module.serialize()), never a plain, shared, resizable or WebAssembly.Memory ArrayBuffer. Copy the bytes into alignedBuffer(n), or use Module.deserialize() to copy.",
    )
  })?;
  Ok(RawView { data: data.cast(), len, array_buffer, region })
}

#[napi]
impl Module {
  /// Compiles a module from wasm binary or text.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.new>
  #[napi(factory, catch_unwind)]
  pub fn compile(env: Env, engine: &Engine, bytes: &[u8]) -> Result<Self> {
    let module = wasmtime::Module::new(&engine.engine, bytes)
      .map_err(|e| throw(&env, Kind::Error, error::COMPILE, &format!("compilation failed: {}", error::chain(&e))))?;
    Module::owned(&env, module, engine)
  }

  /// Validates wasm binary without compiling it. Returns `null` if valid, the
  /// reason otherwise.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.validate>
  #[napi(catch_unwind)]
  pub fn validate(engine: &Engine, bytes: &[u8]) -> Option<String> {
    wasmtime::Module::validate(&engine.engine, bytes).err().map(|e| error::chain(&e))
  }

  /// Loads an artifact by copying it into memory wasmtime owns.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.deserialize>
  #[napi(catch_unwind)]
  pub fn deserialize(env: Env, engine: &Engine, bytes: &[u8]) -> Result<Module> {
    if bytes.is_empty() {
      return Err(throw(&env, Kind::Error, error::DESERIALIZE, "not a loadable precompiled module: the buffer is empty"));
    }
    guard(&env, "Module.deserialize", || {
      // SAFETY: wasmtime's contract is that the bytes come from a trusted
      // precompile step. The package documents this: artifacts must come from
      // the user's own pipeline. Version and configuration are checked by
      // wasmtime; the bytes are copied, so their lifetime does not matter.
      let module = unsafe { wasmtime::Module::deserialize(&engine.engine, bytes) }
        .map_err(|e| deserialize_error(&env, &e))?;
      Module::owned(&env, module, engine)
    })
  }

  /// Loads an artifact by mapping the file.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.deserialize_file>
  #[napi(catch_unwind)]
  pub fn deserialize_file(env: Env, engine: &Engine, path: String) -> Result<Module> {
    let meta = std::fs::metadata(&path)
      .map_err(|e| throw(&env, Kind::Error, error::IO, &format!("cannot read '{path}': {e}")))?;
    if meta.len() == 0 {
      return Err(throw(&env, Kind::Error, error::DESERIALIZE, &format!("not a loadable precompiled module: '{path}' is empty")));
    }
    guard(&env, "Module.deserializeFile", || {
      // SAFETY: as for `deserialize`, the file must come from a trusted
      // precompile step; wasmtime maps it copy-on-write and private, so later
      // writes to the file are the remaining hazard, documented in the README.
      let module = unsafe { wasmtime::Module::deserialize_file(&engine.engine, &path) }
        .map_err(|e| deserialize_error(&env, &e))?;
      Module::owned(&env, module, engine)
    })
  }

  /// Loads an artifact in place: the code runs from `buffer`'s memory itself,
  /// without a copy. The module takes the memory over: `buffer` (and every
  /// view of its ArrayBuffer) is detached, as after a transfer; on Linux its
  /// pages also move to fresh addresses (see `aligned::Staged`). The memory is
  /// freed when the module and every store it was instantiated into are gone.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.deserialize_raw>
  #[napi(catch_unwind)]
  pub fn deserialize_raw(env: Env, engine: &Engine, buffer: Unknown) -> Result<Module> {
    let view = inspect_raw_buffer(&env, buffer.raw())?;
    if !engine.pulley && view.data != view.region.start() {
      return Err(throw(
        &env,
        Kind::Type,
        error::UNALIGNED_BUFFER,
        &format!(
          "Module.deserializeRaw needs the artifact at the start of its buffer, on a page boundary ({} bytes), because the code is made executable in place; this view starts {} bytes in. Pass the buffer readPrecompiled()/alignedBuffer() returned, or use Module.deserialize() to copy.",
          crate::code_memory::page_size(),
          view.data as usize - view.region.start() as usize
        ),
      ));
    }
    guard(&env, "Module.deserializeRaw", || {
      // On Linux the pages move to addresses no JavaScript ever saw, so a
      // write JavaScript started into the buffer before this call cannot
      // reach the module when it completes (see `Staged`). Elsewhere, or
      // where the kernel refuses, they stay in place.
      #[cfg(target_os = "linux")]
      let staged = crate::aligned::Staged::new(&view.region).ok();
      #[cfg(target_os = "linux")]
      let data = staged.as_ref().map_or(view.data, |s| s.moved(view.data));
      #[cfg(not(target_os = "linux"))]
      let data = view.data;
      let memory = NonNull::slice_from_raw_parts(NonNull::new(data).ok_or_else(|| napi::Error::from_reason("null view"))?, view.len);
      // SAFETY: wasmtime requires that the bytes are a trusted artifact (the
      // documented contract of the package) and that they stay alive, in
      // place and unmodified while any clone of the module lives. They lie in
      // `view.region`, or in the region `staged` moved them to (mappings of
      // the package's own; one of them is held by `RawCode` after the
      // module), which no JavaScript can reach once the ArrayBuffer lent over
      // `view.region` is detached below, before this call returns; no
      // JavaScript runs in between. On a native engine the view starts at the
      // region's page-aligned start, so `.text` is whole pages of the region.
      let module = unsafe { wasmtime::Module::deserialize_raw(&engine.engine, memory) }
        .map_err(|e| deserialize_error(&env, &e))?;
      // SAFETY: an attached ArrayBuffer of this call (checked above). It lends
      // package memory (`napi_create_external_arraybuffer`), which detaching
      // does not free: the region is ours, and `RawCode` holds it.
      let status = unsafe { sys::napi_detach_arraybuffer(env.raw(), view.array_buffer) };
      if status != sys::Status::napi_ok {
        drop(module);
        return Err(throw(&env, Kind::Type, error::FOREIGN_BUFFER, "Module.deserializeRaw could not take the buffer over (it cannot be detached); read the artifact again with readPrecompiled()"));
      }
      view.region.mark_taken_over();
      #[cfg(target_os = "linux")]
      let region = staged.map_or_else(|| view.region.clone(), crate::aligned::Staged::keep);
      #[cfg(not(target_os = "linux"))]
      let region = view.region.clone();
      let len = region.len() as i64;
      PINNED_BYTES.fetch_add(region.len(), Ordering::Relaxed);
      PINNED_REGIONS.fetch_add(1, Ordering::Relaxed);
      let code = Arc::new(RawCode { module, region });
      report(&env, len)?;
      Ok(Module::wrap(Code::Raw(code), engine, len))
    })
  }

  /// Serializes the compiled module to an artifact.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.serialize>
  #[napi(catch_unwind)]
  pub fn serialize(&self, env: Env) -> Result<Buffer> {
    let bytes = self
      .module(&env)?
      .serialize()
      .map_err(|e| throw(&env, Kind::Error, error::INTERNAL, &format!("serialize failed: {}", error::chain(&e))))?;
    Ok(bytes.into())
  }

  /// The module's imports, in order.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.imports>
  #[napi(getter)]
  pub fn imports(&self, env: Env) -> Result<Vec<TypeDesc>> {
    Ok(
      self
        .module(&env)?
        .imports()
        .map(|i| describe(&i.ty()).import(i.module(), i.name()))
        .collect(),
    )
  }

  /// The module's exports, in order.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.exports>
  #[napi(getter)]
  pub fn exports(&self, env: Env) -> Result<Vec<TypeDesc>> {
    Ok(self.module(&env)?.exports().map(|e| describe(&e.ty()).export(e.name())).collect())
  }

  /// The module's name from its name section, if any.
  #[napi(getter)]
  pub fn name(&self, env: Env) -> Result<Option<String>> {
    Ok(self.module(&env)?.name().map(String::from))
  }

  /// True when the code runs from a caller's buffer (`deserializeRaw`).
  #[napi(getter)]
  pub fn is_raw(&self) -> bool {
    self.raw().is_some()
  }

  /// `[start, end)` addresses of the loaded image, for tests that check the
  /// code was not copied.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.image_range>
  #[napi]
  pub fn image_range(&self, env: Env) -> Result<Vec<f64>> {
    let r = self.module(&env)?.image_range();
    Ok(vec![r.start as usize as f64, r.end as usize as f64])
  }

  /// Drops this wrapper's hold on the compiled code now, instead of at garbage
  /// collection. Stores the module was instantiated into keep their own hold,
  /// so code that still runs is never freed. Idempotent.
  #[napi]
  pub fn release(&mut self, env: Env) -> Result<()> {
    // The registry entry goes first: a handle shared from here is stale now.
    self.ticket = None;
    self.code = None;
    self.engine = None;
    if self.reported != 0 {
      report(&env, -self.reported)?;
      self.reported = 0;
    }
    Ok(())
  }

  /// True after `release()`.
  #[napi(getter)]
  pub fn is_released(&self) -> bool {
    self.code.is_none()
  }

  /// Registers this module for `Module.fromShared` on other threads and
  /// returns the registry id. One entry per wrapper: later calls return the
  /// same id. The entry goes when this wrapper is released or collected.
  #[napi(catch_unwind)]
  pub fn share(&mut self, env: Env) -> Result<String> {
    if let Some(t) = &self.ticket {
      return Ok(t.id());
    }
    let (Some(code), Some(engine)) = (&self.code, &self.engine) else {
      return Err(disposed(&env));
    };
    let ticket = Ticket::new(Shared::Module { code: code.duplicate(), engine: engine.duplicate() });
    let id = ticket.id();
    self.ticket = Some(ticket);
    Ok(id)
  }

  /// A new wrapper over the code of the entry `id` (from `share()`, on any
  /// thread of this process): no compile, no copy, no load.
  #[napi(factory, catch_unwind)]
  pub fn from_shared(env: Env, id: String) -> Result<Module> {
    match lookup(&env, &id, "Module.fromShared")? {
      Shared::Module { code, engine } => {
        let reported = code.size();
        report(&env, reported)?;
        Ok(Module { code: Some(code), engine: Some(engine), reported, ticket: None })
      }
      Shared::Engine(_) => Err(throw(
        &env,
        Kind::Type,
        error::INVALID_ARGUMENT,
        "Module.fromShared was given an engine's handle (from engine.share()); pass it to Engine.fromShared()",
      )),
    }
  }

  /// The process-wide identity of the module's engine (see `engineKey`).
  #[napi(getter)]
  pub fn engine_key(&self, env: Env) -> Result<String> {
    Ok(crate::engine::engine_key(self.engine(&env)?))
  }
}
