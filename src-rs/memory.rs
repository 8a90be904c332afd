//! [`wasmtime::Memory`]: linear memory, seen from JavaScript without a copy.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html>
//!
//! `memory.buffer` is an ArrayBuffer over the linear memory itself, shaped like
//! `WebAssembly.Memory#buffer`: the same object until the memory grows, then a
//! new one. Engines are configured so memories never move
//! (`memory_may_move(false)`) and never shrink, so an old view stays valid (it
//! is only short). Every such ArrayBuffer holds the store until V8 releases
//! its backing store, so memory that JavaScript (or Node's thread pool, or a
//! stream that moved the backing store elsewhere) can still reach is never
//! unmapped.

use crate::error::{self, throw, Kind};
use crate::externs::{memory_desc, TypeDesc};
use crate::store::{Store, StoreShared};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::cell::RefCell;
use std::ptr;
use std::rc::Rc;

/// Most pages of a 32-bit and of a 64-bit memory.
const MAX_PAGES_32: u64 = 1 << 16;
const MAX_PAGES_64: u64 = 1 << 48;

/// The guards around a linear memory with wasmtime 48's default settings on
/// 64-bit hosts: 32 MiB before it and 32 MiB after it.
#[cfg(target_os = "linux")]
const GUARDS: u64 = 64 << 20;

/// Address space a linear memory reserves with those settings (engines
/// without pooling): 4 GiB and its guards.
#[cfg(target_os = "linux")]
const RESERVATION: u64 = (4 << 30) + GUARDS;

/// Memory mappings a linear memory adds at least (its guards, its accessible
/// part, the rest of its reservation, its copy-on-write image: three to four
/// per store of a real module; tables and `callAsync` fiber stacks add more,
/// which the rate measured between looks takes in).
#[cfg(target_os = "linux")]
const MAPPINGS: u64 = 4;

/// What `room_for_memory` saw at its last look at the process.
#[cfg(target_os = "linux")]
struct Seen {
  /// Address space in use.
  bytes: u64,
  /// Memory mappings.
  mappings: u64,
  /// Memories made since.
  since: u64,
  /// Memories that may be made before the next look.
  budget: u64,
  /// When a look last refused, and what it said: looks again only after
  /// `REFUSED_FOR`, since a look near the mappings' limit reads megabytes.
  refused: Option<(std::time::Instant, String)>,
}

#[cfg(target_os = "linux")]
static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Seen { bytes: 0, mappings: 0, since: 0, budget: 0, refused: None });

#[cfg(target_os = "linux")]
const REFUSED_FOR: std::time::Duration = std::time::Duration::from_millis(50);

/// The start of the reason `room_for_memory` refuses with.
const NO_ROOM: &str = "no room left for another linear memory";

/// Refuses a new linear memory of `bytes` once the process is close to
/// running out of address space (without pooling, each memory reserves GiBs)
/// or of memory mappings (`vm.max_map_count`, 65530 by default; a memory adds
/// a few), keeping the last part of each for Node itself: Node and V8 abort
/// the process when they cannot map memory, so a loop that keeps disposed
/// stores alive through `memory.buffer` views must get this coded error
/// first. The process is looked at (`/proc/self/statm`, `/proc/self/maps`)
/// once the memories made since the last look could have used half the room
/// left, at the highest rate seen between looks. Linux only; elsewhere the
/// kernel's refusal is the limit.
pub(crate) fn room_for_memory(bytes: usize, pooled: bool) -> std::result::Result<(), String> {
  #[cfg(target_os = "linux")]
  {
    let Some(Limits { space, space_mark, max_maps, maps_mark }) = limits() else { return Ok(()) };
    let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.since < seen.budget {
      seen.since += 1;
      return Ok(());
    }
    if let Some((at, why)) = &seen.refused {
      if at.elapsed() < REFUSED_FOR {
        return Err(why.clone());
      }
    }
    let (Some(used), Some(mappings)) = (in_use(), mappings()) else { return Ok(()) };
    // Pooled memories reserve nothing new.
    let reservation = if pooled { 0 } else { (bytes as u64).saturating_add(GUARDS).max(RESERVATION) };
    let made = seen.since.max(1);
    let byte_rate = reservation.max(used.saturating_sub(seen.bytes) / made);
    let map_rate = MAPPINGS.max(mappings.saturating_sub(seen.mappings) / made);
    let why = if used.saturating_add(reservation) > space_mark {
      Some(format!(
        "{NO_ROOM}: {} of this process's {} GiB of address space are in use, and the last {} GiB are kept for Node itself",
        used >> 30,
        space >> 30,
        (space - space_mark) >> 30
      ))
    } else if mappings.saturating_add(map_rate) > maps_mark {
      Some(format!(
        "{NO_ROOM}: this process has {mappings} memory mappings of the {max_maps} the kernel allows it (vm.max_map_count), and the last {} are kept for Node itself",
        max_maps - maps_mark
      ))
    } else {
      None
    };
    let room = (space_mark.saturating_sub(used) / byte_rate.max(1)).min(maps_mark.saturating_sub(mappings) / map_rate);
    *seen = Seen { bytes: used, mappings, since: 0, budget: room / 2, refused: None };
    if let Some(why) = why {
      seen.refused = Some((std::time::Instant::now(), why.clone()));
      return Err(why);
    }
  }
  #[cfg(not(target_os = "linux"))]
  let _ = (bytes, pooled);
  Ok(())
}

