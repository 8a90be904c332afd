//! WASI preview1 through [`wasmtime_wasi`]: a `WasiContext` built from
//! `{ args, env, preopens, stdin, stdout, stderr }`, as `node:wasi` takes them.
//!
//! <https://docs.rs/wasmtime-wasi/48.0.8/wasmtime_wasi/struct.WasiCtxBuilder.html>
//!
//! The guest's stdio is its own: captured streams are in-memory pipes, and even
//! inherited ones are handles in the guest's fd table, so a guest that closes
//! or renumbers its fds 1 and 2 never closes the process's own stdout/stderr.
//! `proc_exit` ends the guest's call with an exit error, never the process.

use crate::error::{self, throw, Kind};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use napi::sys;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// A preopened directory: `{ path, readonly }`.
#[napi(object)]
pub struct PreopenDesc {
  pub path: String,
  pub readonly: Option<bool>,
}

/// Options of `new WasiContext(options)`.
#[napi(object)]
#[derive(Default)]
pub struct WasiOptions {
  /// argv, including argv[0] (no NUL characters).
  pub args: Option<Vec<String>>,
  /// Environment variables (none unless given): names non-empty, without
  /// `=`; no NUL characters.
  pub env: Option<HashMap<String, String>>,
  /// Guest path to host directory: `{ '/': '/srv/root' }` or
  /// `{ '/data': { path: '/srv/data', readonly: true } }`.
  pub preopens: Option<HashMap<String, Either<String, PreopenDesc>>>,
  /// `'inherit'`, `'ignore'` (default: empty), or a Buffer of bytes to read.
  #[napi(ts_type = "WasiInput")]
  pub stdin: Option<Either<String, Buffer>>,
  /// `'capture'` (default), `'inherit'` or `'ignore'`.
  #[napi(ts_type = "WasiOutput")]
  pub stdout: Option<String>,
  /// `'capture'` (default), `'inherit'` or `'ignore'`.
  #[napi(ts_type = "WasiOutput")]
  pub stderr: Option<String>,
}

/// WASI preview1 state for one store: attach it with `linker.defineWasi(ctx)`.
#[napi]
pub struct WasiContext {
  built: RefCell<Option<wasmtime_wasi::p1::WasiP1Ctx>>,
  stdout: Option<MemoryOutputPipe>,
  stderr: Option<MemoryOutputPipe>,
}

/// How much a captured stream may hold before writes fail.
const CAPTURE_LIMIT: usize = 1 << 30;

impl WasiContext {
  /// Takes the built context, for the store it is attached to (once).
  pub(crate) fn take(&self, env: &Env) -> Result<wasmtime_wasi::p1::WasiP1Ctx> {
    self.built.borrow_mut().take().ok_or_else(|| {
      throw(env, Kind::Error, error::WASI, "this WasiContext is already in use by a store; create one WasiContext per store")
    })
  }
}

/// Where a guest's stdout or stderr goes when it is neither captured,
/// inherited nor ignored: streamed, chunk by chunk, to JavaScript.
pub(crate) type Sink = Option<ChunkSink>;

