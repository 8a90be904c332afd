//! [`wasmtime::Store`]: the home of instances, memories and their state.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html>
//!
//! The wasmtime store lives in a [`StoreShared`] behind an `Rc`, shared by the
//! `Store` wrapper, by every instance, function, memory, table and global
//! taken from it, and by every `memory.buffer` ArrayBuffer handed out, so its
//! memory stays mapped while any of them lives. `store.dispose()` makes every
//! handle throw `ERR_WASMTIME_STORE_DISPOSED` at once, and frees the store as
//! soon as no ArrayBuffer over its memory is left (Node's thread pool may still
//! be writing through one).
//!
//! # Garbage collection
//! No native reference keeps a JavaScript host function alive: a host
//! function is rooted from JavaScript, by the Linker object that defined it
//! and by a roots object shared by every JavaScript handle of the stores it was
//! instantiated into. A store whose host functions close over its own exports
//! is then an ordinary cycle of JavaScript objects, which V8 collects.
//!
//! # Re-entrancy
//! While wasm runs, the store is borrowed by the call. A host function that
//! calls back into wasm of the same store reaches it through the `Caller` of
//! the running host call: [`StoreShared::with`] falls back to the innermost
//! such caller, which [`StoreShared::enter_host`] registers for exactly the
//! duration of the JavaScript call.

use crate::engine::Engine;
use crate::error::{self, throw, Kind};
use crate::module::RawCode;
use crate::val::JsRef;
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{AsContextMut, Caller, StoreContextMut};

/// Per-store host state.
pub(crate) struct StoreData {
  /// The `StoreShared` that owns this store (set right after creation).
  pub(crate) shared: *const StoreShared,
  /// A JavaScript exception (any value) thrown by a host function, carried
  /// through the wasm frames to the JavaScript caller.
  pub(crate) pending_exception: Option<JsRef>,
  /// WASI preview1 state, when a `WasiContext` was attached.
  pub(crate) wasi: Option<wasmtime_wasi::p1::WasiP1Ctx>,
  /// Resource limits, and the growth not yet reported to V8.
  pub(crate) limits: Limiter,
  /// `store.setDeadline(ms)`: calls still running then trap with `interrupt`.
  pub(crate) deadline: Option<Instant>,
  /// Counts `store.interrupt()` calls (shared with the `StoreShared`).
  pub(crate) interrupts: Arc<AtomicU64>,
  /// `interrupts` when the running outermost call began: a call traps with
  /// `interrupt` once the count moves past it.
  pub(crate) generation: u64,
  /// While the store runs a `callAsync` on a pool thread: the way back to the
  /// JavaScript thread (host calls) and the call's stop flag.
  pub(crate) remote: Option<Arc<crate::async_call::Link>>,
  /// The instances made in this store, in order: JavaScript names an
  /// instance by its place here (instance.rs).
  pub(crate) instances: Vec<wasmtime::Instance>,
}

// SAFETY: a store is used on the JavaScript thread that created it, or, during
// a `callAsync`, moved whole to one pool thread (async_call.rs), which gives
// the JavaScript thread its `Caller` only while it waits (see `HostReply`).
// What is bound to the JavaScript thread is only touched there: `shared` is
// dereferenced by conversions and host calls, which run on that thread (on a
// pool thread, `on_epoch` reads `remote` instead, and host.rs sends JavaScript
// host calls back); a `JsRef` deletes its reference only on its own thread.
// `Send` is required by wasmtime's async calls and by wasmtime-wasi.
unsafe impl Send for StoreData {}

/// wasmtime's [`StoreLimits`](wasmtime::StoreLimits), counting what linear
/// memories and tables grow by, so the store can report it to V8.
pub(crate) struct Limiter {
  limits: wasmtime::StoreLimits,
  /// Bytes grown since the last report.
  grown: i64,
  /// The engine's memories come from pooling slots reserved up front.
  pooled: bool,
  /// Why the last new memory was refused for want of room in the process
  /// (`memory::room_for_memory`). The refusal itself is an `Ok(false)`, so
  /// that a wasm `memory.grow` from 0 pages (which wasmtime asks about the
  /// same way) returns -1 instead of trapping; the error that instantiation
  /// or `new Memory` then throws takes its reason from here (`refusal`).
  refused: Option<String>,
}

impl Limiter {
  /// Forgets the reason of an earlier refusal, before an operation that may
  /// fail without asking the limiter (wasmtime refuses a growth its memory
  /// type cannot represent before it asks), so that a stale reason is not
  /// taken for its error.
  pub(crate) fn forget_refusal(&mut self) {
    self.refused = None;
  }

  /// The reason for the refusal behind `e`, if `e` is wasmtime's error for a
  /// memory its limiter refused to make or grow, and the refusal was for want
  /// of room (a reason left by an earlier refused `memory.grow`, which
  /// returned -1, is not taken for another error).
  pub(crate) fn refusal(&mut self, e: &wasmtime::Error) -> Option<String> {
    let why = self.refused.take()?;
    let text = error::chain(e);
    (text.contains("exceeds memory limits") || text.contains("failed to grow memory")).then_some(why)
  }
}

impl wasmtime::ResourceLimiter for Limiter {
  fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
    self.refused = None;
    // A new memory (wasmtime asks before it reserves any address space), or
    // the first growth of a memory of 0 pages, which it asks about alike.
    if current == 0 {
      if let Err(why) = crate::memory::room_for_memory(desired, self.pooled) {
        self.refused = Some(why);
        return Ok(false);
      }
    }
    let ok = self.limits.memory_growing(current, desired, maximum)?;
    if ok {
      self.grown += desired.saturating_sub(current) as i64;
    }
    Ok(ok)
  }
  fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
    self.limits.memory_grow_failed(error)
  }
  fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
    let ok = self.limits.table_growing(current, desired, maximum)?;
    if ok {
      self.grown += (desired.saturating_sub(current) * std::mem::size_of::<usize>()) as i64;
    }
    Ok(ok)
  }
  fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
    self.limits.table_grow_failed(error)
  }
  fn instances(&self) -> usize {
    self.limits.instances()
  }
  fn tables(&self) -> usize {
    self.limits.tables()
  }
  fn memories(&self) -> usize {
    self.limits.memories()
  }
}

