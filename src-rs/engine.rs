//! [`wasmtime::Engine`]: configuration and compilation.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html>

use crate::error::{self, throw, Kind};
use crate::module::{Module, Shared, Ticket};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

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
  /// Check epochs as wasm runs (default true): a native ticker advances them
  /// every few milliseconds, so `store.setDeadline(ms)` traps a call that runs
  /// too long with `interrupt`, and a worker that is terminated stops its
  /// wasm. `false` removes the checks (and both guarantees).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.epoch_interruption>
  pub epoch_interruption: Option<bool>,
  /// Bytes of native stack wasm may use per call (default: a quarter of the
  /// creating thread's stack, at most 512 KiB). A call needs this plus 96 KiB
  /// of stack left on its thread, or it traps with `stack_overflow`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.max_wasm_stack>
  pub max_wasm_stack: Option<f64>,
  /// Cranelift ISA features to compile for, e.g. `['has_avx', 'has_bmi1']`.
  /// Artifacts made with them load only on hosts that have them all; cross
  /// targets otherwise get the target's baseline.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.cranelift_flag_enable>
  pub cpu_features: Option<Vec<String>>,
  /// wasmtime's pooling instance allocator: `true`, or its limits. Instances,
  /// memories and tables come from slots reserved when the engine is made,
  /// and memories are reset copy-on-write, so instantiating a module per
  /// request costs little. The limits bound what all stores of the engine
  /// hold at once; past them instantiation fails.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.PoolingAllocationConfig.html>
  pub pooling: Option<Either<bool, PoolingOptions>>,
  /// Bytes of the fiber stack each `callAsync` runs on (default: 2 MiB, or
  /// `maxWasmStack` plus 1 MiB when 2 MiB is less than `maxWasmStack` plus
  /// 256 KiB). At least `maxWasmStack` plus 256 KiB: the wasm stack budget
  /// lives inside it, so deep recursion traps with `stack_overflow` there as
  /// on the JavaScript thread, and host functions below it need room too.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Config.html#method.async_stack_size>
  pub async_stack_size: Option<f64>,
  /// Threads that run this engine's `callAsync` calls and WASI runs off the
  /// JavaScript thread (1 to 256), in a pool of its own. Default: the pool
  /// shared by every engine, one thread per core (`WASMTIME_NAPI_THREADS`).
  pub async_threads: Option<f64>,
}

/// Limits of the pooling allocator (`new Engine({ pooling: { ... } })`).
#[napi(object)]
#[derive(Default)]
pub struct PoolingOptions {
  /// Instances alive at once, in all stores of the engine (default 1000).
  pub total_core_instances: Option<f64>,
  /// Linear memories alive at once (default 1000).
  pub total_memories: Option<f64>,
  /// Tables alive at once (default 1000).
  pub total_tables: Option<f64>,
  /// `callAsync` fiber stacks alive at once (default 1000). A call in flight
  /// holds one, and wasmtime lets its store keep it for the next call until
  /// the store is disposed or collected: this bounds the stores that have
  /// made a `callAsync`, not only the calls in flight.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.PoolingAllocationConfig.html#method.total_stacks>
  pub total_stacks: Option<f64>,
  /// Largest size a linear memory may reach, in bytes (default 4 GiB).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.PoolingAllocationConfig.html#method.max_memory_size>
  pub max_memory_size: Option<f64>,
  /// Memories a module may define (default 1). Modules with more fail to
  /// compile or load on this engine.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.PoolingAllocationConfig.html#method.max_memories_per_module>
  pub max_memories_per_module: Option<f64>,
  /// Tables a module may define (default 1). Modules with more fail to
  /// compile or load on this engine.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.PoolingAllocationConfig.html#method.max_tables_per_module>
  pub max_tables_per_module: Option<f64>,
  /// Elements a table may reach (default 20000). A module with a table whose
  /// minimum is larger fails to compile or load on this engine; `table.grow`
  /// stops here.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.PoolingAllocationConfig.html#method.table_elements>
  pub table_elements: Option<f64>,
  /// Bytes of per-instance metadata (wasmtime's `VMContext`) a slot holds
  /// (default 1 MiB). It grows with a module's functions, globals and
  /// types; a module that needs more fails to compile or load on this
  /// engine, saying how much.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.PoolingAllocationConfig.html#method.max_core_instance_size>
  pub max_core_instance_size: Option<f64>,
  /// Bytes at the start of each linear memory slot that stay resident when
  /// an instance is freed: they are reset by copying (zeros, or the memory
  /// image) instead of being handed back to the kernel. That saves a page
  /// fault per touched page on the next instantiation and a TLB shootdown on
  /// each free, for that much resident memory per slot (default 0). Linux
  /// only (elsewhere ignored). wasmtime rounds it up to whole pages; past the
  /// memory's size when it is freed, just that size stays resident.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.PoolingAllocationConfig.html#method.linear_memory_keep_resident>
  pub memory_keep_resident: Option<f64>,
  /// The same for each table slot, in bytes (default 0).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.PoolingAllocationConfig.html#method.table_keep_resident>
  pub table_keep_resident: Option<f64>,
}