/// A WASI context built from `o`: with `sinks`, output streams to them.
fn build(env: &Env, o: WasiOptions, sinks: [Sink; 2]) -> Result<(wasmtime_wasi::p1::WasiP1Ctx, Option<MemoryOutputPipe>, Option<MemoryOutputPipe>)> {
  let mut b = WasiCtxBuilder::new();
  b.allow_blocking_current_thread(true);
  // The guest gets NUL-terminated strings, and its environment as KEY=VALUE:
  // what would be cut or split there is refused here.
  let refuse = |what: String| throw(env, Kind::Type, error::INVALID_ARGUMENT, &what);
  if let Some(args) = &o.args {
    if let Some(i) = args.iter().position(|a| a.contains('\0')) {
      return Err(refuse(format!("WASI args[{i}] contains a NUL character, where the guest's argv string would end; remove it")));
    }
    b.args(args);
  }
  if let Some(vars) = &o.env {
    for (k, v) in vars {
      if k.is_empty() || k.contains(['=', '\0']) {
        return Err(refuse(format!("WASI env name {k:?} is empty or contains '=' or a NUL character; the guest reads each variable as NAME=VALUE, so give a name without them")));
      }
      if v.contains('\0') {
        return Err(refuse(format!("WASI env value of {k:?} contains a NUL character, where the guest's string would end; remove it")));
      }
      b.env(k, v);
    }
  }
  for (guest, spec) in o.preopens.into_iter().flatten() {
    let (path, readonly) = match spec {
      Either::A(p) => (p, false),
      Either::B(d) => (d.path, d.readonly.unwrap_or(false)),
    };
    let perms = if readonly { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
    b.preopened_dir(&path, &guest, perms).map_err(|e| {
      throw(env, Kind::Error, error::WASI, &format!("cannot preopen '{path}' as '{guest}': {}", error::chain(&e)))
    })?;
  }
  match o.stdin {
    None => {}
    Some(Either::A(s)) if s == "inherit" => {
      b.inherit_stdin();
    }
    Some(Either::A(s)) if s == "ignore" => {}
    Some(Either::A(other)) => {
      return Err(throw(
        env,
        Kind::Type,
        error::INVALID_ARGUMENT,
        &format!("stdin must be 'inherit', 'ignore' or the bytes to read (a Buffer or Uint8Array), not the string '{other}'; to feed text, pass Buffer.from(text)"),
      ));
    }
    Some(Either::B(buf)) => {
      b.stdin(MemoryInputPipe::new(buf.to_vec()));
    }
  }
  let pipe = |mode: Option<&str>, which: &str| -> Result<Option<MemoryOutputPipe>> {
    match mode.unwrap_or("capture") {
      "capture" => Ok(Some(MemoryOutputPipe::new(CAPTURE_LIMIT))),
      "inherit" | "ignore" => Ok(None),
      other => Err(throw(
        env,
        Kind::Type,
        error::INVALID_ARGUMENT,
        &format!("{which} must be 'capture', 'inherit' or 'ignore', not '{other}'"),
      )),
    }
  };
  let [out_sink, err_sink] = sinks;
  let stdout = if out_sink.is_some() { None } else { pipe(o.stdout.as_deref(), "stdout")? };
  let stderr = if err_sink.is_some() { None } else { pipe(o.stderr.as_deref(), "stderr")? };
  match (out_sink, &stdout, o.stdout.as_deref()) {
    (Some(sink), _, _) => b.stdout(sink),
    (None, Some(p), _) => b.stdout(p.clone()),
    (None, None, Some("inherit")) => b.inherit_stdout(),
    _ => &mut b,
  };
  match (err_sink, &stderr, o.stderr.as_deref()) {
    (Some(sink), _, _) => b.stderr(sink),
    (None, Some(p), _) => b.stderr(p.clone()),
    (None, None, Some("inherit")) => b.inherit_stderr(),
    _ => &mut b,
  };
  Ok((b.build_p1(), stdout, stderr))
}

#[napi]
impl WasiContext {
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, options: Option<WasiOptions>) -> Result<Self> {
    let (ctx, stdout, stderr) = build(&env, options.unwrap_or_default(), [None, None])?;
    Ok(WasiContext { built: RefCell::new(Some(ctx)), stdout, stderr })
  }

  /// What the guest wrote to stdout, when captured (else `null`).
  #[napi(getter)]
  pub fn stdout(&self) -> Option<Buffer> {
    self.stdout.as_ref().map(|p| p.contents().to_vec().into())
  }

  /// What the guest wrote to stderr, when captured (else `null`).
  #[napi(getter)]
  pub fn stderr(&self) -> Option<Buffer> {
    self.stderr.as_ref().map(|p| p.contents().to_vec().into())
  }
}

/// Says whether a running call must stop (a deadline, an interrupt, an
/// abort, the thread's teardown): a store's epoch test.
pub(crate) trait StopTest {
  fn must_stop(&self) -> bool;
}

impl StopTest for Arc<Run> {
  fn must_stop(&self) -> bool {
    Run::must_stop(self)
  }
}

/// A store's data that holds a WASI context and can say whether the call it
/// runs must stop.
pub(crate) trait WasiHost: Send + 'static {
  type Stop: StopTest;
  /// The store's WASI context.
  fn wasi(&mut self) -> &mut wasmtime_wasi::p1::WasiP1Ctx;
  /// The running call's stop test, usable while `wasi()` is borrowed.
  fn stop_test(&self) -> Self::Stop;
}

impl WasiHost for crate::store::StoreData {
  type Stop = crate::store::StopProbe;

  fn wasi(&mut self) -> &mut wasmtime_wasi::p1::WasiP1Ctx {
    // Filled from the WasiContext at instantiation; otherwise an empty one,
    // which blocks its thread as `build` lets every context do (so that
    // `sleep_only` answers as wasmtime-wasi would for it).
    self.wasi.get_or_insert_with(|| WasiCtxBuilder::new().allow_blocking_current_thread(true).build_p1())
  }