/// A host call whose `Caller` JavaScript may use while it runs.
#[derive(Clone)]
struct HostEntry {
  caller: *mut Caller<'static, StoreData>,
  /// The number of the host call it belongs to.
  call: u64,
  /// For a call from wasm running on a pool thread: the state that says when
  /// the JavaScript thread may use the caller (see `HostReply`).
  remote: Option<Arc<crate::async_call::HostReply>>,
}

/// Native stack a call into wasm needs beyond the engine's wasm stack budget:
/// host-call trampolines, napi and V8's entry frames below wasmtime's limit.
const STACK_RESERVE: usize = 96 << 10;

pub(crate) struct StoreShared {
  // Field order is drop order: the wasmtime store (with its clones of every
  // module instantiated into it) goes before the holds on raw-loaded code.
  inner: RefCell<Option<wasmtime::Store<StoreData>>>,
  raw: RefCell<Vec<Arc<RawCode>>>,
  /// Set by `dispose()`: every handle throws from then on.
  disposed: Cell<bool>,
  /// ArrayBuffers over this store's linear memory whose backing store V8 has
  /// not released yet. The wasmtime store is freed only when this is 0.
  live_views: Cell<usize>,
  /// Callers of host functions now running JavaScript, innermost last.
  callers: RefCell<Vec<HostEntry>>,
  /// The wasmtime store is on a pool thread, running a `callAsync`.
  away: Cell<bool>,
  /// The `callAsync` running (or handed to the pool) now.
  current: RefCell<Option<Arc<crate::async_call::Link>>>,
  /// `callAsync` calls waiting for the store, first first.
  pub(crate) queue: RefCell<std::collections::VecDeque<crate::async_call::Queued>>,
  /// Counts `store.interrupt()` calls; read by running calls at each epoch.
  interrupts: Arc<AtomicU64>,
  /// Numbers host calls, so a `Caller` object kept past its call is refused
  /// even if a later call's caller sits at the same address.
  host_calls: Cell<u64>,
  /// Weak reference to the JavaScript object that roots this store's host
  /// functions and externref values; every JavaScript handle of the store
  /// holds it strongly.
  roots: Cell<sys::napi_ref>,
  /// Host functions already in `roots` (by address of their `HostFunc`).
  rooted: RefCell<HashSet<usize>>,
  /// Numbers the JavaScript values given to wasm as externrefs, which are
  /// rooted in `roots[0]` (an object keyed by these numbers).
  next_extern: Cell<u32>,
  /// Externrefs wasmtime has dropped (from any thread), to unroot on the
  /// JavaScript thread at the next chance (`unroot_dropped`).
  dropped_externs: DroppedExterns,
  /// Bytes of linear memory and tables reported to V8.
  reported: Cell<i64>,
  /// The engine's wasm stack budget (0 on Pulley, which has a stack of its own).
  wasm_stack: usize,
  /// The engine checks epochs (deadlines and thread teardown work).
  epochs: bool,
  pub(crate) env: sys::napi_env,
  pub(crate) engine: wasmtime::Engine,
  /// The threads that run this store's `callAsync` calls (its engine's).
  pub(crate) pool: Arc<crate::pool::Pool>,
  /// This very `StoreShared`, for the calls that need a counted handle.
  me: std::rc::Weak<StoreShared>,
}

thread_local! {
  /// The symbol under which JavaScript handles hold their store's roots.
  static ROOTS_KEY: Cell<sys::napi_ref> = const { Cell::new(ptr::null_mut()) };
  /// A JavaScript function that does nothing (`noop_fn`): calling it tells
  /// whether this thread may still run JavaScript (a terminating worker may
  /// not), and it ignores the rejections nobody waits for.
  static PROBE: Cell<sys::napi_ref> = const { Cell::new(ptr::null_mut()) };
}

/// Gives `obj`, an object made by `napi_create_object`, its own data
/// property `key` = `value` (as an assignment would), even when JavaScript
/// put an accessor for `key` on `Object.prototype`: [[Set]] would run its
/// setter, which could swallow the value or run JavaScript here. So [[Set]]
/// is used only when no such property exists, which asking runs no
/// JavaScript (`Object.prototype` is the whole chain, and its prototype is
/// immutable), and [[DefineOwnProperty]] otherwise (a slower path). For the
/// objects that root values for the native side.
pub(crate) fn put_own(env: sys::napi_env, obj: sys::napi_value, key: OwnKey<'_>, value: sys::napi_value) {
  let mut taken = true;
  // SAFETY: values of the current call on `env`'s thread; the name is
  // NUL-terminated.
  unsafe {
    match key {
      OwnKey::Index(i) => sys::napi_has_element(env, obj, i, &mut taken),
      OwnKey::Name(name) => sys::napi_has_named_property(env, obj, name.as_ptr(), &mut taken),
    };
    if !taken {
      match key {
        OwnKey::Index(i) => sys::napi_set_element(env, obj, i, value),
        OwnKey::Name(name) => sys::napi_set_named_property(env, obj, name.as_ptr(), value),
      };
      return;
    }
  }
  let digits;
  let name = match key {
    OwnKey::Name(name) => name,
    OwnKey::Index(i) => {
      digits = format!("{i}\0");
      match std::ffi::CStr::from_bytes_with_nul(digits.as_bytes()) {
        Ok(name) => name,
        Err(_) => return,
      }
    }
  };
  let prop = data_property(name.as_ptr(), ptr::null_mut(), value);
  // SAFETY: as above; the descriptor lives across the call.
  unsafe { sys::napi_define_properties(env, obj, 1, &prop) };
}

/// A descriptor of the data property `value`, named by `utf8name` (a
/// NUL-terminated name) or, when that is null, by `name`; a getter is set on
/// a copy (`..property(...)`).
pub(crate) fn property(
  utf8name: *const std::ffi::c_char,
  name: sys::napi_value,
  value: sys::napi_value,
  attributes: sys::napi_property_attributes,
) -> sys::napi_property_descriptor {
  sys::napi_property_descriptor { utf8name, name, method: None, getter: None, setter: None, value, attributes, data: ptr::null_mut() }
}

