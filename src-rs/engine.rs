//! [`wasmtime::Engine`]: configuration and compilation.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html>

use crate::error::{self, throw, Kind};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::hash::{Hash, Hasher};

/// Options of `new Engine(options)`. Every field is optional.
#[napi(object)]
#[derive(Default)]
pub struct EngineOptions {
  /// `'native'` (default: Cranelift for this host) or `'pulley64'` (wasmtime's
  /// portable interpreter).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.target>
  pub target: Option<String>,
  /// `'none'`, `'speed'` (default) or `'speed_and_size'`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.cranelift_opt_level>
  pub opt_level: Option<String>,
  /// Compile functions on several threads (default true).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.parallel_compilation>
  pub parallel_compilation: Option<bool>,
  /// Emit native unwind info (default true).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.native_unwind_info>
  pub native_unwind_info: Option<bool>,
  /// Count fuel as wasm runs; a store out of fuel traps with `out_of_fuel`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.consume_fuel>
  pub consume_fuel: Option<bool>,
  /// Check an epoch deadline as wasm runs; `engine.incrementEpoch()` past a
  /// store's deadline traps with `interrupt`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.epoch_interruption>
  pub epoch_interruption: Option<bool>,
  /// Cranelift ISA features to compile for, e.g. `['has_avx', 'has_bmi1']`.
  /// Artifacts made with them load only on hosts that have them all; cross
  /// targets otherwise get the target's baseline.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.cranelift_flag_enable>
  pub cpu_features: Option<Vec<String>>,
}

/// A compilation environment. Modules, stores and instances belong to one.
#[napi]
pub struct Engine {
  pub(crate) engine: wasmtime::Engine,
  pub(crate) pulley: bool,
  target: String,
}

impl Engine {
  pub(crate) fn build(options: &EngineOptions) -> std::result::Result<Engine, String> {
    let mut config = wasmtime::Config::new();
    // Native code loaded raw needs an embedder hook that makes pages executable.
    config.with_custom_code_memory(Some(crate::code_memory::shared()));
    // Linear memories never move, so a `memory.buffer` handed to JavaScript
    // stays valid (only its length goes stale after growth).
    config.memory_may_move(false);
    let target = options.target.clone().unwrap_or_else(|| "native".into());
    let pulley = target.starts_with("pulley");
    if target != "native" {
      config.target(&target).map_err(|e| format!("target '{target}': {}", error::chain(&e)))?;
    }
    if pulley {
      // Pulley code is not executed from the buffer, so raw buffers need no
      // page alignment; copy-on-write data images would still assert it.
      config.force_memory_init_memfd(true);
    }
    if let Some(level) = &options.opt_level {
      config.cranelift_opt_level(match level.as_str() {
        "none" => wasmtime::OptLevel::None,
        "speed" => wasmtime::OptLevel::Speed,
        "speed_and_size" | "speedAndSize" => wasmtime::OptLevel::SpeedAndSize,
        other => return Err(format!("optLevel '{other}' is not one of 'none', 'speed', 'speed_and_size'")),
      });
    }
    if let Some(p) = options.parallel_compilation {
      config.parallel_compilation(p);
    }
    if let Some(u) = options.native_unwind_info {
      config.native_unwind_info(u);
    }
    if let Some(f) = options.consume_fuel {
      config.consume_fuel(f);
    }
    if let Some(e) = options.epoch_interruption {
      config.epoch_interruption(e);
    }
    for feature in options.cpu_features.iter().flatten() {
      if !feature.starts_with("has_") {
        return Err(format!("cpu feature '{feature}' is not an ISA feature name (they start with 'has_', e.g. 'has_avx2')"));
      }
      // SAFETY: only ISA feature flags (`has_*`) are accepted. Code compiled
      // with features the running CPU lacks is never loaded: wasmtime checks
      // every artifact's ISA flags against the host before loading it, and an
      // engine whose own host lacks them fails to build.
      unsafe {
        config.cranelift_flag_enable(feature);
      }
    }
    let engine = wasmtime::Engine::new(&config).map_err(|e| error::chain(&e))?;
    Ok(Engine { engine, pulley, target })
  }
}

#[napi]
impl Engine {
  /// `new Engine(options?)`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html#method.new>
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, options: Option<EngineOptions>) -> Result<Self> {
    Engine::build(&options.unwrap_or_default())
      .map_err(|m| throw(&env, Kind::Error, error::CONFIG, &format!("invalid engine configuration: {m}")))
  }

  /// The configured target: `'native'` or a target triple such as `'pulley64'`.
  #[napi(getter)]
  pub fn target(&self) -> String {
    self.target.clone()
  }

  /// True when this engine runs wasmtime's Pulley interpreter.
  #[napi(getter)]
  pub fn is_pulley(&self) -> bool {
    self.pulley
  }

  /// Compiles `wasm` (binary or text) to an artifact for `Module.deserialize*`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html#method.precompile_module>
  #[napi(catch_unwind)]
  pub fn precompile_module(&self, env: Env, wasm: &[u8]) -> Result<Buffer> {
    let bytes = self
      .engine
      .precompile_module(wasm)
      .map_err(|e| throw(&env, Kind::Error, error::COMPILE, &format!("compilation failed: {}", error::chain(&e))))?;
    Ok(bytes.into())
  }

  /// A stable hex string that is equal for engines whose artifacts are
  /// interchangeable: key artifact caches by it.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html#method.precompile_compatibility_hash>
  #[napi]
  pub fn precompile_compatibility_hash(&self) -> String {
    let mut h = Fnv64(0xcbf2_9ce4_8422_2325);
    self.engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.0)
  }

  /// Advances the engine's epoch: wasm in stores whose deadline has passed
  /// traps with `interrupt` (engines made with `epochInterruption`). Safe to
  /// call from a timer while wasm runs on another thread.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html#method.increment_epoch>
  #[napi]
  pub fn increment_epoch(&self) {
    self.engine.increment_epoch();
  }

  /// Whether `a` and `b` are the same engine.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html#method.same>
  #[napi]
  pub fn same(&self, other: &Engine) -> bool {
    wasmtime::Engine::same(&self.engine, &other.engine)
  }
}

/// FNV-1a: a hasher whose output does not change between Rust releases, unlike
/// `DefaultHasher`, so the compatibility hash is stable across builds.
struct Fnv64(u64);

impl Hasher for Fnv64 {
  fn finish(&self) -> u64 {
    self.0
  }
  fn write(&mut self, bytes: &[u8]) {
    for b in bytes {
      self.0 ^= u64::from(*b);
      self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }
  }
}
