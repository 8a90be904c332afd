//! `fn.callAsync(...args)`: a call into wasm on a pool thread, through
//! [`wasmtime::Func::call_async`], on a fiber stack of the engine's
//! `asyncStackSize`, while the JavaScript thread goes on.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Func.html#method.call_async>
//!
//! # The store moves
//! For the call, the wasmtime store moves whole to a pool thread, and comes
//! back when the call ends. Meanwhile the store is *away*: synchronous calls
//! into it throw `ERR_WASMTIME_STORE_BUSY`, and further `callAsync` calls wait
//! in the store's queue and start in order, each when the one before it ends.
//!
//! # Host functions
//! JavaScript host functions the guest calls run on the JavaScript thread:
//! the pool thread sends the call there (through the call's thread-safe
//! function) and waits for the reply. A host function that returns a Promise
//! is replied to when the Promise settles: its value is the result, its
//! rejection unwinds the guest and rejects `callAsync` with that same value.
//! The guest waits meanwhile, holding its pool thread (wasmtime 48 cannot
//! suspend a fiber from a host function that must also serve synchronous
//! calls; see `host_call`); a pool whose threads all wait so adds one
//! (`pool::blocking`), so calls the host function awaits can still run.
//!
//! While the pool thread waits, JavaScript may use the store through the
//! host call's `Caller`, memories and tables included, even after an `await`
//! in the host function; the `HostReply` state makes the two threads take
//! turns. Calling the store's wasm synchronously then throws
//! `ERR_WASMTIME_STORE_BUSY`.
//!
//! # Stopping
//! `store.interrupt()`, `store.setDeadline(ms)` (set before the call) and the
//! teardown of the thread's environment stop the call at its next epoch check,
//! or at once while it waits for a host function.

use crate::error::{self, throw, Kind};
use crate::host::{CallFailure, HostFunc};
use crate::module::RawCode;
use crate::store::{StoreData, StoreShared};
use crate::val::{to_val, JsRef};
use napi::bindgen_prelude::*;
use napi::sys;
use std::ffi::c_void;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;
use wasmtime::{ExternRef, OwnedRooted, RootScope, Val, ValType};

/// Work for the JavaScript thread, sent from a pool thread.
type Message = Box<dyn FnOnce(&Env) + Send>;

/// The way from a running `callAsync` back to its JavaScript thread, and the
/// flag its environment's teardown sets.
pub(crate) struct Link {
  channel: crate::pool::JsChannel<Message>,
  /// The environment is going away: stop the guest.
  stop: AtomicBool,
  /// The call's JavaScript side (owned by the teardown hook until the call's
  /// end is delivered); read only on the JavaScript thread.
  flight: AtomicPtr<Flight>,
  /// The store, until a pool thread takes it to run the call, or until
  /// `store.interrupt()` takes it back because no thread had yet.
  parked: Mutex<Option<crate::store::AwayStore>>,
}

impl Link {
  /// Whether the call's environment is being torn down.
  pub(crate) fn stopped(&self) -> bool {
    self.stop.load(Ordering::Relaxed)
  }
}

/// Runs a `Message` on the JavaScript thread.
unsafe extern "C" fn run_message(env: sys::napi_env, _callback: sys::napi_value, _context: *mut c_void, data: *mut c_void) {
  // SAFETY: `data` is a box queued by `Link::send_locked`, delivered once.
  let message = unsafe { Box::from_raw(data as *mut Message) };
  if env.is_null() {
    return; // the environment is gone: dropped undelivered
  }
  let env = Env::from_raw(env);
  // A panic has nowhere to go from here; the message is dropped.
  let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| message(&env)));
}

/// The JavaScript side of a call in flight, owned by the environment's
/// cleanup hook until the call's end is delivered (then by `complete`).
struct Flight {
  shared: Rc<StoreShared>,
  deferred: sys::napi_deferred,
  link: Arc<Link>,
  /// The store's roots (host functions, externref values), held until the
  /// call ends whatever happens to the store's handles.
  _roots: Option<JsRef>,
  /// The Promise was settled early (interrupted before the job started).
  settled: std::cell::Cell<bool>,
}