/// A descriptor of a read-only, non-enumerable, non-configurable property
/// under `key` (a symbol, for the links JavaScript must not change).
pub(crate) fn hidden_property(key: sys::napi_value, value: sys::napi_value) -> sys::napi_property_descriptor {
  property(ptr::null(), key, value, sys::PropertyAttributes::default)
}

/// A descriptor of a plain data property (writable, enumerable and
/// configurable, as an assignment makes), named by `utf8name` or by `name`.
pub(crate) fn data_property(utf8name: *const std::ffi::c_char, name: sys::napi_value, value: sys::napi_value) -> sys::napi_property_descriptor {
  property(utf8name, name, value, sys::PropertyAttributes::writable | sys::PropertyAttributes::enumerable | sys::PropertyAttributes::configurable)
}

/// A property key for `put_own`.
#[derive(Clone, Copy)]
pub(crate) enum OwnKey<'a> {
  Index(u32),
  Name(&'a std::ffi::CStr),
}

/// A symbol described `name`, made once per thread (a hidden property key).
pub(crate) fn per_thread_symbol(env: sys::napi_env, key: &'static std::thread::LocalKey<Cell<sys::napi_ref>>, name: &'static std::ffi::CStr) -> sys::napi_value {
  per_thread(env, key, || {
    let mut desc = ptr::null_mut();
    let mut sym = ptr::null_mut();
    // SAFETY: values made on this thread's env, from a NUL-terminated name.
    unsafe {
      sys::napi_create_string_utf8(env, name.as_ptr(), name.count_bytes() as isize, &mut desc);
      sys::napi_create_symbol(env, desc, &mut sym);
    }
    sym
  })
}

/// An externref wasmtime dropped: its number in the store's roots and, when
/// it was dropped off the JavaScript thread, its reference, which only that
/// thread may delete.
pub(crate) struct DroppedExtern {
  pub(crate) id: u32,
  pub(crate) reference: Option<SendRef>,
}

/// A napi reference carried to its own thread to be deleted there.
pub(crate) struct SendRef(pub(crate) sys::napi_ref);

// SAFETY: the reference is only moved, never used, off its thread: the one
// use, `napi_delete_reference` in `take_dropped`, runs on its env's thread.
unsafe impl Send for SendRef {}

/// The list externrefs report their drop to (see `unroot_dropped`).
pub(crate) type DroppedExterns = Arc<std::sync::Mutex<Vec<DroppedExtern>>>;

/// A strong, per-thread reference to a value made once by `make`.
pub(crate) fn per_thread(env: sys::napi_env, key: &'static std::thread::LocalKey<Cell<sys::napi_ref>>, make: impl FnOnce() -> sys::napi_value) -> sys::napi_value {
  let mut v = ptr::null_mut();
  let r = key.with(|c| c.get());
  if !r.is_null() {
    // SAFETY: our strong reference, on this thread's env.
    unsafe { sys::napi_get_reference_value(env, r, &mut v) };
    if !v.is_null() {
      return v;
    }
  }
  v = make();
  let mut r = ptr::null_mut();
  // SAFETY: a value of the current call; the reference lives as long as the
  // environment (one per thread).
  unsafe { sys::napi_create_reference(env, v, 1, &mut r) };
  key.with(|c| c.set(r));
  v
}

pub(crate) unsafe extern "C" fn noop_body(env: sys::napi_env, _info: sys::napi_callback_info) -> sys::napi_value {
  let mut u = ptr::null_mut();
  // SAFETY: the env of the current callback.
  unsafe { sys::napi_get_undefined(env, &mut u) };
  u
}

/// This thread's JavaScript function that does nothing and returns
/// `undefined` (made once per thread).
pub(crate) fn noop_fn(env: sys::napi_env) -> sys::napi_value {
  per_thread(env, &PROBE, || {
    let mut f = ptr::null_mut();
    // SAFETY: a native function made on this thread's env.
    unsafe { sys::napi_create_function(env, c"noop".as_ptr(), 4, Some(noop_body), ptr::null_mut(), &mut f) };
    f
  })
}

/// False when the thread's environment is being torn down (`worker.terminate()`,
/// `process.exit()`): V8 then refuses to run JavaScript. Its handles live in
/// a scope of its own, so a caller that asks every tick of a long run or
/// sleep does not pile them up in its own scope.
pub(crate) fn js_can_run(env: sys::napi_env) -> bool {
  let mut scope = ptr::null_mut();
  // SAFETY: this thread's env.
  let opened = unsafe { sys::napi_open_handle_scope(env, &mut scope) } == sys::Status::napi_ok;
  let can = call_probe(env);
  if opened {
    // SAFETY: the scope opened just above, closed once.
    unsafe { sys::napi_close_handle_scope(env, scope) };
  }
  can
}

fn call_probe(env: sys::napi_env) -> bool {
  let probe = noop_fn(env);
  let mut recv = ptr::null_mut();
  let mut out = ptr::null_mut();
  // SAFETY: values of this env; the probe has no side effects.
  let status = unsafe {
    sys::napi_get_undefined(env, &mut recv);
    sys::napi_call_function(env, recv, probe, 0, ptr::null(), &mut out)
  };
  if status == sys::Status::napi_ok {
    return true;
  }
  // An ordinary exception (a RangeError when the JS stack is short) is not
  // termination: clear it and go on. Termination leaves no exception object.
  let mut exc = ptr::null_mut();
  let mut t = sys::ValueType::napi_undefined;
  // SAFETY: this env's pending exception, if any.
  unsafe {
    if sys::napi_get_and_clear_last_exception(env, &mut exc) == sys::Status::napi_ok && !exc.is_null() {
      sys::napi_typeof(env, exc, &mut t);
    }
  }
  t == sys::ValueType::napi_object
}