/// A whole Number from `min` to `max`, checked here: napi's own u32
/// conversion wraps (-1 became 4294967295, 2^32 + 1 became 1, 1.5 became 1).
fn whole(what: &str, unit: &str, min: u64, max: u64, v: Option<f64>) -> std::result::Result<Option<u64>, String> {
  match v {
    Some(b) if !(b >= min as f64 && b <= max as f64 && b.fract() == 0.0) => Err(format!("{what} must be a whole number{unit} from {min} to {max}, got {}", js_number(b))),
    v => Ok(v.map(|b| b as u64)),
  }
}

/// `v` as JavaScript prints it, near enough for an error message: 1e+300
/// rather than all 301 digits.
fn js_number(v: f64) -> String {
  if v.is_infinite() {
    (if v > 0.0 { "Infinity" } else { "-Infinity" }).to_string()
  } else if v.abs() >= 1e21 {
    format!("{v:e}").replace('e', "e+")
  } else {
    format!("{v}")
  }
}

/// A compilation environment. Modules, stores and instances belong to one.
#[napi]
pub struct Engine {
  pub(crate) engine: wasmtime::Engine,
  pub(crate) pulley: bool,
  /// Epoch checks are compiled in; the ticker advances this engine's epoch.
  pub(crate) epochs: bool,
  /// Memories come from the pooling allocator's slots, reserved up front.
  pub(crate) pooled: bool,
  pub(crate) max_wasm_stack: usize,
  /// The threads that run this engine's wasm off the JavaScript thread.
  pub(crate) pool: std::sync::Arc<crate::pool::Pool>,
  target: String,
  /// Process-wide identity of the wasmtime engine: every wrapper of it, on
  /// any thread (see `engine.share()`), has the same key.
  key: u64,
  /// This wrapper's entry in the share registry, made by the first
  /// `shareEngine`; removed when the wrapper is garbage-collected.
  ticket: OnceLock<Ticket>,
}

/// Source of engine keys.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// How often the ticker advances every engine's epoch.
pub(crate) const TICK: std::time::Duration = std::time::Duration::from_millis(5);

/// Engines whose epoch the ticker advances.
static TICKED: std::sync::Mutex<Vec<wasmtime::EngineWeak>> = std::sync::Mutex::new(Vec::new());

/// Starts (once per process) the native thread that advances the epoch of
/// every live engine each `TICK`, as wasmtime-rb's `start_epoch_interval`
/// does: deadlines fire without a JavaScript timer, even while a synchronous
/// call blocks the JavaScript thread.
fn tick(engine: &wasmtime::Engine) {
  static STARTED: std::sync::Once = std::sync::Once::new();
  TICKED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(engine.weak());
  STARTED.call_once(|| {
    let spawned = std::thread::Builder::new().name("wasmtime-napi-epoch".into()).stack_size(64 << 10).spawn(|| loop {
      std::thread::sleep(TICK);
      let mut engines = TICKED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
      engines.retain(|w| match w.upgrade() {
        Some(e) => {
          e.increment_epoch();
          true
        }
        None => false,
      });
    });
    // Without a ticker, deadlines do not fire; nothing else breaks.
    drop(spawned);
  });
}

/// `(lowest usable address, size)` of the current thread's stack.
pub(crate) fn thread_stack() -> Option<(usize, usize)> {
  #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
  {
    // SAFETY: `attr` is initialised by pthread_getattr_np before it is read
    // and destroyed after; the out-pointers are valid locals.
    unsafe {
      let mut attr: libc::pthread_attr_t = std::mem::zeroed();
      #[cfg(target_os = "freebsd")]
      let got = { libc::pthread_attr_init(&mut attr); libc::pthread_attr_get_np(libc::pthread_self(), &mut attr) };
      #[cfg(not(target_os = "freebsd"))]
      let got = libc::pthread_getattr_np(libc::pthread_self(), &mut attr);
      if got != 0 {
        return None;
      }
      let mut addr = std::ptr::null_mut();
      let mut size = 0usize;
      let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
      libc::pthread_attr_destroy(&mut attr);
      // Leave the guard area (and a margin) out of what counts as usable.
      let guard = 4 * crate::code_memory::page_size();
      ok.then(|| (addr as usize + guard, size.saturating_sub(guard)))
    }
  }
  #[cfg(target_os = "macos")]
  {
    // SAFETY: queries of the calling thread, no preconditions.
    unsafe {
      let me = libc::pthread_self();
      let top = libc::pthread_get_stackaddr_np(me) as usize;
      let size = libc::pthread_get_stacksize_np(me);
      let guard = 4 * crate::code_memory::page_size();
      Some((top - size + guard, size.saturating_sub(guard)))
    }
  }
  #[cfg(windows)]
  {
    let (mut low, mut high) = (0usize, 0usize);
    // SAFETY: fills two valid out-pointers for the calling thread.
    unsafe { windows_sys::Win32::System::Threading::GetCurrentThreadStackLimits(&mut low, &mut high) };
    // The last pages hold the guard and the stack-overflow handler's reserve.
    let guard = 16 * crate::code_memory::page_size();
    Some((low + guard, (high - low).saturating_sub(guard)))
  }
  #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd", target_os = "macos", windows)))]
  {
    None
  }
}