/// The environment is being torn down while a call runs: stop the guest,
/// never touch the thread-safe function again, and drop the call's
/// JavaScript side here, on its thread.
unsafe extern "C" fn on_teardown(arg: *mut c_void) {
  // SAFETY: the box given to `napi_add_env_cleanup_hook` in `start`; the hook
  // was not removed, so `complete` did not take it: consumed here, once.
  let flight = unsafe { Box::from_raw(arg as *mut Flight) };
  flight.link.channel.close();
  flight.link.stop.store(true, Ordering::Relaxed);
}

/// A `callAsync` waiting for its store.
pub(crate) struct Queued {
  func: wasmtime::Func,
  params: Vec<ValType>,
  /// How many results the function has.
  n_results: usize,
  /// The arguments, held until the call starts and converts them.
  args: Vec<JsRef>,
  deferred: sys::napi_deferred,
  /// The store's `interrupt()` count when the call was made.
  generation: u64,
  /// The store's roots, held from the call on (see `Flight`).
  roots: Option<JsRef>,
}

/// A wasm value that may cross threads: externrefs are rooted by an owned
/// root, which (unlike a scoped `Rooted`) outlives the store's root scopes.
enum SendVal {
  Plain(Val),
  Extern(OwnedRooted<ExternRef>),
}

impl SendVal {
  fn new(cx: &mut RootScope<impl wasmtime::AsContextMut>, v: Val) -> wasmtime::Result<SendVal> {
    Ok(match v {
      Val::ExternRef(Some(r)) => SendVal::Extern(r.to_owned_rooted(cx)?),
      Val::AnyRef(Some(_)) | Val::ExnRef(Some(_)) => wasmtime::bail!("GC references other than externref cannot cross threads yet"),
      v => SendVal::Plain(v),
    })
  }

  fn into_val(self, cx: &mut RootScope<impl wasmtime::AsContextMut>) -> Val {
    match self {
      SendVal::Plain(v) => v,
      SendVal::Extern(r) => Val::ExternRef(Some(r.to_rooted(cx))),
    }
  }
}

thread_local! {
  static CALL_ASYNC: std::cell::Cell<sys::napi_ref> = const { std::cell::Cell::new(ptr::null_mut()) };
}

/// The `callAsync` function every wasm function carries (one per thread).
pub(crate) fn call_async_function(raw: sys::napi_env) -> sys::napi_value {
  crate::store::per_thread(raw, &CALL_ASYNC, || {
    let mut f = ptr::null_mut();
    // SAFETY: a class-made function (see func.rs `trampoline` for why a
    // template) on this thread's env.
    unsafe { sys::napi_define_class(raw, c"callAsync".as_ptr(), 9, Some(call_async_trampoline), ptr::null_mut(), 0, ptr::null(), &mut f) };
    f
  })
}

unsafe extern "C" fn call_async_trampoline(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  let e = Env::from_raw(env);
  let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    // SAFETY: the live env and callback info of this call.
    unsafe { call_async(&e, info) }
  }));
  match result {
    Ok(Ok(v)) => v,
    Ok(Err(_)) => ptr::null_mut(),
    Err(_) => {
      throw(&e, Kind::Error, error::PANIC, "callAsync panicked inside the native addon; please report this");
      ptr::null_mut()
    }
  }
}