/// What the engine's epoch ticker does to a store each tick while wasm runs:
/// trap with `interrupt` past the store's deadline, or when the thread is
/// being torn down; otherwise check again next tick.
fn on_epoch(cx: StoreContextMut<'_, StoreData>) -> wasmtime::Result<wasmtime::UpdateDeadline> {
  let d = cx.data();
  if must_stop(d.deadline, &d.interrupts, d.generation, d.remote.as_deref(), d.js_env()) {
    return Err(wasmtime::Trap::Interrupt.into());
  }
  Ok(wasmtime::UpdateDeadline::Continue(1))
}

/// Whether a store's running call must stop: past the store's deadline,
/// interrupted since the call began, or its thread's environment is being
/// torn down (off the JavaScript thread, the call's `remote` flag says so;
/// on it, a probe of `env`).
fn must_stop(deadline: Option<Instant>, interrupts: &AtomicU64, generation: u64, remote: Option<&crate::async_call::Link>, env: sys::napi_env) -> bool {
  if deadline.is_some_and(|d| Instant::now() >= d) || interrupts.load(Ordering::Relaxed) != generation {
    return true;
  }
  match remote {
    Some(link) => link.stopped(),
    None => !js_can_run(env),
  }
}

/// `must_stop`'s arguments, owned: WASI's waiting calls (wasi.rs) ask it
/// while they hold the store's data.
pub(crate) struct StopProbe {
  deadline: Option<Instant>,
  interrupts: Arc<AtomicU64>,
  generation: u64,
  remote: Option<Arc<crate::async_call::Link>>,
  env: sys::napi_env,
}

impl crate::wasi::StopTest for StopProbe {
  fn must_stop(&self) -> bool {
    must_stop(self.deadline, &self.interrupts, self.generation, self.remote.as_deref(), self.env)
  }
}

impl StoreData {
  /// The JavaScript thread's env while a call runs there; null while it runs
  /// on a pool thread (`remote`).
  fn js_env(&self) -> sys::napi_env {
    match &self.remote {
      Some(_) => ptr::null_mut(),
      // SAFETY: `shared` points at the live StoreShared that owns this store,
      // which is running a call on its own thread (no `remote`).
      None => unsafe { &*self.shared }.env,
    }
  }

  /// The stop test of the call this store is running (taken only then, on
  /// the thread running it).
  pub(crate) fn stop_probe(&self) -> StopProbe {
    StopProbe { deadline: self.deadline, interrupts: self.interrupts.clone(), generation: self.generation, remote: self.remote.clone(), env: self.js_env() }
  }
}

/// The lowest usable address of this thread's stack, if the platform says.
fn stack_floor() -> Option<usize> {
  thread_local! {
    static FLOOR: Cell<Option<usize>> = const { Cell::new(None) };
  }
  if let Some(f) = FLOOR.with(|f| f.get()) {
    return Some(f);
  }
  let floor = crate::engine::thread_stack().map(|(low, _)| low)?;
  FLOOR.with(|f| f.set(Some(floor)));
  Some(floor)
}