/// Fiber stack a `callAsync` needs beyond the engine's wasm stack budget.
const ASYNC_RESERVE: usize = 256 << 10;

/// Known architectures of target triples (`target: 'aarch64-unknown-linux-gnu'`).
const ARCHES: &[&str] = &["x86_64", "aarch64", "arm64", "riscv64", "riscv64gc", "s390x"];

impl Engine {
  pub(crate) fn build(options: &EngineOptions) -> std::result::Result<Engine, String> {
    let mut config = wasmtime::Config::new();
    // Native code loaded raw needs an embedder hook that makes pages executable.
    config.with_custom_code_memory(Some(crate::code_memory::shared()));
    // Linear memories never move, so a `memory.buffer` handed to JavaScript
    // stays valid (only its length goes stale after growth).
    config.memory_may_move(false);
    let target = options.target.clone().unwrap_or_else(|| "native".into());
    let pulley = matches!(target.as_str(), "pulley32" | "pulley64" | "pulley32be" | "pulley64be");
    if target != "native" && !pulley {
      let parts: Vec<&str> = target.split('-').collect();
      if parts.len() < 3 || !ARCHES.contains(&parts[0]) || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
          "target '{target}' is not 'native', 'pulley64', 'pulley32' or a target triple such as 'x86_64-unknown-linux-gnu' or 'aarch64-apple-darwin' (architectures: {})",
          ARCHES.join(", ")
        ));
      }
    }
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
    let epochs = options.epoch_interruption.unwrap_or(true);
    config.epoch_interruption(epochs);
    let max_wasm_stack = match whole("maxWasmStack", " of bytes", 16384, 1 << 30, options.max_wasm_stack)? {
      Some(v) => v as usize,
      None => thread_stack().map_or(512 << 10, |(_, size)| (size / 4).min(512 << 10) & !0xfff),
    };
    config.max_wasm_stack(max_wasm_stack);
    // wasmtime refuses a wasm stack larger than its async stack (2 MiB by
    // default), even where nothing runs async: keep the latter above.
    // Host functions (WASI's, and the way back to JavaScript) run on the
    // fiber too, below the wasm frames: keep room for them.
    let least = max_wasm_stack + ASYNC_RESERVE;
    let async_stack = whole("asyncStackSize", " of bytes", least as u64, 1 << 30, options.async_stack_size)
      .map_err(|e| format!("{e} (at least maxWasmStack plus {} KiB)", ASYNC_RESERVE >> 10))?;
    match async_stack {
      Some(v) => {
        config.async_stack_size(v as usize);
      }
      None if least > 2 << 20 => {
        config.async_stack_size(max_wasm_stack + (1 << 20));
      }
      None => {}
    }
    let pool = match whole("asyncThreads", "", 1, crate::pool::MAX_THREADS as u64, options.async_threads)? {
      None => crate::pool::shared(),
      Some(n) => crate::pool::Pool::new(n as usize),
    };
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
    match &options.pooling {
      None | Some(Either::A(false)) => {}
      Some(Either::A(true)) => {
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(wasmtime::PoolingAllocationConfig::default()));
      }
      Some(Either::B(o)) => {
        type P = wasmtime::PoolingAllocationConfig;
        const COUNT: (&str, u64) = ("", u32::MAX as u64);
        const BYTES: (&str, u64) = (" of bytes", 1 << 48);
        // Each limit: its option name, its unit and largest value, and its
        // setter (the casts cannot truncate: `whole` checked the range).
        type Limit = (&'static str, (&'static str, u64), Option<f64>, fn(&mut P, u64));
        let limits: [Limit; 11] = [
          ("totalCoreInstances", COUNT, o.total_core_instances, |p, n| { p.total_core_instances(n as u32); }),
          ("totalMemories", COUNT, o.total_memories, |p, n| { p.total_memories(n as u32); }),
          ("totalTables", COUNT, o.total_tables, |p, n| { p.total_tables(n as u32); }),
          ("totalStacks", COUNT, o.total_stacks, |p, n| { p.total_stacks(n as u32); }),
          ("maxMemoriesPerModule", COUNT, o.max_memories_per_module, |p, n| { p.max_memories_per_module(n as u32); }),
          ("maxTablesPerModule", COUNT, o.max_tables_per_module, |p, n| { p.max_tables_per_module(n as u32); }),
          ("tableElements", COUNT, o.table_elements, |p, n| { p.table_elements(n as usize); }),
          ("maxMemorySize", BYTES, o.max_memory_size, |p, n| { p.max_memory_size(n as usize); }),
          ("maxCoreInstanceSize", BYTES, o.max_core_instance_size, |p, n| { p.max_core_instance_size(n as usize); }),
          ("memoryKeepResident", BYTES, o.memory_keep_resident, |p, n| { p.linear_memory_keep_resident(n as usize); }),
          ("tableKeepResident", BYTES, o.table_keep_resident, |p, n| { p.table_keep_resident(n as usize); }),
        ];
        let mut p = P::default();
        for (name, (unit, max), value, set) in limits {
          if let Some(n) = whole(&format!("pooling.{name}"), unit, 0, max, value)? {
            set(&mut p, n);
          }
        }
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(p));
      }
    }
    let pooled = !matches!(options.pooling, None | Some(Either::A(false)));
    let engine = wasmtime::Engine::new(&config).map_err(|e| error::chain(&e))?;
    if epochs {
      tick(&engine);
    }
    Ok(Engine { engine, pulley, epochs, pooled, max_wasm_stack, pool, target, key: NEXT_KEY.fetch_add(1, Ordering::Relaxed), ticket: OnceLock::new() })
  }

  /// Another wrapper over the same wasmtime engine and configuration, with
  /// the same key and no registry entry of its own.
  pub(crate) fn duplicate(&self) -> Engine {
    Engine {
      engine: self.engine.clone(),
      pulley: self.pulley,
      epochs: self.epochs,
      pooled: self.pooled,
      max_wasm_stack: self.max_wasm_stack,
      pool: self.pool.clone(),
      target: self.target.clone(),
      key: self.key,
      ticket: OnceLock::new(),
    }
  }
}