/// `fn.callAsync(...args)`: a Promise of what `fn(...args)` returns.
unsafe fn call_async(env: &Env, info: sys::napi_callback_info) -> Result<sys::napi_value> {
  let raw = env.raw();
  let mut argc = 0usize;
  let mut this = ptr::null_mut();
  // SAFETY: (all below) the env and info of the current callback.
  unsafe { sys::napi_get_cb_info(raw, info, &mut argc, ptr::null_mut(), &mut this, ptr::null_mut()) };
  let mut args = vec![ptr::null_mut(); argc];
  // SAFETY: `args` has room for `argc` values.
  unsafe { sys::napi_get_cb_info(raw, info, &mut argc, args.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()) };
  // SAFETY: `this` is a value of this call, which it outlives.
  let Some(fd) = (unsafe { crate::func::func_data(env, this) }) else {
    return Err(throw(env, Kind::Type, error::INVALID_ARGUMENT, "callAsync must be called on a wasm function: fn.callAsync(...args)"));
  };
  let mut deferred = ptr::null_mut();
  let mut promise = ptr::null_mut();
  // SAFETY: a new promise on this env.
  unsafe { sys::napi_create_promise(raw, &mut deferred, &mut promise) };
  let shared = &fd.store;
  let refused = if shared.is_disposed() {
    Some(StoreShared::disposed_error(env))
  } else if args.len() != fd.params.len() {
    Some(crate::func::arity_error(env, fd.params.len(), args.len()))
  } else {
    None
  };
  if refused.is_some() {
    reject_pending(raw, deferred);
    return Ok(promise);
  }
  let held: Vec<JsRef> = args.iter().filter_map(|a| JsRef::new(raw, *a)).collect();
  if held.len() != args.len() {
    throw(env, Kind::Error, error::INTERNAL, "could not hold the arguments of callAsync");
    reject_pending(raw, deferred);
    return Ok(promise);
  }
  shared.queue.borrow_mut().push_back(Queued {
    func: fd.func,
    params: fd.params.clone(),
    n_results: fd.results.len(),
    args: held,
    deferred,
    generation: shared.interrupts(),
    roots: shared.hold_roots(raw),
  });
  pump(env, shared);
  Ok(promise)
}

/// Rejects `deferred` with the exception now pending.
fn reject_pending(raw: sys::napi_env, deferred: sys::napi_deferred) {
  let mut exc = ptr::null_mut();
  // SAFETY: this env's pending exception, taken once, and our deferred,
  // settled once.
  unsafe {
    sys::napi_get_and_clear_last_exception(raw, &mut exc);
    if exc.is_null() {
      sys::napi_get_undefined(raw, &mut exc);
    }
    sys::napi_reject_deferred(raw, deferred, exc);
  }
}

/// Starts the calls queued on `shared`, in order, while the store can take
/// one: each that cannot start (its arguments are wrong, it was interrupted)
/// is rejected at once and the next one tried.
pub(crate) fn pump(env: &Env, shared: &StoreShared) {
  while shared.can_start() {
    let Some(next) = shared.queue.borrow_mut().pop_front() else { return };
    let deferred = next.deferred;
    if start(env, shared, next).is_err() {
      reject_pending(env.raw(), deferred);
    }
  }
}

/// Throws the trap of a call that `store.interrupt()` stopped before it ran.
fn interrupted_before_start(env: &Env) -> napi::Error {
  crate::trap::throw_trap(env, "interrupt", "wasm trap: interrupt: store.interrupt() was called before this call could start")
}

/// `store.interrupt()`: the calls still waiting for the store are rejected now,
/// with the trap they would have met.
pub(crate) fn reject_queued(env: &Env, shared: &StoreShared) {
  loop {
    let Some(q) = shared.queue.borrow_mut().pop_front() else { return };
    interrupted_before_start(env);
    reject_pending(env.raw(), q.deferred);
  }
}

/// `store.interrupt()`: a call handed to the pool that no thread has taken
/// yet gives its store back and is rejected now; its job, when a thread takes
/// it, finds no store and runs nothing.
pub(crate) fn reject_waiting_job(env: &Env, shared: &StoreShared, link: &Arc<Link>) {
  let parked = link.parked.lock().unwrap_or_else(PoisonError::into_inner).take();
  let Some(store) = parked else {
    return; // running already: it stops at its next epoch check
  };
  shared.set_current(None);
  shared.come_back(env, store);
  // SAFETY: the flight lives until `complete` takes it, which has not run:
  // the job has not started, so it has not sent its last message.
  let flight = unsafe { &*link.flight.load(Ordering::Relaxed) };
  interrupted_before_start(env);
  reject_pending(env.raw(), flight.deferred);
  flight.settled.set(true);
}