/// Wasmtime stores alive (not yet freed), for leak tests and monitoring.
pub(crate) static LIVE_STORES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl StoreShared {
  pub(crate) fn new(env: &Env, engine: &Engine, limits: wasmtime::StoreLimits) -> Rc<StoreShared> {
    let data = StoreData {
      shared: std::ptr::null(),
      pending_exception: None,
      wasi: None,
      limits: Limiter { limits, grown: 0, pooled: engine.pooled, refused: None },
      deadline: None,
      interrupts: Arc::new(AtomicU64::new(0)),
      generation: 0,
      remote: None,
      instances: Vec::new(),
    };
    let interrupts = data.interrupts.clone();
    let mut store = wasmtime::Store::new(&engine.engine, data);
    // Limits on instance, table and memory counts are read when the limiter
    // is installed: `limits` is final here.
    store.limiter(|d| &mut d.limits);
    if engine.epochs {
      store.epoch_deadline_callback(on_epoch);
      store.set_epoch_deadline(1);
    }
    let shared = Rc::new_cyclic(|me| StoreShared {
      inner: RefCell::new(Some(store)),
      raw: RefCell::new(Vec::new()),
      disposed: Cell::new(false),
      live_views: Cell::new(0),
      callers: RefCell::new(Vec::new()),
      away: Cell::new(false),
      current: RefCell::new(None),
      queue: RefCell::new(std::collections::VecDeque::new()),
      interrupts,
      host_calls: Cell::new(0),
      roots: Cell::new(ptr::null_mut()),
      rooted: RefCell::new(HashSet::new()),
      next_extern: Cell::new(0),
      dropped_externs: Arc::new(std::sync::Mutex::new(Vec::new())),
      reported: Cell::new(0),
      wasm_stack: if engine.pulley { 0 } else { engine.max_wasm_stack },
      epochs: engine.epochs,
      env: env.raw(),
      engine: engine.engine.clone(),
      pool: engine.pool.clone(),
      me: me.clone(),
    });
    LIVE_STORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ptr = Rc::as_ptr(&shared);
    if let Some(store) = shared.inner.borrow_mut().as_mut() {
      store.data_mut().shared = ptr;
    }
    shared
  }

  pub(crate) fn disposed_error(env: &Env) -> napi::Error {
    throw(
      env,
      Kind::Error,
      error::STORE_DISPOSED,
      "this Store was disposed; its instances, functions and memories can no longer be used. Create a new Store and instantiate again.",
    )
  }

  /// Runs `f` with the live store, or throws a clear error if the store was
  /// disposed or is borrowed by a call that is not a host function. Growth of
  /// memories and tables during `f` is reported to V8 afterwards.
  pub(crate) fn with<T>(&self, env: &Env, f: impl FnOnce(StoreContextMut<'_, StoreData>) -> Result<T>) -> Result<T> {
    if self.disposed.get() {
      return Err(Self::disposed_error(env));
    }
    let Ok(mut slot) = self.inner.try_borrow_mut() else {
      return self.with_top_caller(env, f);
    };
    if let Some(store) = slot.as_mut() {
      let r = f(store.as_context_mut());
      self.report_growth(env, store.data_mut());
      return r;
    }
    drop(slot);
    if self.away.get() {
      return self.with_top_caller(env, f);
    }
    Err(Self::disposed_error(env))
  }

  /// `with` while the store is borrowed by a call: through the innermost host
  /// call's `Caller`, if one is running JavaScript.
  #[cold]
  #[inline(never)]
  fn with_top_caller<T>(&self, env: &Env, f: impl FnOnce(StoreContextMut<'_, StoreData>) -> Result<T>) -> Result<T> {
    let top = self.callers.borrow().last().cloned();
    match top {
      Some(entry) => self.with_entry(env, &entry, |caller| f(caller.as_context_mut())),
      None => Err(self.busy_error(env)),
    }
  }

  /// Runs `f` with the caller of `entry`, a host call registered in `callers`.
  fn with_entry<T>(&self, env: &Env, entry: &HostEntry, f: impl FnOnce(&mut Caller<'static, StoreData>) -> Result<T>) -> Result<T> {
    let _claim = match &entry.remote {
      None => None,
      Some(reply) => match reply.claim() {
        Some(claim) => Some(claim),
        None => return Err(self.busy_error(env)),
      },
    };
    // SAFETY: the pointer was registered by `enter_host` from a live
    // `&mut Caller` of a host call that is blocked until JavaScript is done
    // with it: on this thread's stack below us, in a JavaScript call that
    // unregisters it before returning; or, for a call from a pool thread, a
    // host call waiting for its reply, which does not touch its caller while
    // the claim taken above is held (see `HostReply`).
    let caller = unsafe { &mut *entry.caller };
    let r = f(caller);
    self.report_growth(env, caller.data_mut());
    r
  }

  #[cold]
  fn away_error(env: &Env) -> napi::Error {
    throw(
      env,
      Kind::Error,
      error::STORE_BUSY,
      "this Store is running an async call (callAsync), so its wasm cannot be called synchronously now, not even from a host function of that call; await the call, or use fn.callAsync, which waits its turn",
    )
  }

  #[cold]
  fn busy_error(&self, env: &Env) -> napi::Error {
    if self.away.get() {
      throw(
        env,
        Kind::Error,
        error::STORE_BUSY,
        "this Store is running an async call (callAsync); wait for its Promise (or stop it with store.interrupt()) before using the store synchronously",
      )
    } else {
      throw(env, Kind::Error, error::STORE_BUSY, "this Store is in the middle of another operation; wait for it to return")
    }
  }

  /// `with`, for a call that runs wasm: an outermost call first checks that
  /// the thread has the stack the engine's wasm budget needs, and traps with
  /// `stack_overflow` instead of entering when it does not.
  pub(crate) fn enter<T>(&self, env: &Env, f: impl FnOnce(StoreContextMut<'_, StoreData>) -> Result<T>) -> Result<T> {
    if self.away.get() {
      return Err(Self::away_error(env));
    }
    let outer = self.callers.borrow().is_empty();
    if outer {
      if let Some(floor) = stack_floor() {
        let here = &floor as *const usize as usize;
        let left = here.saturating_sub(floor);
        let needed = self.wasm_stack + STACK_RESERVE;
        if left < needed {
          return Err(crate::trap::throw_trap(
            env,
            "stack_overflow",
            &format!(
              "wasm trap: call stack exhausted: this thread has {} KiB of native stack left, and a call into wasm needs {} KiB (the engine's maxWasmStack plus {} KiB). Call from a shallower stack, give the worker a larger stackSizeMb, or lower maxWasmStack.",
              left >> 10,
              needed >> 10,
              STACK_RESERVE >> 10
            ),
          ));
        }
      }
    }
    let r = self.with(env, |mut cx| {
      if outer {
        cx.data_mut().generation = self.interrupts.load(Ordering::Relaxed);
      }
      f(cx)
    });
    if outer && !self.queue.borrow().is_empty() {
      // callAsync calls queued by host functions of this call start now.
      self.pump(env);
    }
    r
  }

  #[cold]
  #[inline(never)]
  fn pump(&self, env: &Env) {
    // The call that just ended may have failed: its exception, still pending
    // for its caller, is set aside while the queued calls start (a start that
    // fails rejects its own Promise with its own exception), then thrown again.
    let exception = crate::error::take_pending(env.raw());
    crate::async_call::pump(env, self);
    if let Some(exception) = exception {
      // SAFETY: the exception taken above, on the same env and call.
      unsafe { sys::napi_throw(env.raw(), exception) };
    }
  }

  fn report_growth(&self, env: &Env, data: &mut StoreData) {
    let grown = std::mem::take(&mut data.limits.grown);
    if grown != 0 && env.adjust_external_memory(grown).is_ok() {
      self.reported.set(self.reported.get() + grown);
    }
  }

  /// Numbers the next host call.
  pub(crate) fn next_host_call(&self) -> u64 {
    let n = self.host_calls.get() + 1;
    self.host_calls.set(n);
    n
  }

  /// Makes `caller` (of host call number `call`) the store's way in while `js`
  /// runs (a host function calling JavaScript), so that JavaScript can call
  /// back into wasm.
  pub(crate) fn enter_host<R>(&self, caller: &mut Caller<'_, StoreData>, call: u64, js: impl FnOnce() -> R) -> R {
    let ptr = caller as *mut Caller<'_, StoreData> as *mut Caller<'static, StoreData>;
    self.callers.borrow_mut().push(HostEntry { caller: ptr, call, remote: None });
    struct Pop<'a>(&'a RefCell<Vec<HostEntry>>);
    impl Drop for Pop<'_> {
      fn drop(&mut self) {
        self.0.borrow_mut().pop();
      }
    }
    let _pop = Pop(&self.callers);
    js()
  }

  /// Registers the caller of a host call made by wasm on a pool thread, which
  /// waits on `reply`; JavaScript may use it (under `reply`'s claim) until
  /// `leave_remote`.
  pub(crate) fn enter_remote(&self, caller: *mut Caller<'static, StoreData>, call: u64, reply: Arc<crate::async_call::HostReply>) {
    self.callers.borrow_mut().push(HostEntry { caller, call, remote: Some(reply) });
  }

  /// Unregisters the host call `call` made from a pool thread.
  pub(crate) fn leave_remote(&self, call: u64) {
    self.callers.borrow_mut().retain(|e| e.remote.is_none() || e.call != call);
  }

  /// Runs `f` with `caller` of host call `call`, if that call is running and
  /// its caller usable now; otherwise throws.
  pub(crate) fn with_caller<T>(
    &self,
    env: &Env,
    caller: *mut Caller<'static, StoreData>,
    call: u64,
    f: impl FnOnce(&mut Caller<'static, StoreData>) -> Result<T>,
  ) -> Result<T> {
    let entry = self.callers.borrow().iter().find(|e| e.caller == caller && e.call == call).cloned();
    match entry {
      Some(entry) => self.with_entry(env, &entry, f),
      None => Err(throw(env, Kind::Error, error::INVALID_ARGUMENT, "this Caller is only valid during the host call it was given to")),
    }
  }

  /// `store.interrupt()`: every call running or queued now traps with
  /// `interrupt`.
  pub(crate) fn interrupt(&self) {
    self.interrupts.fetch_add(1, Ordering::Relaxed);
  }

  /// The number of `interrupt()` calls so far.
  pub(crate) fn interrupts(&self) -> u64 {
    self.interrupts.load(Ordering::Relaxed)
  }

  /// Records the `callAsync` in flight.
  pub(crate) fn set_current(&self, link: Option<Arc<crate::async_call::Link>>) {
    *self.current.borrow_mut() = link;
  }

  /// A counted handle of this store.
  pub(crate) fn rc(&self) -> Option<Rc<StoreShared>> {
    self.me.upgrade()
  }

  /// Whether a `callAsync` could take the store now: it is here, not
  /// borrowed by a call, and not disposed.
  pub(crate) fn can_start(&self) -> bool {
    !self.away.get() && !self.disposed.get() && self.inner.try_borrow_mut().is_ok_and(|s| s.is_some())
  }

  /// Moves the wasmtime store out, for a call on a pool thread; `None` when
  /// it is borrowed, away or freed.
  pub(crate) fn take_away(&self) -> Option<AwayStore> {
    if self.disposed.get() {
      return None;
    }
    let store = self.inner.try_borrow_mut().ok()?.take()?;
    self.away.set(true);
    Some(AwayStore(Some(store)))
  }

  /// Puts back the store a call on a pool thread had, and reports what its
  /// memories grew by meanwhile.
  pub(crate) fn come_back(&self, env: &Env, mut away: AwayStore) {
    let Some(mut store) = away.0.take() else { return };
    store.data_mut().remote = None;
    self.callers.borrow_mut().retain(|e| e.remote.is_none());
    self.report_growth(env, store.data_mut());
    self.away.set(false);
    if let Ok(mut slot) = self.inner.try_borrow_mut() {
      *slot = Some(store);
    }
  }

  /// The raw-loaded code this store holds, for a call that runs elsewhere.
  pub(crate) fn holds(&self) -> Vec<Arc<RawCode>> {
    self.raw.borrow().clone()
  }

  /// Keeps `code` loaded for as long as this store lives.
  pub(crate) fn hold(&self, code: &Arc<RawCode>) {
    let mut raw = self.raw.borrow_mut();
    if !raw.iter().any(|c| Arc::ptr_eq(c, code)) {
      raw.push(code.clone());
    }
  }

  /// A strong reference to the object that roots this store's host functions
  /// and externref values: a call in flight holds it, so they live until the
  /// call ends even if every handle of the store is dropped meanwhile.
  pub(crate) fn hold_roots(&self, env: sys::napi_env) -> Option<JsRef> {
    JsRef::new(env, self.roots(env))
  }

  /// The JavaScript object that roots this store's host functions (from index
  /// 1) and its externref values (in the object at index 0).
  fn roots(&self, env: sys::napi_env) -> sys::napi_value {
    let mut v = ptr::null_mut();
    let r = self.roots.get();
    if !r.is_null() {
      // SAFETY: our weak reference, on the store's env and thread.
      unsafe { sys::napi_get_reference_value(env, r, &mut v) };
      if !v.is_null() {
        return v;
      }
      // SAFETY: our reference, deleted once.
      unsafe { sys::napi_delete_reference(env, r) };
      // Collected: no handle of the store was left, so no host function
      // rooted there can be called again; start afresh.
      self.rooted.borrow_mut().clear();
    }
    let mut weak = ptr::null_mut();
    let mut externs = ptr::null_mut();
    // SAFETY: new objects, one weakly referenced, on this env.
    unsafe {
      sys::napi_create_object(env, &mut v);
      sys::napi_create_object(env, &mut externs);
      sys::napi_create_reference(env, v, 0, &mut weak);
    }
    put_own(env, v, OwnKey::Index(0), externs);
    self.roots.set(weak);
    v
  }

  /// Roots `value` (a value given to wasm as an externref) from JavaScript,
  /// like host functions: the store's handles hold it, the native side does
  /// not, so a value that reaches back to the store does not keep it alive.
  /// Returns its number and the list to report its drop to.
  pub(crate) fn root_extern(&self, env: sys::napi_env, value: sys::napi_value) -> (u32, DroppedExterns) {
    self.unroot_dropped(env);
    // Numbers wrap after 2^32 values: a value still held by wasm then would
    // share its number with a new one, and read back as undefined once that
    // one is dropped. No crash either way.
    let id = self.next_extern.get();
    self.next_extern.set(id.wrapping_add(1));
    let mut externs = ptr::null_mut();
    // SAFETY: the roots object, on this env; its own element 0 is the object.
    unsafe { sys::napi_get_element(env, self.roots(env), 0, &mut externs) };
    put_own(env, externs, OwnKey::Index(id), value);
    (id, self.dropped_externs.clone())
  }

  /// Empties the list of dropped externrefs, deleting the references of
  /// those dropped off this thread; returns what it held.
  fn take_dropped(&self, env: sys::napi_env) -> Vec<DroppedExtern> {
    let ids = std::mem::take(&mut *self.dropped_externs.lock().unwrap_or_else(|p| p.into_inner()));
    for r in ids.iter().filter_map(|d| d.reference.as_ref()) {
      // SAFETY: the weak reference of an externref dropped off this thread,
      // made on this env (the store's) and left for here; deleted once, as
      // `take` above emptied the list.
      unsafe { sys::napi_delete_reference(env, r.0) };
    }
    ids
  }

  /// Unroots the externref values wasmtime has dropped since the last time.
  /// Runs on the JavaScript thread in an ordinary call, never in a finalizer.
  pub(crate) fn unroot_dropped(&self, env: sys::napi_env) {
    let ids = self.take_dropped(env);
    if ids.is_empty() || self.roots.get().is_null() {
      return;
    }
    let mut roots = ptr::null_mut();
    // SAFETY: our weak reference, on the store's env and thread.
    unsafe { sys::napi_get_reference_value(env, self.roots.get(), &mut roots) };
    if roots.is_null() {
      return; // collected with everything it rooted
    }
    let mut externs = ptr::null_mut();
    // SAFETY: the object at index 0 of the roots object, on this env.
    unsafe { sys::napi_get_element(env, roots, 0, &mut externs) };
    for d in ids {
      let mut deleted = false;
      // SAFETY: as above; a plain object with no accessors.
      unsafe { sys::napi_delete_element(env, externs, d.id, &mut deleted) };
    }
  }

  /// Makes `handle` (a JavaScript object holding this store) keep the store's
  /// host functions and externref values alive, through a hidden property.
  pub(crate) fn attach_roots(&self, env: &Env, handle: sys::napi_value) {
    let prop = self.roots_property(env.raw());
    // SAFETY: `handle` is an object made in the current call; the property is
    // defined once, hidden (a symbol) and read-only.
    unsafe { sys::napi_define_properties(env.raw(), handle, 1, &prop) };
  }

  /// The hidden, read-only property `attach_roots` defines, for a caller that
  /// defines it together with others in one `napi_define_properties`.
  pub(crate) fn roots_property(&self, raw: sys::napi_env) -> sys::napi_property_descriptor {
    hidden_property(per_thread_symbol(raw, &ROOTS_KEY, c"wasmtime-napi.roots"), self.roots(raw))
  }

  /// Roots `funcs` (host functions' JavaScript functions, each identified
  /// by a number) in this store, so they live as long as the store's handles.
  pub(crate) fn root(&self, env: &Env, funcs: impl IntoIterator<Item = (usize, sys::napi_value)>) {
    let mut funcs = funcs.into_iter().peekable();
    if funcs.peek().is_none() {
      return;
    }
    let raw = env.raw();
    // Once, and first, as it may start afresh (the previous roots were
    // collected) and so forget what `rooted` holds.
    let roots = self.roots(raw);
    for (id, func) in funcs {
      let mut rooted = self.rooted.borrow_mut();
      if func.is_null() || !rooted.insert(id) {
        continue;
      }
      // Host functions from 1: one number each while these roots live.
      let n = rooted.len() as u32;
      drop(rooted);
      put_own(raw, roots, OwnKey::Index(n), func);
    }
  }

  pub(crate) fn is_disposed(&self) -> bool {
    self.disposed.get()
  }

  /// A `memory.buffer` ArrayBuffer now lends this store's memory.
  pub(crate) fn view_lent(&self) {
    self.live_views.set(self.live_views.get() + 1);
  }

  /// V8 released the backing store of such an ArrayBuffer.
  pub(crate) fn view_released(&self) {
    let n = self.live_views.get().saturating_sub(1);
    self.live_views.set(n);
    if n == 0 && self.disposed.get() {
      self.free();
    }
  }

  /// `dispose()`: every handle throws from now on; the memory goes as soon as
  /// no ArrayBuffer over it is left.
  fn dispose(&self) {
    self.disposed.set(true);
    if self.live_views.get() == 0 {
      self.free();
    }
  }

  /// Drops the wasmtime store, then the holds on raw-loaded code.
  fn free(&self) {
    let store = self.inner.borrow_mut().take();
    if store.is_some() {
      LIVE_STORES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    drop(store);
    self.raw.borrow_mut().clear();
    let reported = self.reported.replace(0);
    if reported != 0 {
      let mut out = 0i64;
      // SAFETY: the store's env, on its thread: stores are freed from
      // finalizers, `dispose()` and view finalizers, all on that thread.
      unsafe { sys::napi_adjust_external_memory(self.env, -reported, &mut out) };
    }
  }
}

/// A wasmtime store on its way to, on, or back from a pool thread. One that is
/// dropped there (its environment went away before it could come back) is
/// freed there, and counted as freed.
pub(crate) struct AwayStore(Option<wasmtime::Store<StoreData>>);

impl AwayStore {
  pub(crate) fn get(&mut self) -> Option<&mut wasmtime::Store<StoreData>> {
    self.0.as_mut()
  }
}

impl Drop for AwayStore {
  fn drop(&mut self) {
    if self.0.take().is_some() {
      LIVE_STORES.fetch_sub(1, Ordering::Relaxed);
    }
  }
}

impl Drop for StoreShared {
  fn drop(&mut self) {
    self.free();
    // References of externrefs dropped off this thread (during a callAsync)
    // and not unrooted since; those `free` just dropped here deleted theirs.
    self.take_dropped(self.env);
    let r = self.roots.get();
    if !r.is_null() {
      // SAFETY: our weak reference, deleted once, on the store's thread.
      unsafe { sys::napi_delete_reference(self.env, r) };
    }
  }
}

/// Options of `new Store(engine, options)`.
#[napi(object)]
#[derive(Default)]
pub struct StoreOptions {
  /// Most bytes any one linear memory may grow to.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.StoreLimitsBuilder.html#method.memory_size>
  pub memory_size: Option<f64>,
  /// Most elements any one table may grow to.
  pub table_elements: Option<f64>,
  /// Most instances in this store.
  pub instances: Option<f64>,
  /// Most tables in this store.
  pub tables: Option<f64>,
  /// Most memories in this store.
  pub memories: Option<f64>,
}

/// A collection of instances and their state.
#[napi]
pub struct Store {
  pub(crate) shared: Rc<StoreShared>,
}

/// A StoreLimits value from JavaScript numbers, each checked.
pub(crate) fn limits(env: &Env, o: &StoreOptions) -> Result<wasmtime::StoreLimits> {
  let n = |v: Option<f64>, what: &str| -> Result<Option<usize>> {
    v.map(|x| crate::val::index(env, x, &format!("store option {what}")).map(|x| x as usize)).transpose()
  };
  let mut b = wasmtime::StoreLimitsBuilder::new();
  if let Some(v) = n(o.memory_size, "memorySize")? {
    b = b.memory_size(v);
  }
  if let Some(v) = n(o.table_elements, "tableElements")? {
    b = b.table_elements(v);
  }
  if let Some(v) = n(o.instances, "instances")? {
    b = b.instances(v);
  }
  if let Some(v) = n(o.tables, "tables")? {
    b = b.tables(v);
  }
  if let Some(v) = n(o.memories, "memories")? {
    b = b.memories(v);
  }
  Ok(b.build())
}

#[napi]
impl Store {
  /// `new Store(engine, options?, defaultTableElements?)`: the facade passes
  /// its default for `tableElements` apart, so that a store made without
  /// options costs no options object. The new object keeps the store's
  /// roots, as every handle taken from the store does.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.new>
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, this: This, engine: &Engine, options: Option<StoreOptions>, default_table_elements: Option<f64>) -> Result<Self> {
    let mut options = options.unwrap_or_default();
    options.table_elements = options.table_elements.or(default_table_elements);
    let limits = limits(&env, &options)?;
    let shared = StoreShared::new(&env, engine, limits);
    shared.attach_roots(&env, this.raw());
    Ok(Store { shared })
  }

  /// Makes every handle of this store throw `ERR_WASMTIME_STORE_DISPOSED`
  /// from now on, and frees the store (its memories, tables, instances) as
  /// soon as no `memory.buffer` ArrayBuffer over its memory is left.
  #[napi(catch_unwind)]
  pub fn dispose(&self, env: Env) -> Result<()> {
    if self.shared.inner.try_borrow_mut().is_err() || self.shared.away.get() {
      return Err(throw(&env, Kind::Error, error::STORE_BUSY, "cannot dispose a Store while it is running a call; dispose it after the call returns"));
    }
    self.shared.dispose();
    Ok(())
  }

  /// True after `dispose()`.
  #[napi(getter)]
  pub fn is_disposed(&self) -> bool {
    self.shared.is_disposed()
  }

  /// Sets the fuel left (engines made with `consumeFuel`): a BigInt from 0n
  /// to 2n ** 64n - 1n, or a safe whole Number.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.set_fuel>
  #[napi(catch_unwind)]
  pub fn set_fuel(&self, env: Env, fuel: Unknown) -> Result<()> {
    let v = crate::val::u64_value(&env, fuel.raw(), "setFuel(fuel)")?;
    self.shared.with(&env, |mut cx| {
      cx.set_fuel(v).map_err(|e| throw(&env, Kind::Error, error::CONFIG, &format!("{}; create the Engine with {{ consumeFuel: true }}", error::chain(&e))))
    })
  }

  /// The fuel left.
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.get_fuel>
  #[napi(catch_unwind)]
  pub fn get_fuel(&self, env: Env) -> Result<BigInt> {
    self.shared.with(&env, |cx| {
      cx.get_fuel()
        .map(BigInt::from)
        .map_err(|e| throw(&env, Kind::Error, error::CONFIG, &format!("{}; create the Engine with {{ consumeFuel: true }}", error::chain(&e))))
    })
  }

  /// Any call into this store still running `ms` milliseconds from now traps
  /// with `interrupt`, whether it blocks the JavaScript thread or not; the
  /// engine's native ticker checks every few milliseconds. `null` clears it.
  /// Needs an engine with `epochInterruption` (the default).
  #[napi(catch_unwind)]
  pub fn set_deadline(&self, env: Env, ms: Option<f64>) -> Result<()> {
    if !self.shared.epochs {
      return Err(throw(&env, Kind::Error, error::CONFIG, "deadlines need an engine with epochInterruption (the default); this engine was made with { epochInterruption: false }"));
    }
    let deadline = match ms {
      None => None,
      Some(ms) => {
        let ms = crate::val::index(&env, ms, "setDeadline(ms)")?;
        Some(Instant::now() + Duration::from_millis(ms))
      }
    };
    self.shared.with(&env, |mut cx| {
      cx.data_mut().deadline = deadline;
      Ok(())
    })
  }

  /// Makes every call into this store that is running or queued now trap with
  /// `interrupt`: a running one within a few milliseconds (at its next epoch
  /// check, or at once if it waits for a host function's Promise), whether it
  /// runs on the JavaScript thread or off it (`callAsync`); a queued one at
  /// once. Calls made afterwards are not affected. Needs an engine with
  /// `epochInterruption` (the default).
  #[napi(catch_unwind)]
  pub fn interrupt(&self, env: Env) -> Result<()> {
    if !self.shared.epochs {
      return Err(throw(&env, Kind::Error, error::CONFIG, "interrupt() needs an engine with epochInterruption (the default); this engine was made with { epochInterruption: false }"));
    }
    self.shared.interrupt();
    self.shared.engine.increment_epoch();
    crate::async_call::reject_queued(&env, &self.shared);
    let current = self.shared.current.borrow().clone();
    if let Some(link) = current {
      crate::async_call::reject_waiting_job(&env, &self.shared, &link);
    }
    Ok(())
  }

  /// Runs a garbage collection of the store's GC heap (externrefs that wasm
  /// dropped are released to JavaScript).
  /// <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html#method.gc>
  #[napi(catch_unwind)]
  pub fn gc(&self, env: Env) -> Result<()> {
    self.shared.with(&env, |mut cx| {
      cx.gc(None).map_err(|e| throw(&env, Kind::Error, error::INTERNAL, &format!("gc failed: {}", error::chain(&e))))
    })?;
    self.shared.unroot_dropped(env.raw());
    Ok(())
  }
}