#[napi]
impl Engine {
  /// `new Engine(options?)`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html#method.new>
  ///
  /// With `shared` (the facade's `Engine.fromShared`, never user code), no
  /// engine is built: the new wrapper is over the engine of a share-registry
  /// entry (an id from `shareEngine`) or of a Module.
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, options: Option<EngineOptions>, shared: Option<Either<String, ClassInstance<Module>>>) -> Result<Self> {
    match shared {
      None => Engine::build(&options.unwrap_or_default())
        .map_err(|m| throw(&env, Kind::Error, error::CONFIG, &format!("invalid engine configuration: {m}"))),
      Some(Either::A(id)) => match crate::module::lookup(&env, &id, "Engine.fromShared")? {
        Shared::Engine(e) => Ok(e),
        Shared::Module { .. } => Err(throw(
          &env,
          Kind::Type,
          error::INVALID_ARGUMENT,
          "Engine.fromShared was given a module's handle (from module.share()); pass it to Module.fromShared(), whose result has the engine as module.engine",
        )),
      },
      Some(Either::B(module)) => module.engine(&env).map(Engine::duplicate),
    }
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

  /// Advances the engine's epoch now, so running wasm checks its store's
  /// deadline at once instead of at the ticker's next tick.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html#method.increment_epoch>
  #[napi]
  pub fn increment_epoch(&self) {
    self.engine.increment_epoch();
  }

  /// The wasm stack budget per call, in bytes.
  #[napi(getter)]
  pub fn max_wasm_stack(&self) -> f64 {
    self.max_wasm_stack as f64
  }

  /// How many threads run this engine's `callAsync` calls and WASI runs at once.
  #[napi(getter)]
  pub fn async_threads(&self) -> u32 {
    self.pool.size() as u32
  }

  /// Whether `a` and `b` are the same engine.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html#method.same>
  #[napi]
  pub fn same(&self, other: &Engine) -> bool {
    wasmtime::Engine::same(&self.engine, &other.engine)
  }
}

/// Registers `engine` for `Engine.fromShared` on other threads (once per
/// wrapper; later calls return the same id) and returns the registry id.
/// The entry lives as long as this wrapper.
#[napi(catch_unwind)]
pub fn share_engine(engine: &Engine) -> String {
  engine.ticket.get_or_init(|| Ticket::new(Shared::Engine(engine.duplicate()))).id()
}

/// The process-wide identity of `engine`'s wasmtime engine: equal for every
/// wrapper of it on any thread, so the facade keeps one wrapper per thread.
#[napi]
pub fn engine_key(engine: &Engine) -> String {
  engine.key.to_string()
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