/// Moves the store to a pool thread and runs `q` there; on `Err`, the
/// exception to reject `q` with is pending.
fn start(env: &Env, shared: &StoreShared, q: Queued) -> Result<()> {
  let raw = env.raw();
  if shared.interrupts() != q.generation {
    return Err(interrupted_before_start(env));
  }
  let Some(rc) = shared.rc() else {
    return Err(throw(env, Kind::Error, error::INTERNAL, "the store is going away"));
  };
  let params = shared.with(env, |mut cx| {
    let mut scope = RootScope::new(&mut cx);
    let mut out = Vec::with_capacity(q.args.len());
    for (i, (a, ty)) in q.args.iter().zip(&q.params).enumerate() {
      let v = to_val(env, &mut scope, a.get(), ty, &|| format!("argument {i}"))?;
      out.push(SendVal::new(&mut scope, v).map_err(|e| throw(env, Kind::Type, error::INVALID_ARGUMENT, &format!("argument {i}: {e}")))?);
    }
    Ok(out)
  })?;
  drop(q.args);
  let Some(channel) = crate::pool::JsChannel::new(env, c"wasmtime-napi.callAsync", ptr::null_mut(), Some(run_message)) else {
    return Err(throw(env, Kind::Error, error::INTERNAL, "could not create the thread-safe function for callAsync"));
  };
  let link = Arc::new(Link { channel, stop: AtomicBool::new(false), flight: AtomicPtr::new(ptr::null_mut()), parked: Mutex::new(None) });
  let Some(mut away) = shared.take_away() else {
    return Err(throw(env, Kind::Error, error::INTERNAL, "the store could not be taken for callAsync"));
  };
  if let Some(store) = away.get() {
    store.data_mut().generation = q.generation;
    store.data_mut().remote = Some(link.clone());
  }
  *link.parked.lock().unwrap_or_else(PoisonError::into_inner) = Some(away);
  let flight = Box::into_raw(Box::new(Flight { shared: rc, deferred: q.deferred, link: link.clone(), _roots: q.roots, settled: std::cell::Cell::new(false) }));
  link.flight.store(flight, Ordering::Relaxed);
  // SAFETY: a cleanup hook on the current env; its argument is the box just
  // made, consumed by the hook or by `complete` (see `Flight`).
  unsafe { sys::napi_add_env_cleanup_hook(raw, Some(on_teardown), flight.cast()) };
  let hook = HookArg(flight);
  let holds = shared.holds();
  let func = q.func;
  let n = q.n_results;
  let job_link = link.clone();
  let spawned = shared.pool.spawn(move || {
    // None: `store.interrupt()` took the store back while this waited.
    let mut store = job_link.parked.lock().unwrap_or_else(PoisonError::into_inner).take();
    let result = match store.as_mut().and_then(|s| s.get()) {
      Some(s) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(s, func, params, n)))
        .unwrap_or_else(|_| Err(wasmtime::Error::msg("callAsync panicked inside the native addon; please report this"))),
      None => Err(wasmtime::Trap::Interrupt.into()),
    };
    let outcome = Outcome { store, result, holds };
    job_link.channel.finish(Some(Box::new(move |env| complete(env, hook, outcome))));
  });
  if let Err(why) = spawned {
    // Nothing runs: undo. The store comes back from where it was parked for
    // the job, and the call says why.
    // SAFETY: the hook has not run; its box is taken back once.
    let flight = unsafe {
      sys::napi_remove_env_cleanup_hook(raw, Some(on_teardown), flight.cast());
      Box::from_raw(flight)
    };
    if let Some(store) = flight.link.parked.lock().unwrap_or_else(PoisonError::into_inner).take() {
      shared.come_back(env, store);
    }
    flight.link.channel.finish(None);
    return Err(throw(env, Kind::Error, error::INTERNAL, &format!("cannot start callAsync: {why}")));
  }
  shared.set_current(Some(link));
  Ok(())
}

/// The teardown hook's argument, carried by the call's last message.
struct HookArg(*mut Flight);