  fn stop_test(&self) -> crate::store::StopProbe {
    self.stop_probe()
  }
}

/// Adds WASI preview1 to `linker` as
/// [`add_to_linker_sync`](https://docs.rs/wasmtime-wasi/48.0.8/wasmtime_wasi/p1/fn.add_to_linker_sync.html)
/// does, except for the two calls that can wait without end, which stop as
/// the store's epoch checks would: `poll_oneoff` (a guest may ask to sleep
/// 2^64 ns) and `fd_read` (an inherited stdin that never comes). Epochs are
/// checked only while wasm runs, so without this a guest asleep in the host
/// ignored deadlines, timeouts, aborts and `worker.terminate()`.
/// `shadowing` is the linker's own setting, restored after.
pub(crate) fn add_to_linker<T: WasiHost>(linker: &mut wasmtime::Linker<T>, shadowing: bool) -> wasmtime::Result<()> {
  wasmtime_wasi::p1::add_to_linker_sync(linker, |d: &mut T| d.wasi())?;
  linker.allow_shadowing(true);
  let defined = define_waiting_calls(linker);
  linker.allow_shadowing(shadowing);
  defined
}

fn define_waiting_calls<T: WasiHost>(linker: &mut wasmtime::Linker<T>) -> wasmtime::Result<()> {
  use wasmtime_wasi::p1::wasi_snapshot_preview1 as p1;
  linker.func_wrap(
    "wasi_snapshot_preview1",
    "poll_oneoff",
    |mut caller: wasmtime::Caller<'_, T>, subs: i32, events: i32, n: i32, nevents: i32| -> wasmtime::Result<i32> {
      with_wasi(&mut caller, |ctx, mem, stop| match sleep_only(mem, subs, events, n, nevents, stop)? {
        Some(errno) => Ok(errno),
        None => drive(p1::poll_oneoff(ctx, mem, subs, events, n, nevents), stop),
      })
    },
  )?;
  linker.func_wrap(
    "wasi_snapshot_preview1",
    "fd_read",
    |mut caller: wasmtime::Caller<'_, T>, fd: i32, iovs: i32, len: i32, nread: i32| -> wasmtime::Result<i32> {
      with_wasi(&mut caller, |ctx, mem, stop| drive(p1::fd_read(ctx, mem, fd, iovs, len, nread), stop))
    },
  )?;
  Ok(())
}

