//! [`wasmtime::Module`]: compiling, validating, serializing and the three
//! loaders, among them the zero-copy [`Module::deserialize_raw`].
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html>
//!
//! # Raw loading and lifetimes
//! A module loaded raw runs code straight out of the caller's buffer. The bytes
//! are held by a [`RawCode`]: the one wasmtime module over that region plus a
//! napi reference that keeps the buffer's `ArrayBuffer` alive. Every native
//! holder of the module (the `Module` wrapper, each `Store` it was instantiated
//! into) holds an `Arc<RawCode>`. `RawCode` drops its wasmtime module first
//! (wasmtime unpublishes and deregisters the code) and only then the reference,
//! so the garbage collector can take the bytes only when nothing runs from them.
//!
//! A process-wide table maps loaded regions to their `RawCode` (weakly), so the
//! same region loaded twice shares one wasmtime module: wasmtime asserts that a
//! code range is registered once.

use crate::engine::Engine;
use crate::error::{self, guard, throw, Kind};
use crate::externs::{describe, TypeDesc};
use napi::bindgen_prelude::*;
use napi::{sys, JsValue};
use napi_derive::napi;
use std::collections::BTreeMap;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

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

/// Keeps a JavaScript buffer (and so its bytes, in place) alive.
struct Pin {
  /// Holds a napi reference to the typed array; napi-rs releases it on its own
  /// thread, or leaks it safely if that thread's environment is gone.
  _buffer: Uint8Array,
  len: usize,
}

impl Drop for Pin {
  fn drop(&mut self) {
    PINNED_BYTES.fetch_sub(self.len, Ordering::Relaxed);
    PINNED_REGIONS.fetch_sub(1, Ordering::Relaxed);
  }
}

/// The one wasmtime module loaded over a caller's buffer, and the pin on it.
pub(crate) struct RawCode {
  // Field order is drop order: the module (and with it wasmtime's last use of
  // the code) goes before the pin on the bytes.
  module: wasmtime::Module,
  _pin: Pin,
}

struct Region {
  end: usize,
  code: Weak<RawCode>,
}

static REGIONS: Mutex<BTreeMap<usize, Region>> = Mutex::new(BTreeMap::new());

/// What a `Module` wrapper holds.
pub(crate) enum Code {
  /// Code in memory wasmtime owns (compiled, copied or mapped from a file).
  Owned(wasmtime::Module),
  /// Code in a caller's buffer.
  Raw(Arc<RawCode>),
}

/// A compiled WebAssembly module.
#[napi(custom_finalize)]
pub struct Module {
  /// `None` after `release()`.
  code: Option<Code>,
  /// Bytes reported to V8 as external memory for this wrapper.
  reported: i64,
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
      Some(Code::Owned(m)) => Ok(m),
      Some(Code::Raw(r)) => Ok(&r.module),
      None => Err(throw(
        env,
        Kind::Error,
        error::MODULE_DISPOSED,
        "this Module was disposed; instances made from it still run, but it cannot be used again. Load it again.",
      )),
    }
  }

  pub(crate) fn raw(&self) -> Option<&Arc<RawCode>> {
    match &self.code {
      Some(Code::Raw(r)) => Some(r),
      _ => None,
    }
  }

  fn wrap(code: Code, reported: i64) -> Module {
    Module { code: Some(code), reported }
  }

  /// Wraps a module whose code wasmtime owns and tells V8 how much native
  /// memory it holds, so garbage collection feels it.
  fn owned(env: &Env, module: wasmtime::Module) -> Result<Self> {
    let range = module.image_range();
    let reported = (range.end as usize - range.start as usize) as i64;
    report(env, reported)?;
    Ok(Module::wrap(Code::Owned(module), reported))
  }
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
}

/// Checks that `value` is a Uint8Array over a live, non-shared ArrayBuffer.
fn inspect_raw_buffer(env: &Env, value: sys::napi_value) -> Result<RawView> {
  let raw = env.raw();
  let invalid = || {
    throw(
      env,
      Kind::Type,
      error::INVALID_ARGUMENT,
      "Module.deserializeRaw expects a Buffer or Uint8Array holding a precompiled module",
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
        "Module.deserializeRaw refuses a buffer backed by a SharedArrayBuffer: another thread could write the code while it runs. Load it with readPrecompiled() or copy it into alignedBuffer(), or use Module.deserialize() to copy.",
      ));
    }
    let mut detached = false;
    sys::napi_is_detached_arraybuffer(raw, array_buffer, &mut detached);
    if detached {
      return Err(throw(
        env,
        Kind::Type,
        error::DETACHED_BUFFER,
        "Module.deserializeRaw was given a detached buffer (it was transferred away); read the artifact again with readPrecompiled().",
      ));
    }
  }
  Ok(RawView { data: data.cast(), len })
}