// SAFETY: only the pointer travels; it is dereferenced on the JavaScript
// thread, by `complete` (or the hook), once.
unsafe impl Send for HookArg {}

/// How a call on a pool thread ended, with the store it ran in. Fields drop
/// in order: the store, then the outcome (a trap's backtrace refers to the
/// module), then the raw-loaded code they run from.
struct Outcome {
  store: Option<crate::store::AwayStore>,
  result: wasmtime::Result<Vec<SendVal>>,
  holds: Vec<Arc<RawCode>>,
}

/// Waits for `future` on this thread. The futures here are wasmtime calls
/// whose host functions block instead of returning `Pending`, so this parks
/// only if one ever does.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
  struct Unpark(std::thread::Thread);
  impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
      self.0.unpark();
    }
  }
  let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
  let mut cx = std::task::Context::from_waker(&waker);
  let mut future = std::pin::pin!(future);
  loop {
    if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
      return v;
    }
    std::thread::park();
  }
}

/// On the pool thread: the call itself.
fn run(store: &mut wasmtime::Store<StoreData>, func: wasmtime::Func, params: Vec<SendVal>, n: usize) -> wasmtime::Result<Vec<SendVal>> {
  // Interrupted, or its environment gone, while it waited for a thread.
  let data = store.data();
  if data.interrupts.load(Ordering::Relaxed) != data.generation || data.remote.as_ref().is_some_and(|l| l.stopped()) {
    return Err(wasmtime::Trap::Interrupt.into());
  }
  let mut scope = RootScope::new(store);
  let params: Vec<Val> = params.into_iter().map(|p| p.into_val(&mut scope)).collect();
  let mut results = vec![Val::I32(0); n];
  block_on(func.call_async(&mut scope, &params, &mut results))?;
  results.into_iter().map(|v| SendVal::new(&mut scope, v)).collect()
}

/// On the JavaScript thread: the store comes back, the Promise settles, and
/// the next queued call starts.
fn complete(env: &Env, hook: HookArg, outcome: Outcome) {
  let raw = env.raw();
  // SAFETY: the hook registered in `start` with this argument has not run
  // (the environment lives: this message was delivered), so remove it and
  // take back the box. The last message is queued inside `finish`'s critical
  // section: taking the lock waits for the release that follows it.
  let flight = unsafe {
    (&*hook.0).link.channel.wait_for_release();
    sys::napi_remove_env_cleanup_hook(raw, Some(on_teardown), hook.0.cast());
    Box::from_raw(hook.0)
  };
  let Outcome { store, result, holds } = outcome;
  let shared = &flight.shared;
  if let Some(store) = store {
    shared.set_current(None);
    shared.come_back(env, store);
  }
  if flight.settled.get() {
    drop(result);
    drop(holds);
    pump(env, shared);
    return;
  }
  let settled = match result {
    Ok(vals) => shared.with(env, |mut cx| {
      let mut scope = RootScope::new(&mut cx);
      let vals: Vec<Val> = vals.into_iter().map(|v| v.into_val(&mut scope)).collect();
      crate::func::results_to_js(env, shared, &mut scope, &vals)
    }),
    Err(err) => {
      let thrown = shared.with(env, |mut cx| Err::<sys::napi_value, _>(crate::trap::throw_call_error(env, &mut cx, &err)));
      drop(err);
      thrown
    }
  };
  drop(holds);
  match settled {
    Ok(v) => {
      // SAFETY: our deferred, settled once, with a value of this env.
      unsafe { sys::napi_resolve_deferred(raw, flight.deferred, v) };
      // Node 20 leaves an exception pending when `v` is an object whose
      // `then` getter throws (the Promise is rejected with it all the same):
      // cleared here, where nothing could catch it.
      crate::error::take_pending(raw);
    }
    Err(_) => reject_pending(raw, flight.deferred),
  }
  pump(env, shared);
}

// ---------------------------------------------------------------------------
// Host calls from a pool thread.