/// Calls `f` with the store's WASI context, the guest's memory and the stop
/// test, set up as wasmtime-wasi's own bindings do (wiggle's
/// `wasmtime_integration`).
fn with_wasi<T: WasiHost>(
  caller: &mut wasmtime::Caller<'_, T>,
  f: impl FnOnce(&mut wasmtime_wasi::p1::WasiP1Ctx, &mut wiggle::GuestMemory<'_>, &dyn Fn() -> bool) -> wasmtime::Result<i32>,
) -> wasmtime::Result<i32> {
  use wasmtime::AsContextMut;
  use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1;
  let stop = caller.data().stop_test();
  let fuel = caller.as_context_mut().hostcall_fuel();
  let export = caller.get_export("memory");
  let (mut mem, ctx) = match &export {
    Some(wasmtime::Extern::Memory(m)) => {
      let (mem, data) = m.data_and_store_mut(&mut *caller);
      (wiggle::GuestMemory::Unshared(mem), data.wasi())
    }
    Some(wasmtime::Extern::SharedMemory(m)) => (wiggle::GuestMemory::Shared(m.data()), caller.data_mut().wasi()),
    _ => return Err(wasmtime::format_err!("missing required memory export")),
  };
  ctx.set_hostcall_fuel(fuel);
  f(ctx, &mut mem, &|| stop.must_stop())
}

/// Runs a WASI call to its end on wasmtime-wasi's runtime, as
/// `add_to_linker_sync` does; but while the call waits, asks `stop` each
/// engine tick and, once it says so, drops the call (its temporary pollables
/// and streams go with it) and traps with `interrupt`.
fn drive<R, E: Into<wasmtime::Error>>(call: impl std::future::Future<Output = std::result::Result<R, E>>, stop: &dyn Fn() -> bool) -> wasmtime::Result<R> {
  use std::task::Poll;
  wasmtime_wasi::runtime::in_tokio(async {
    let mut call = std::pin::pin!(call);
    let mut tick: Option<tokio::time::Interval> = None;
    std::future::poll_fn(|cx| {
      if let Poll::Ready(r) = call.as_mut().poll(cx) {
        return Poll::Ready(r.map_err(Into::into));
      }
      // The call waits: check a tick from now, and each tick after. (Calls
      // that do not wait never make the timer; one that only yields once,
      // as a poll of a clock already past does, never runs the check.)
      let tick = tick.get_or_insert_with(|| {
        let period = crate::engine::TICK;
        tokio::time::interval_at(tokio::time::Instant::now() + period, period)
      });
      while tick.poll_tick(cx).is_ready() {
        if stop() {
          return Poll::Ready(Err(wasmtime::Trap::Interrupt.into()));
        }
      }
      Poll::Pending
    })
    .await
  })
}

/// `poll_oneoff` on one relative clock, a plain sleep: wasmtime-wasi sleeps
/// through it with `std::thread::sleep` when blocking is allowed (as it is
/// here), where nothing can stop it (the special case at the top of
/// `WasiSnapshotPreview1::poll_oneoff` for `WasiP1Ctx`, wasmtime-wasi
/// 48.0.8's p1.rs: keep this in step with it when wasmtime moves). This
/// sleeps as long, a tick at a time, asking `stop` between, and writes the
/// same event. `None` for any other call, or one whose subscription cannot
/// be read (wasmtime-wasi's call then reports that, before it waits).
fn sleep_only(mem: &mut wiggle::GuestMemory<'_>, subs: i32, events: i32, n: i32, nevents: i32, stop: &dyn Fn() -> bool) -> wasmtime::Result<Option<i32>> {
  use wasmtime_wasi::p1::types;
  use wiggle::GuestPtr;
  if n != 1 {
    return Ok(None);
  }
  let Ok(sub) = mem.read(GuestPtr::<types::Subscription>::new(subs as u32)) else {
    return Ok(None);
  };
  let types::SubscriptionU::Clock(clock) = sub.u else {
    return Ok(None);
  };
  if clock.flags.contains(types::Subclockflags::SUBSCRIPTION_CLOCK_ABSTIME) {
    return Ok(None);
  }
  // No end that an Instant can hold: until stopped.
  let end = std::time::Instant::now().checked_add(std::time::Duration::from_nanos(clock.timeout));
  loop {
    if stop() {
      return Err(wasmtime::Trap::Interrupt.into());
    }
    let left = end.map_or(crate::engine::TICK, |end| end.saturating_duration_since(std::time::Instant::now()));
    if left.is_zero() {
      break;
    }
    std::thread::sleep(left.min(crate::engine::TICK));
  }
  let event = types::Event {
    userdata: sub.userdata,
    error: types::Errno::Success,
    type_: types::Eventtype::Clock,
    fd_readwrite: types::EventFdReadwrite { flags: types::Eventrwflags::empty(), nbytes: 1 },
  };
  mem.write(GuestPtr::<types::Event>::new(events as u32), event)?;
  mem.write(GuestPtr::<types::Size>::new(nevents as u32), 1)?;
  Ok(Some(types::Errno::Success as i32))
}

// ---------------------------------------------------------------------------
// Running a WASI command off the JavaScript thread (`runWasiCommandAsync`).
//
// The guest runs on a pool thread (pool.rs) in a store of its own, made there.
// Everything it sends back (output chunks, then the outcome) goes through one
// thread-safe function, so JavaScript sees the chunks in order and before the
// outcome. The command holds its module's code (raw-loaded code included)
// until it ends, whatever JavaScript does with the Module meanwhile.

/// What a running command sends to JavaScript.
enum Event {
  /// A chunk the guest wrote to stdout (1) or stderr (2), and its run (to
  /// account for the bytes once delivered).
  Output(u8, Vec<u8>, Arc<Run>),
  /// The end: the exit code and captured output, or why it failed; the
  /// run's teardown hook to remove; and the raw-loaded code, held until the
  /// outcome (a trap's backtrace refers to the module) is gone. Fields drop
  /// in this order.
  Done(std::result::Result<(i32, Option<Vec<u8>>, Option<Vec<u8>>), Failure>, Hook, Option<Arc<crate::module::RawCode>>),
}

/// The argument of a run's environment cleanup hook: an `Arc<Run>` turned
/// into a pointer, consumed once, by the hook or by the delivery of `Done`.
struct Hook(*const Run);

// SAFETY: only the pointer travels; it is turned back into its Arc on the
// JavaScript thread (or by the hook, on that thread too).
unsafe impl Send for Hook {}

/// Why a command did not run to an exit code.
enum Failure {
  /// Out of the guest's call: a trap, a host error (not a WASI exit).
  Wasm(wasmtime::Error),
  /// Before the guest ran: instantiation, a missing `_start`.
  Setup(&'static str, String),
}

/// One command: its channel to JavaScript, shared by its sinks and its job,
/// and its abort flag.
struct Run {
  channel: crate::pool::JsChannel<Event>,
  abort: AtomicBool,
  /// `WAITING` until a pool thread takes the job (`STARTED`) or JavaScript
  /// gives up on it first (`CANCELLED`: the job then runs nothing).
  state: std::sync::atomic::AtomicU8,
  /// Bytes of streamed output sent and not yet given to JavaScript: the guest
  /// waits (`wait_for_room`) while this is above `STREAM_WINDOW`.
  in_flight: std::sync::Mutex<usize>,
  room: std::sync::Condvar,
  /// `timeout` as an instant: the guest traps with `interrupt` past it.
  deadline: Option<std::time::Instant>,
}

const WAITING: u8 = 0;
const STARTED: u8 = 1;
const CANCELLED: u8 = 2;

/// How much streamed output may wait for JavaScript before the guest waits.
const STREAM_WINDOW: usize = 8 << 20;

impl Run {
  /// Aborted (by JavaScript or the environment's teardown), or out of time.
  fn must_stop(&self) -> bool {
    self.abort.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| std::time::Instant::now() >= d)
  }

  /// Waits while too much streamed output is on its way to JavaScript, unless
  /// the run is stopping.
  fn wait_for_room(&self) {
    let mut n = self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    while *n > STREAM_WINDOW && !self.must_stop() {
      n = match self.room.wait_timeout(n, std::time::Duration::from_millis(50)) {
        Ok((n, _)) => n,
        Err(p) => p.into_inner().0,
      };
    }
  }
}

/// The environment is being torn down (`worker.terminate()`, exit): stop the
/// guest, and never touch the thread-safe function again. Registered after
/// the thread-safe function was made, so it runs before Node closes it.
unsafe extern "C" fn on_teardown(arg: *mut std::ffi::c_void) {
  // SAFETY: the Arc given to `napi_add_env_cleanup_hook`, consumed here once
  // (the hook was not removed, so `Done` was not delivered).
  let run = unsafe { Arc::from_raw(arg as *const Run) };
  run.channel.close();
  run.abort.store(true, Ordering::Relaxed);
}

/// Runs on the JavaScript thread for each event: calls `callback(kind, value)`
/// with `'stdout' | 'stderr'` and a Buffer, `'done'` and the result, or
/// `'error'` and the error.
unsafe extern "C" fn deliver(env: sys::napi_env, callback: sys::napi_value, _context: *mut std::ffi::c_void, data: *mut std::ffi::c_void) {
  // SAFETY: `data` is a box queued by `Run::send`, delivered once.
  let event = unsafe { Box::from_raw(data as *mut Event) };
  if env.is_null() || callback.is_null() {
    return; // the environment is going away: nobody to tell
  }
  match &*event {
    Event::Done(_, Hook(run), _) => {
      // SAFETY: the hook registered in `run_wasi_command_async` with this very
      // argument has not run (the environment lives), so remove it and take
      // back the Arc it was given. `Done` is queued inside `finish`'s critical
      // section: taking the lock waits for the release that follows it.
      unsafe {
        (**run).channel.wait_for_release();
        sys::napi_remove_env_cleanup_hook(env, Some(on_teardown), *run as *mut std::ffi::c_void);
        drop(Arc::from_raw(*run));
      }
    }
    Event::Output(..) => {}
  }
  let e = Env::from_raw(env);
  let raw = env;
  let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    // SAFETY: (all below) values made on this env, on its thread, in the
    // handle scope N-API opens around this callback.
    unsafe {
      let string = |s: &str| {
        let mut v = ptr::null_mut();
        sys::napi_create_string_utf8(raw, s.as_ptr().cast(), s.len() as isize, &mut v);
        v
      };
      let buffer = |bytes: &[u8]| {
        let mut v = ptr::null_mut();
        let mut at = ptr::null_mut();
        sys::napi_create_buffer_copy(raw, bytes.len(), bytes.as_ptr().cast(), &mut at, &mut v);
        v
      };
      let null = || {
        let mut v = ptr::null_mut();
        sys::napi_get_null(raw, &mut v);
        v
      };
      let (kind, value) = match *event {
        Event::Output(which, bytes, run) => {
          let value = buffer(&bytes);
          let mut n = run.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
          *n = n.saturating_sub(bytes.len());
          drop(n);
          run.room.notify_all();
          (if which == 1 { "stdout" } else { "stderr" }, value)
        }
        Event::Done(Ok((code, out, err)), _, _) => {
          let mut obj = ptr::null_mut();
          sys::napi_create_object(raw, &mut obj);
          let mut n = ptr::null_mut();
          sys::napi_create_int32(raw, code, &mut n);
          sys::napi_set_named_property(raw, obj, c"exitCode".as_ptr(), n);
          sys::napi_set_named_property(raw, obj, c"stdout".as_ptr(), out.as_deref().map_or_else(null, buffer));
          sys::napi_set_named_property(raw, obj, c"stderr".as_ptr(), err.as_deref().map_or_else(null, buffer));
          ("done", obj)
        }
        Event::Done(Err(failure), _, held) => {
          match &failure {
            Failure::Wasm(err) => crate::trap::throw_wasm_error(&e, err),
            Failure::Setup(code, message) => throw(&e, Kind::Error, code, message),
          };
          // The error (and the module its backtrace holds) before the code.
          drop(failure);
          drop(held);
          let mut err = ptr::null_mut();
          sys::napi_get_and_clear_last_exception(raw, &mut err);
          ("error", err)
        }
      };
      let mut undefined = ptr::null_mut();
      sys::napi_get_undefined(raw, &mut undefined);
      let args = [string(kind), value];
      let mut out = ptr::null_mut();
      sys::napi_call_function(raw, undefined, callback, 2, args.as_ptr(), &mut out);
    }
  }));
  let _ = result; // a panic here has nowhere to go; the event is dropped
}