/// The process's limits, and the marks `room_for_memory` keeps below them.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy)]
struct Limits {
  /// Its address space: its `RLIMIT_AS`, or all of user space (the power of
  /// two above the initial stack, which sits at its top).
  space: u64,
  /// All but the last sixteenth of it (at least 2 GiB, at most a quarter).
  space_mark: u64,
  /// How many memory mappings it may have (`vm.max_map_count`).
  max_maps: u64,
  /// All but the last eighth of them (at least 1,024, at most half).
  maps_mark: u64,
}

/// The process's `Limits`, read once.
#[cfg(target_os = "linux")]
fn limits() -> Option<Limits> {
  static LIMITS: std::sync::OnceLock<Option<Limits>> = std::sync::OnceLock::new();
  *LIMITS.get_or_init(|| {
    // SAFETY: reads the auxiliary vector the kernel gave the process.
    let top = unsafe { libc::getauxval(libc::AT_EXECFN) } as u64;
    let user = (top > 0).then(|| top.checked_next_power_of_two()).flatten()?;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid out-pointer.
    let capped = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0 && lim.rlim_cur != libc::RLIM_INFINITY;
    let space = if capped { user.min(lim.rlim_cur) } else { user };
    let max_maps: u64 = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(65530);
    Some(Limits {
      space,
      space_mark: space - (space / 16).max((2u64 << 30).min(space / 4)),
      max_maps,
      maps_mark: max_maps - (max_maps / 8).max(1024.min(max_maps / 2)),
    })
  })
}

/// Bytes of address space the process has mapped (`VmSize`).
#[cfg(target_os = "linux")]
fn in_use() -> Option<u64> {
  let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
  let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
  pages.checked_mul(crate::code_memory::page_size() as u64)
}

/// The process's memory mappings: the lines of `/proc/self/maps`, read in
/// fixed chunks (near the limit the file is megabytes long).
#[cfg(target_os = "linux")]
fn mappings() -> Option<u64> {
  use std::io::Read;
  let mut file = std::fs::File::open("/proc/self/maps").ok()?;
  let mut chunk = [0u8; 1 << 16];
  let mut lines = 0u64;
  loop {
    match file.read(&mut chunk) {
      Ok(0) => return Some(lines),
      Ok(n) => lines += chunk[..n].iter().filter(|&&b| b == b'\n').count() as u64,
      Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
      Err(_) => return None,
    }
  }
}

/// The error for a memory the guard refused (`Limiter::refusal`): what
/// failed, why, and what to do.
fn no_room_error(env: &Env, what: &str, why: &str) -> napi::Error {
  throw(env, Kind::Range, error::OUT_OF_MEMORY, &format!("{what}: {why}{}", crate::linker::no_room_hint()))
}

/// What a `memory.buffer` ArrayBuffer holds: its store, which is not freed
/// while any such hold lives (`view_lent`/`view_released`).
struct ViewHold(Rc<StoreShared>);

impl crate::aligned::LendHold for ViewHold {
  fn may_free_at_teardown(&self) -> bool {
    false
  }
}

impl Drop for ViewHold {
  fn drop(&mut self) {
    // Dropped on the store's thread, once V8 has let go of the ArrayBuffer's
    // backing store (see `aligned::lend_external`).
    self.0.view_released();
  }
}

/// `{ minimum, maximum?, memory64? }` in 64 KiB pages, for `new Memory`.
#[napi(object)]
pub struct MemoryTypeDesc {
  pub minimum: f64,
  pub maximum: Option<f64>,
  pub memory64: Option<bool>,
}

/// A linear memory.
#[napi]
pub struct Memory {
  pub(crate) store: Rc<StoreShared>,
  pub(crate) memory: wasmtime::Memory,
  /// The last `buffer` handed out (weak) and its length.
  cached: RefCell<Option<(sys::napi_ref, usize)>>,
}

impl Memory {
  pub(crate) fn new(store: Rc<StoreShared>, memory: wasmtime::Memory) -> Memory {
    Memory { store, memory, cached: RefCell::new(None) }
  }
}