/// A host call made by wasm on a pool thread, as the two threads see it.
///
/// The pool thread waits in `host_call` while the JavaScript thread runs the
/// host function with the call's `Caller`. They take turns through `state`:
/// the JavaScript thread uses the caller only while it holds a claim
/// (`Waiting` to `InJs`), and the pool thread gives up waiting (to stop the
/// guest) only from `Waiting`, so never while JavaScript uses the caller.
/// Claims nest (JavaScript run by a conversion or a `then` under a claim may
/// claim again), and a reply under any of them is kept until the outermost
/// one ends: only then is it `Done`, for the pool thread to resume the guest.
/// Once `Done` or `Cancelled`, JavaScript no longer touches the caller.
pub(crate) struct HostReply {
  state: Mutex<Reply>,
  ready: Condvar,
}

enum Reply {
  /// JavaScript is not using the caller (a Promise is pending, or the call is
  /// not delivered yet).
  Waiting,
  /// JavaScript is using the caller. The results, once a turn nested in
  /// the outermost one replied: JavaScript that runs while the outermost
  /// turn uses the caller (a conversion's getter, a `then`) can settle the
  /// call, and the pool thread may take the results only when that turn ends.
  InJs(Option<std::result::Result<Vec<Val>, CallFailure>>),
  /// The results, or why there are none: for the pool thread to take.
  Done(std::result::Result<Vec<Val>, CallFailure>),
  /// The pool thread stopped waiting; the guest is unwinding.
  Cancelled,
  /// The pool thread took the reply.
  Taken,
}

/// The JavaScript thread's turn with a host call's caller; ends on drop.
pub(crate) struct Claim<'a> {
  reply: &'a HostReply,
  /// This claim moved the state to `InJs` (an inner one found it there).
  outer: bool,
}

impl Drop for Claim<'_> {
  fn drop(&mut self) {
    if self.outer {
      let mut s = self.reply.state.lock().unwrap_or_else(PoisonError::into_inner);
      if let Reply::InJs(done) = &mut *s {
        *s = match done.take() {
          Some(r) => {
            self.reply.ready.notify_all();
            Reply::Done(r)
          }
          None => Reply::Waiting,
        };
      }
    }
  }
}

impl HostReply {
  /// A turn with the caller, or `None` once the call is over.
  pub(crate) fn claim(&self) -> Option<Claim<'_>> {
    let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
    match *s {
      Reply::Waiting => {
        *s = Reply::InJs(None);
        Some(Claim { reply: self, outer: true })
      }
      // Only the JavaScript thread moves the state to `InJs`: it holds it.
      Reply::InJs(_) => Some(Claim { reply: self, outer: false }),
      _ => None,
    }
  }

  /// Keeps the results for the pool thread, which takes them when the
  /// outermost claim ends (`claim` is the caller's own, perhaps nested in
  /// it). Only the first reply counts: a `then` that fulfils and then throws
  /// cannot replace its value with the error.
  fn reply(&self, _claim: &Claim<'_>, result: std::result::Result<Vec<Val>, CallFailure>) {
    let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
    if let Reply::InJs(done @ None) = &mut *s {
      *done = Some(result);
    }
  }
}