/// A guest's stdout or stderr that sends each write to JavaScript.
#[derive(Clone)]
pub(crate) struct ChunkSink {
  events: Arc<Run>,
  which: u8,
}

impl ChunkSink {
  /// Sends `bytes` to JavaScript, first waiting while too much is on its way
  /// (the guest slows down to what JavaScript takes). False once closed.
  fn emit(&self, bytes: &[u8]) -> bool {
    if bytes.is_empty() {
      return true;
    }
    self.events.wait_for_room();
    *self.events.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += bytes.len();
    self.events.channel.send(Event::Output(self.which, bytes.to_vec(), self.events.clone()))
  }
}

impl wasmtime_wasi::cli::IsTerminal for ChunkSink {
  fn is_terminal(&self) -> bool {
    false
  }
}

impl wasmtime_wasi::cli::StdoutStream for ChunkSink {
  fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
    Box::new(self.clone())
  }

  fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
    Box::new(self.clone())
  }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for ChunkSink {
  async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::OutputStream for ChunkSink {
  fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
    if !self.emit(&bytes) {
      return Err(wasmtime_wasi::p2::StreamError::Closed);
    }
    Ok(())
  }

  fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
    Ok(())
  }

  fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
    Ok(1 << 20)
  }
}

impl tokio::io::AsyncWrite for ChunkSink {
  fn poll_write(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
    if !self.emit(buf) {
      return std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
    }
    std::task::Poll::Ready(Ok(buf.len()))
  }