impl Drop for Memory {
  fn drop(&mut self) {
    if let Some((r, _)) = self.cached.borrow_mut().take() {
      // SAFETY: our weak reference on the store's env; memories are dropped on
      // that env's thread (finalizers).
      unsafe { sys::napi_delete_reference(self.store.env, r) };
    }
  }
}

#[napi]
impl Memory {
  /// A host-created memory, to import into instances: `new Memory(store, { minimum: 1 })`.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.new>
  #[napi(constructor, catch_unwind)]
  pub fn new_js(env: Env, store: &Store, ty: MemoryTypeDesc) -> Result<Self> {
    let is64 = ty.memory64.unwrap_or(false);
    let limit = if is64 { MAX_PAGES_64 } else { MAX_PAGES_32 };
    let minimum = crate::val::index(&env, ty.minimum, "memory minimum (pages)")?;
    let maximum = ty.maximum.map(|m| crate::val::index(&env, m, "memory maximum (pages)")).transpose()?;
    if minimum > limit || maximum.is_some_and(|m| m > limit || m < minimum) {
      return Err(throw(
        &env,
        Kind::Range,
        error::INVALID_ARGUMENT,
        &format!("a memory needs minimum <= maximum <= {limit} pages; got minimum {minimum}, maximum {maximum:?}"),
      ));
    }
    let mt = if is64 {
      wasmtime::MemoryType::new64(minimum, maximum)
    } else {
      wasmtime::MemoryType::new(minimum as u32, maximum.map(|m| m as u32))
    };
    let memory = store.shared.with(&env, |mut cx| {
      cx.data_mut().limits.forget_refusal();
      wasmtime::Memory::new(&mut cx, mt).map_err(|e| match cx.data_mut().limits.refusal(&e) {
        Some(why) => no_room_error(&env, "cannot create the memory", &why),
        None => throw(&env, Kind::Range, error::INVALID_ARGUMENT, &format!("cannot create the memory: {}", error::chain(&e))),
      })
    })?;
    Ok(Memory::new(store.shared.clone(), memory))
  }