#[napi]
impl Module {
  /// Compiles a module from wasm binary or text.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.new>
  #[napi(factory, catch_unwind)]
  pub fn compile(env: Env, engine: &Engine, bytes: &[u8]) -> Result<Self> {
    let module = wasmtime::Module::new(&engine.engine, bytes)
      .map_err(|e| throw(&env, Kind::Error, error::COMPILE, &format!("compilation failed: {}", error::chain(&e))))?;
    Module::owned(&env, module)
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
      Module::owned(&env, module)
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
      Module::owned(&env, module)
    })
  }

  /// Loads an artifact in place: the code runs from `buffer` itself, without
  /// a copy. The buffer is pinned until the module and every store it was
  /// instantiated into are gone.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html#method.deserialize_raw>
  #[napi(catch_unwind)]
  pub fn deserialize_raw(env: Env, engine: &Engine, buffer: Unknown) -> Result<Module> {
    let value = buffer.raw();
    let view = inspect_raw_buffer(&env, value)?;
    if view.len == 0 {
      return Err(throw(&env, Kind::Error, error::DESERIALIZE, "not a loadable precompiled module: the buffer is empty"));
    }
    let page = crate::code_memory::page_size();
    if !engine.pulley && (view.data as usize) % page != 0 {
      return Err(throw(
        &env,
        Kind::Type,
        error::UNALIGNED_BUFFER,
        &format!(
          "Module.deserializeRaw needs a buffer that starts on a page boundary ({page} bytes) and owns its pages, because the code is made executable in place; this one starts at offset {} within a page. Read the artifact with readPrecompiled()/readPrecompiledSync(), or copy it into alignedBuffer(); or use Module.deserialize() to copy it.",
          (view.data as usize) % page
        ),
      ));
    }
    let start = view.data as usize;
    let end = start + view.len;
    guard(&env, "Module.deserializeRaw", || {
      let mut regions = REGIONS.lock().unwrap_or_else(PoisonError::into_inner);
      regions.retain(|_, r| r.code.strong_count() > 0);
      for (&s, r) in regions.range(..end) {
        if r.end <= start {
          continue;
        }
        if let (true, Some(code)) = (s == start && r.end == end, r.code.upgrade()) {
          if wasmtime::Engine::same(code.module.engine(), &engine.engine) {
            return Ok(Module::wrap(Code::Raw(code), 0));
          }
        }
        return Err(throw(
          &env,
          Kind::Type,
          error::BUFFER_IN_USE,
          "Module.deserializeRaw: these bytes overlap a region already loaded (by another engine, or as a different range); load each artifact into a buffer of its own.",
        ));
      }
      // SAFETY: `value` is a Uint8Array of the current call (checked above).
      let pin = unsafe { Uint8Array::from_napi_value(env.raw(), value) }?;
      // SAFETY: wasmtime requires that the bytes are a trusted artifact (the
      // documented contract of the package) and that they stay alive, in
      // place and unmodified while any clone of the module lives. `pin` keeps
      // the ArrayBuffer alive and `RawCode` drops it only after the module;
      // JavaScript cannot detach it (the facade marks it untransferable and
      // guards `transfer()`), the buffer is not shared (checked above), and
      // on a native engine it starts on a page boundary, so `.text` pages lie
      // inside it. `view` points at `view.len` valid bytes.
      let memory = NonNull::slice_from_raw_parts(NonNull::new(view.data).expect("non-empty view"), view.len);
      let module = unsafe { wasmtime::Module::deserialize_raw(&engine.engine, memory) }
        .map_err(|e| deserialize_error(&env, &e))?;
      PINNED_BYTES.fetch_add(view.len, Ordering::Relaxed);
      PINNED_REGIONS.fetch_add(1, Ordering::Relaxed);
      let code = Arc::new(RawCode { module, _pin: Pin { _buffer: pin, len: view.len } });
      regions.insert(start, Region { end, code: Arc::downgrade(&code) });
      Ok(Module::wrap(Code::Raw(code), 0))
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
    self.code = None;
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
}