  fn poll_flush(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
    std::task::Poll::Ready(Ok(()))
  }

  fn poll_shutdown(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
    std::task::Poll::Ready(Ok(()))
  }
}

/// Options of the native `runWasiCommandAsync` beyond the WASI context's.
#[napi(object)]
#[derive(Default)]
pub struct WasiRunOptions {
  /// Milliseconds from this call after which the guest traps with `interrupt`
  /// (a run still queued then does not start).
  pub timeout: Option<f64>,
  /// Fuel for engines made with `consumeFuel` (required there, refused elsewhere).
  /// (Read during the call that received it, never kept: the lifetime napi-rs
  /// asks of an object field is wider than the value's.)
  #[napi(ts_type = "bigint | number")]
  pub fuel: Option<Unknown<'static>>,
  /// Limits of the run's store, as `new Store(engine, options)` takes them.
  pub store: Option<crate::store::StoreOptions>,
  /// The caller may abort the run (`WasiRun#abort`): refused on engines
  /// without epoch checks, which could not stop it.
  pub abortable: Option<bool>,
  /// Stream stdout to the callback as it is written (instead of `options.stdout`).
  pub stream_stdout: Option<bool>,
  /// Stream stderr likewise.
  pub stream_stderr: Option<bool>,
}

/// A WASI command running off the JavaScript thread.
#[napi]
pub struct WasiRun {
  run: Arc<Run>,
}