/// On the pool thread: runs JavaScript host function `host` on the JavaScript
/// thread and waits for its results (a Promise's, once it settles). Stops
/// waiting, and traps with `interrupt`, when the store is interrupted, its
/// deadline passes, or the environment goes away, unless JavaScript is
/// using the caller at that moment.
///
/// Why the pool thread blocks rather than suspending its fiber: wasmtime 48
/// suspends only in host functions defined as async, and those panic when
/// called outside a fiber, i.e. from every synchronous call. One definition
/// serves both kinds of call, so it is synchronous.
pub(crate) fn host_call(host: &HostFunc, caller: &mut wasmtime::Caller<'_, StoreData>, params: &[Val], results: &mut [Val]) -> wasmtime::Result<()> {
  let data = caller.data();
  let Some(link) = data.remote.clone() else {
    wasmtime::bail!("host function {} was called on a thread other than its JavaScript thread", host.name);
  };
  let (generation, interrupts) = (data.generation, data.interrupts.clone());
  let reply = Arc::new(HostReply { state: Mutex::new(Reply::Waiting), ready: Condvar::new() });
  let call_caller = caller as *mut wasmtime::Caller<'_, StoreData> as *mut wasmtime::Caller<'static, StoreData>;
  let call = RemoteCall {
    host,
    caller: call_caller,
    params: params.to_vec(),
    reply: reply.clone(),
    link: link.clone(),
  };
  if !link.channel.send(Box::new(move |env| call.run(env))) {
    return Err(wasmtime::Trap::Interrupt.into());
  }
  // Read only while the state is `Waiting` (under its lock): JavaScript may
  // change the deadline through the caller, but only while it holds a claim.
  // SAFETY: the caller lives on this thread's stack, below this call.
  let deadline = || unsafe { &*call_caller }.data().deadline;
  let stop = || link.stopped() || interrupts.load(Ordering::Relaxed) != generation || deadline().is_some_and(|d| Instant::now() >= d);
  let outcome = crate::pool::blocking(|| {
    let mut s = reply.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
      match std::mem::replace(&mut *s, Reply::Taken) {
        Reply::Done(r) => return Some(r),
        Reply::Waiting if stop() => {
          *s = Reply::Cancelled;
          return None;
        }
        other => *s = other,
      }
      s = reply.ready.wait_timeout(s, crate::engine::TICK).unwrap_or_else(PoisonError::into_inner).0;
    }
  });
  let Some(r) = outcome else { return Err(wasmtime::Trap::Interrupt.into()) };
  let vals = r.map_err(CallFailure::into_wasmtime)?;
  for (slot, v) in results.iter_mut().zip(vals) {
    *slot = v;
  }
  Ok(())
}

/// A host call on its way to the JavaScript thread.
struct RemoteCall {
  /// The host function; alive while its call waits (not `Cancelled`).
  host: *const HostFunc,
  caller: *mut wasmtime::Caller<'static, StoreData>,
  params: Vec<Val>,
  reply: Arc<HostReply>,
  link: Arc<Link>,
}

// SAFETY: the pointers are dereferenced only on the JavaScript thread, under
// a claim of `reply`, i.e. while the pool thread waits inside this very host
// call, which keeps both alive and untouched (see `HostReply`).
unsafe impl Send for RemoteCall {}

impl RemoteCall {
  /// On the JavaScript thread: runs the host function; replies now, or when
  /// its Promise settles.
  fn run(self, env: &Env) {
    let raw = env.raw();
    let Some(claim) = self.reply.claim() else { return };
    // SAFETY: the call's `Flight` lives until `complete` takes it, which runs
    // after this message (the pool thread sends its last message after this
    // call's reply or cancellation, and messages arrive in order).
    let shared = unsafe { &*self.link.flight.load(Ordering::Relaxed) }.shared.clone();
    // SAFETY: the claim is held: the pool thread waits inside this host call.
    let (host, caller) = unsafe { (&*self.host, &mut *self.caller) };
    let call = shared.next_host_call();
    shared.enter_remote(self.caller, call, self.reply.clone());
    let outcome = host
      .js_args(env, &shared, caller, self.caller, call, &self.params)
      .and_then(|argv| host.invoke(&argv).map_err(|failed| failed.unwrap_or_else(|| host.pending_into(caller))));
    let ret = match outcome {
      Ok(ret) => ret,
      Err(failure) => {
        self.reply.reply(&claim, Err(failure));
        shared.leave_remote(call);
        return;
      }
    };
    if !crate::host::is_promise(raw, ret) {
      self.reply.reply(&claim, host.results_of(env, caller, ret));
      shared.leave_remote(call);
      return;
    }
    let settle = Rc::new(Settle { shared: shared.clone(), caller: self.caller, call, reply: self.reply.clone(), host: self.host });
    // Each handler holds the `Settle` itself: V8 may collect the one that
    // will not run (a rejection keeps only `on_rejected` alive, and a
    // thenable may keep either), so neither may free what the other reads.
    let handlers = handler(raw, c"fulfilled", Some(on_fulfilled), &settle).zip(handler(raw, c"rejected", Some(on_rejected), &settle));
    let waiting = handlers.is_some_and(|(on_ok, on_err)| crate::host::then(raw, ret, on_ok, on_err));
    if !waiting {
      self.reply.reply(&claim, Err(CallFailure::Host("could not wait for the Promise a host function returned".into())));
      shared.leave_remote(call);
      return;
    }
    // The guest waits for the Promise; JavaScript may use the caller meanwhile
    // (`StoreShared::with`), one claim at a time.
    drop(claim);
  }
}