  /// An ArrayBuffer over the memory's current bytes (no copy).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.data_ptr>
  #[napi(getter, catch_unwind, ts_return_type = "ArrayBuffer")]
  pub fn buffer<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
    let memory = self.memory;
    let (data, len) = self.store.with(env, |cx| Ok((memory.data_ptr(&cx), memory.data_size(&cx))))?;
    let raw = env.raw();
    if let Some((r, cached_len)) = *self.cached.borrow() {
      let mut v = ptr::null_mut();
      // SAFETY: our weak reference on this env.
      unsafe { sys::napi_get_reference_value(raw, r, &mut v) };
      let mut detached = true;
      if !v.is_null() {
        // SAFETY: `v` is the ArrayBuffer we made.
        unsafe { sys::napi_is_detached_arraybuffer(raw, v, &mut detached) };
      }
      if !v.is_null() && !detached && cached_len == len {
        // SAFETY: a value on `env`.
        return Ok(unsafe { Unknown::from_raw_unchecked(raw, v) });
      }
    }
    // Counted before the hold exists, as dropping it counts it back. A
    // runtime that refuses the buffer may or may not have dropped it (see
    // `lend_external`); if not, the store is never freed, which is safe.
    self.store.view_lent();
    // SAFETY: `data` points at `len` bytes of linear memory, which stays at this
    // address (memories never move or shrink) until the store is freed; the
    // store is not freed while the hold lives.
    let Some(ab) = (unsafe { crate::aligned::lend_external(raw, data, len, ViewHold(self.store.clone())) }) else {
      return Err(throw(
        env,
        Kind::Error,
        error::INTERNAL,
        "this runtime does not allow ArrayBuffers over native memory (e.g. Electron's sandbox, or a memory over its Buffer limit); use memory.read() and memory.write()",
      ));
    };
    let mut r = ptr::null_mut();
    // SAFETY: a weak reference to the value just made.
    unsafe { sys::napi_create_reference(raw, ab, 0, &mut r) };
    if let Some((old, _)) = self.cached.borrow_mut().replace((r, len)) {
      // SAFETY: our previous weak reference.
      unsafe { sys::napi_delete_reference(raw, old) };
    }
    // SAFETY: `ab` was created on `env` in this call.
    Ok(unsafe { Unknown::from_raw_unchecked(raw, ab) })
  }

  /// The memory's size in bytes.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.data_size>
  #[napi(catch_unwind)]
  pub fn data_size(&self, env: Env) -> Result<f64> {
    let memory = self.memory;
    self.store.with(&env, |cx| Ok(memory.data_size(&cx) as f64))
  }

  /// The memory's size in pages.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.size>
  #[napi(catch_unwind)]
  pub fn size(&self, env: Env) -> Result<f64> {
    let memory = self.memory;
    self.store.with(&env, |cx| Ok(memory.size(&cx) as f64))
  }

  /// The size of a page in bytes (65536, or 1 with custom page sizes).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.page_size>
  #[napi(getter, catch_unwind)]
  pub fn page_size(&self, env: Env) -> Result<f64> {
    let memory = self.memory;
    self.store.with(&env, |cx| Ok(memory.page_size(&cx) as f64))
  }

  /// Grows the memory by `delta` pages; returns the previous size in pages.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.grow>
  #[napi(catch_unwind)]
  pub fn grow(&self, env: Env, delta: f64) -> Result<f64> {
    let memory = self.memory;
    let delta = crate::val::index(&env, delta, "memory.grow(pages)")?;
    self.store.with(&env, |mut cx| {
      cx.data_mut().limits.forget_refusal();
      memory
        .grow(&mut cx, delta)
        .map(|p| p as f64)
        .map_err(|e| match cx.data_mut().limits.refusal(&e) {
          Some(why) => no_room_error(&env, &format!("memory.grow({delta}) failed"), &why),
          None => throw(&env, Kind::Range, error::INVALID_ARGUMENT, &format!("memory.grow({delta}) failed: {}; a memory stays within its maximum and its store's `memorySize` limit (`new Store(engine, {{ memorySize }})`)", error::chain(&e))),
        })
    })
  }

  /// Copies `length` bytes at `offset` out into a new Buffer.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.read>
  #[napi(catch_unwind)]
  pub fn read(&self, env: Env, offset: f64, length: f64) -> Result<Buffer> {
    let memory = self.memory;
    let offset = crate::val::index(&env, offset, "memory.read(offset)")?;
    let length = crate::val::index(&env, length, "memory.read(length)")?;
    self.store.with(&env, |cx| {
      // Bounds first: the copy is allocated only for bytes that exist.
      let size = memory.data_size(&cx) as u64;
      if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(throw(&env, Kind::Range, error::INVALID_ARGUMENT, &format!("memory.read({offset}, {length}) reaches outside the memory ({size} bytes)")));
      }
      let (offset, length) = (offset as usize, length as usize);
      Ok(memory.data(&cx)[offset..offset + length].to_vec().into())
    })
  }

  /// Copies `bytes` into the memory at `offset`. `bytes` may be a view of
  /// this very memory, overlapping the destination (as `copyWithin` allows).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html#method.write>
  #[napi(catch_unwind, ts_args_type = "offset: number, bytes: Uint8Array")]
  pub fn write(&self, env: Env, offset: f64, bytes: Unknown) -> Result<()> {
    let memory = self.memory;
    let offset = crate::val::index(&env, offset, "memory.write(offset)")?;
    let (mut kind, mut len, mut data, mut ab, mut off) = (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
    // SAFETY: a value of the current call; napi checks it is a typed array.
    let status = unsafe { sys::napi_get_typedarray_info(env.raw(), bytes.raw(), &mut kind, &mut len, &mut data, &mut ab, &mut off) };
    if status != sys::Status::napi_ok || kind != sys::TypedarrayType::uint8_array {
      return Err(throw(&env, Kind::Type, error::INVALID_ARGUMENT, "memory.write(offset, bytes) takes the bytes as a Uint8Array or Buffer"));
    }
    self.store.with(&env, |cx| {
      let size = memory.data_size(&cx) as u64;
      if offset.checked_add(len as u64).is_none_or(|end| end > size) {
        return Err(throw(&env, Kind::Range, error::INVALID_ARGUMENT, &format!("memory.write({offset}, <{len} bytes>) reaches outside the memory ({size} bytes)")));
      }
      if len > 0 {
        // SAFETY: `offset + len` is within the memory's `size` bytes at
        // `data_ptr`, checked just above with the store held, so it cannot
        // move or shrink meanwhile; `data` holds `len` bytes of a live typed
        // array of this call (not null, since `len > 0`). The two may overlap
        // (a view of this memory): `ptr::copy` is a memmove, and no Rust
        // reference to either range exists.
        unsafe { ptr::copy(data as *const u8, memory.data_ptr(&cx).add(offset as usize), len) };
      }
      Ok(())
    })
  }

  /// `{ kind: 'memory', minimum, maximum, shared, memory64 }`.
  #[napi(getter, js_name = "type", catch_unwind)]
  pub fn ty(&self, env: Env) -> Result<TypeDesc> {
    let memory = self.memory;
    self.store.with(&env, |cx| Ok(memory_desc(&memory.ty(&cx))))
  }
}