#[napi]
impl WasiRun {
  /// Stops the guest at its next epoch check (within a few milliseconds):
  /// the run then ends with a trap, `interrupt`.
  #[napi]
  pub fn abort(&self) {
    self.run.abort.store(true, Ordering::Relaxed);
  }

  /// If no pool thread has taken the run yet, makes sure none will run it
  /// and returns true: the caller may settle the run now (its `'error'`
  /// event still comes, when a thread takes the job).
  #[napi]
  pub fn cancel_if_waiting(&self) -> bool {
    self.run.abort.store(true, Ordering::Relaxed);
    self.run.state.compare_exchange(WAITING, CANCELLED, Ordering::AcqRel, Ordering::Acquire).is_ok()
  }
}

/// What the store of a command off the JavaScript thread holds.
struct RunData {
  wasi: wasmtime_wasi::p1::WasiP1Ctx,
  limits: wasmtime::StoreLimits,
  run: Arc<Run>,
}

impl WasiHost for RunData {
  type Stop = Arc<Run>;

  fn wasi(&mut self) -> &mut wasmtime_wasi::p1::WasiP1Ctx {
    &mut self.wasi
  }

  fn stop_test(&self) -> Arc<Run> {
    self.run.clone()
  }
}

/// Starts `module`'s `_start` on a pool thread. `callback(kind, value)` gets
/// the output chunks (when streamed) and then `'done'` or `'error'` once.
#[napi(catch_unwind, ts_args_type = "engine: Engine, module: Module, options: WasiOptions | undefined | null, run: WasiRunOptions | undefined | null, callback: (kind: 'stdout' | 'stderr' | 'done' | 'error', value: unknown) => void")]
pub fn run_wasi_command_async(
  env: Env,
  engine: &crate::engine::Engine,
  module: &crate::module::Module,
  options: Option<WasiOptions>,
  run: Option<WasiRunOptions>,
  callback: Function<'_, (String, Unknown<'_>), ()>,
) -> Result<WasiRun> {
  let mut run = run.unwrap_or_default();
  let wasm = module.module(&env)?.clone();
  let held = module.raw().cloned();
  let deadline = match run.timeout {
    None => None,
    Some(ms) => Some(std::time::Instant::now() + std::time::Duration::from_millis(crate::val::index(&env, ms, "timeout (milliseconds)")?)),
  };
  let fuel = match &run.fuel {
    None => None,
    Some(v) => Some(crate::val::u64_value(&env, v.raw(), "fuel")?),
  };
  let limits = crate::store::limits(&env, &run.store.take().unwrap_or_default())?;
  if !wasmtime::Engine::same(&engine.engine, wasm.engine()) {
    return Err(throw(&env, Kind::Error, error::INSTANTIATE, "the module belongs to another engine than the one given"));
  }
  let epochs = engine.epochs;
  if (deadline.is_some() || run.abortable.unwrap_or(false)) && !epochs {
    return Err(throw(
      &env,
      Kind::Error,
      error::CONFIG,
      "a timeout or an AbortSignal needs an engine with epochInterruption (the default); this module's engine was made with { epochInterruption: false }, so a running guest could not be stopped",
    ));
  }
  let Some(channel) = crate::pool::JsChannel::new(&env, c"wasmtime-napi.wasi", callback.raw(), Some(deliver)) else {
    return Err(throw(&env, Kind::Error, error::INTERNAL, "could not create the thread-safe function for a WASI run"));
  };
  let run_state = Arc::new(Run {
    channel,
    abort: AtomicBool::new(false),
    state: std::sync::atomic::AtomicU8::new(WAITING),
    in_flight: std::sync::Mutex::new(0),
    room: std::sync::Condvar::new(),
    deadline,
  });
  let hook = Arc::into_raw(run_state.clone());
  // SAFETY: a cleanup hook on the current env; its argument is the Arc just
  // made, consumed by the hook or by `deliver` (see `Hook`).
  unsafe { sys::napi_add_env_cleanup_hook(env.raw(), Some(on_teardown), hook as *mut std::ffi::c_void) };
  let hook = Hook(hook);
  let events = run_state.clone();
  let sink = |on: Option<bool>, which| on.unwrap_or(false).then(|| ChunkSink { events: events.clone(), which });
  let sinks = [sink(run.stream_stdout, 1), sink(run.stream_stderr, 2)];
  // When nothing runs after all, the hook's bookkeeping is settled here.
  let unhook = |hook: Hook| {
    run_state.channel.finish(None);
    // SAFETY: as in `deliver`: the hook has not run, its Arc is taken back once.
    unsafe {
      sys::napi_remove_env_cleanup_hook(env.raw(), Some(on_teardown), hook.0 as *mut std::ffi::c_void);
      drop(Arc::from_raw(hook.0));
    }
  };
  let (ctx, stdout, stderr) = match build(&env, options.unwrap_or_default(), sinks) {
    Ok(built) => built,
    Err(e) => {
      unhook(hook);
      return Err(e);
    }
  };
  let hook_ptr = hook.0;
  let job_run = run_state.clone();
  engine.pool.spawn(move || {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_command(&wasm, ctx, limits, fuel, epochs, job_run.clone())))
      .unwrap_or_else(|_| Err(Failure::Setup(error::PANIC, "the WASI run panicked inside the native addon; please report this".into())));
    let outcome = outcome.map(|code| (code, stdout.map(|p| p.contents().to_vec()), stderr.map(|p| p.contents().to_vec())));
    // The module (its store is gone already) before the memory its code runs
    // from, which the event holds until JavaScript has the outcome.
    drop(wasm);
    job_run.channel.finish(Some(Event::Done(outcome, hook, held)));
  })
  .map_err(|why| {
    unhook(Hook(hook_ptr));
    throw(&env, Kind::Error, error::INTERNAL, &format!("cannot start the WASI run: {why}"))
  })?;
  Ok(WasiRun { run: run_state })
}