/// What a host function's Promise settles into.
struct Settle {
  shared: Rc<StoreShared>,
  caller: *mut wasmtime::Caller<'static, StoreData>,
  call: u64,
  reply: Arc<HostReply>,
  /// Alive while the call waits, like `caller` (used under a claim only).
  host: *const HostFunc,
}

/// A Promise handler `name` that calls `cb` with its own counted reference to
/// `settle`, released by the handler's finalizer; `None` if it could not be
/// made (the reference is then released here).
fn handler(raw: sys::napi_env, name: &std::ffi::CStr, cb: sys::napi_callback, settle: &Rc<Settle>) -> Option<sys::napi_value> {
  let data = Box::into_raw(Box::new(settle.clone()));
  let mut f = ptr::null_mut();
  // SAFETY: a function made on this env with `data` as its data; the
  // finalizer added to it owns `data` from then on and frees it once, when
  // the function is collected, so `data` lives as long as the function can
  // be called. On failure nothing was handed out: the box is still ours.
  unsafe {
    let made = sys::napi_create_function(raw, name.as_ptr(), name.to_bytes().len() as isize, cb, data.cast(), &mut f) == sys::Status::napi_ok
      && sys::napi_add_finalizer(raw, f, data.cast(), Some(drop_settle), ptr::null_mut(), ptr::null_mut()) == sys::Status::napi_ok;
    if !made {
      drop(Box::from_raw(data));
      return None;
    }
  }
  Some(f)
}

unsafe extern "C" fn drop_settle(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  // SAFETY: a box made in `handler`, finalized once, with its function.
  drop(unsafe { Box::from_raw(data as *mut Rc<Settle>) });
}

unsafe extern "C" fn on_fulfilled(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  // SAFETY: the env and info of a call of a function made in `RemoteCall::run`.
  unsafe { settled(env, info, true) }
}

unsafe extern "C" fn on_rejected(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  // SAFETY: as above.
  unsafe { settled(env, info, false) }
}

unsafe fn settled(env: sys::napi_env, info: sys::napi_callback_info, ok: bool) -> sys::napi_value {
  let mut argc = 1usize;
  let mut value = ptr::null_mut();
  let mut data = ptr::null_mut();
  // SAFETY: the env and info of this call; its data is the reference made
  // for this very function by `handler`, freed only once the function has
  // been collected, so it is live while the function runs.
  let settle: &Settle = unsafe {
    sys::napi_get_cb_info(env, info, &mut argc, &mut value, ptr::null_mut(), &mut data);
    &*(data as *const Rc<Settle>)
  };
  if value.is_null() {
    // SAFETY: this env.
    unsafe { sys::napi_get_undefined(env, &mut value) };
  }
  let e = Env::from_raw(env);
  let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    let Some(claim) = settle.reply.claim() else {
      // The guest stopped waiting (interrupted): nothing to deliver.
      settle.shared.leave_remote(settle.call);
      return;
    };
    // SAFETY: the claim is held: the pool thread waits inside this host call.
    let (host, caller) = unsafe { (&*settle.host, &mut *settle.caller) };
    let r = if ok {
      host.results_of(&e, caller, value)
    } else {
      Err(crate::host::rethrow_later(env, caller, value, &host.name))
    };
    settle.reply.reply(&claim, r);
    drop(claim);
    settle.shared.leave_remote(settle.call);
  }));
  let mut u = ptr::null_mut();
  // SAFETY: this env.
  unsafe { sys::napi_get_undefined(env, &mut u) };
  u
}