/// Instantiates `module` with WASI in a store of this thread and runs `_start`.
fn run_command(
  module: &wasmtime::Module,
  wasi: wasmtime_wasi::p1::WasiP1Ctx,
  limits: wasmtime::StoreLimits,
  fuel: Option<u64>,
  epochs: bool,
  run: Arc<Run>,
) -> std::result::Result<i32, Failure> {
  // Aborted, or out of time, while it waited in the queue: do not start.
  let cancelled = run.state.compare_exchange(WAITING, STARTED, Ordering::AcqRel, Ordering::Acquire).is_err();
  if cancelled || run.must_stop() {
    return Err(Failure::Wasm(wasmtime::Trap::Interrupt.into()));
  }
  let engine = module.engine();
  let mut store = wasmtime::Store::new(engine, RunData { wasi, limits, run });
  store.limiter(|d| &mut d.limits);
  match (store.get_fuel().is_ok(), fuel) {
    (true, Some(f)) => {
      let _ = store.set_fuel(f);
    }
    (true, None) => {
      return Err(Failure::Setup(error::CONFIG, "this module's engine counts fuel (consumeFuel): pass { fuel } to say how much the command may use".into()))
    }
    (false, Some(_)) => return Err(Failure::Setup(error::CONFIG, "fuel was given, but this module's engine does not count it: make the engine with { consumeFuel: true }".into())),
    (false, None) => {}
  }
  if epochs {
    store.epoch_deadline_callback(|cx| {
      if cx.data().run.must_stop() {
        return Err(wasmtime::Trap::Interrupt.into());
      }
      Ok(wasmtime::UpdateDeadline::Continue(1))
    });
    store.set_epoch_deadline(1);
  }
  let mut linker: wasmtime::Linker<RunData> = wasmtime::Linker::new(engine);
  add_to_linker(&mut linker, false)
    .map_err(|e| Failure::Setup(error::LINK, format!("cannot define WASI: {}", error::chain(&e))))?;
  let instance = linker
    .instantiate(&mut store, module)
    .map_err(|e| match e.downcast_ref::<wasmtime::Trap>() {
      Some(_) => Failure::Wasm(e),
      None => Failure::Setup(error::INSTANTIATE, format!("instantiation failed: {}", error::chain(&e))),
    })?;
  let start = instance
    .get_typed_func::<(), ()>(&mut store, "_start")
    .map_err(|_| match instance.get_func(&mut store, "_start") {
      None => Failure::Setup(error::WASI, "this module has no _start export: it is not a WASI command".into()),
      Some(_) => Failure::Setup(error::WASI, "this module's _start takes or returns values: a WASI command's _start takes and returns nothing".into()),
    })?;
  match start.call(&mut store, ()) {
    Ok(()) => Ok(0),
    Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
      Some(exit) => Ok(exit.0),
      None => Err(Failure::Wasm(e)),
    },
  }
}
