//! Native threads that run wasm off the JavaScript thread.
//!
//! A fixed pool (one thread per core, by default), not libuv's: a long guest
//! on libuv's four threads would stall every `fs` and `crypto` call of the
//! process. Jobs beyond the pool's size wait their turn in order. Engines made
//! with `asyncThreads` have a pool of their own; all others share one.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

/// Native stack of a pool thread: room for the engine's wasm stack budget
/// (at most 512 KiB by default) many times over, and for WASI host calls.
/// Calls made with `callAsync` run on fiber stacks of their engine's
/// `asyncStackSize` instead.
const STACK: usize = 8 << 20;

/// A set of threads taking jobs from one queue. The threads end once the
/// pool is dropped and the queue is empty.
///
/// A job that waits for JavaScript (a host function called by `callAsync`,
/// whose Promise may itself wait for other jobs) says so with [`blocking`];
/// when every thread of the pool is waiting so, the pool adds a thread, so
/// queued jobs still run, and sheds it again once it is surplus.
pub(crate) struct Pool {
  jobs: Mutex<Sender<Job>>,
  inner: Arc<Inner>,
}

/// What the threads of a pool share (not the sender: when the `Pool` goes,
/// the queue closes and the threads end).
struct Inner {
  rx: Mutex<Receiver<Job>>,
  /// Threads running, and how many of them wait in `blocking`.
  counts: Mutex<(usize, usize)>,
  size: usize,
}

thread_local! {
  /// The pool this thread belongs to, if it is a pool thread.
  static CURRENT: std::cell::RefCell<Option<Arc<Inner>>> = const { std::cell::RefCell::new(None) };
}

/// How long a surplus thread idles before it ends.
const IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Most threads a pool may have, whatever `WASMTIME_NAPI_THREADS`,
/// `asyncThreads` or blocked jobs ask: each takes a stack and a kernel thread,
/// and a process out of threads aborts the next time libuv needs one.
pub(crate) const MAX_THREADS: usize = 256;

/// How many threads the shared pool has (or will have):
/// `WASMTIME_NAPI_THREADS` (at most 256), or one per core.
pub(crate) fn size() -> usize {
  static SIZE: OnceLock<usize> = OnceLock::new();
  *SIZE.get_or_init(|| {
    std::env::var("WASMTIME_NAPI_THREADS")
      .ok()
      .and_then(|v| v.parse::<usize>().ok())
      .filter(|n| *n > 0)
      .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
      .min(MAX_THREADS)
  })
}

/// The pool shared by every engine without `asyncThreads`, made on first use.
pub(crate) fn shared() -> Arc<Pool> {
  static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
  POOL.get_or_init(|| Pool::new(size())).clone()
}

impl Pool {
  /// A pool of `n` threads (1 to `MAX_THREADS`; the caller checks).
  pub(crate) fn new(n: usize) -> Arc<Pool> {
    let (tx, rx) = channel::<Job>();
    let inner = Arc::new(Inner { rx: Mutex::new(rx), counts: Mutex::new((0, 0)), size: n });
    for _ in 0..n {
      inner.add_thread();
    }
    Arc::new(Pool { jobs: Mutex::new(tx), inner })
  }

  /// How many threads run this pool's jobs at once (when none is blocked).
  pub(crate) fn size(&self) -> usize {
    self.inner.size
  }

  /// Runs `job` on one of this pool's threads, after the jobs queued before it.
  pub(crate) fn spawn(&self, job: impl FnOnce() + Send + 'static) -> Result<(), String> {
    // The queue outlives the threads (`Inner` keeps its receiver), so a job
    // sent to a pool none of whose threads could start would wait forever.
    let none = self.inner.counts().0 == 0;
    if none && !self.inner.add_thread() {
      return Err("the thread pool has no threads (the system refused to start one)".to_string());
    }
    let tx = self.jobs.lock().map_err(|_| "the thread pool is unusable after a panic".to_string())?;
    // Cannot fail while `Inner` (held here) keeps the receiver.
    tx.send(Box::new(job)).map_err(|_| "the thread pool's queue is closed".to_string())
  }
}

impl Inner {
  fn counts(&self) -> std::sync::MutexGuard<'_, (usize, usize)> {
    self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
  }

  /// Starts one more thread, and says whether it could. A thread that cannot
  /// be made leaves the pool smaller; jobs still run as long as one exists.
  fn add_thread(self: &Arc<Self>) -> bool {
    let inner = self.clone();
    let mut counts = self.counts();
    let n = counts.0;
    let spawned = std::thread::Builder::new().name(format!("wasmtime-napi-{n}")).stack_size(STACK).spawn(move || {
      CURRENT.with(|c| *c.borrow_mut() = Some(inner.clone()));
      inner.work();
    });
    if spawned.is_ok() {
      counts.0 += 1;
    }
    spawned.is_ok()
  }

  fn work(&self) {
    loop {
      let job = match self.rx.lock() {
        Ok(rx) => rx.recv_timeout(IDLE),
        Err(poisoned) => poisoned.into_inner().recv_timeout(IDLE),
      };
      match job {
        // A panic inside a job is reported by the job itself (it catches its
        // own); this only keeps the thread alive if one slips through.
        Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
      }
      // Surplus: more threads free to run jobs than the pool's size.
      let mut counts = self.counts();
      if counts.0 - counts.1 > self.size {
        counts.0 -= 1;
        return;
      }
    }
    self.counts().0 -= 1;
  }
}

/// Runs `wait` (which blocks the thread until JavaScript answers) on a pool
/// thread as a blocked job: if no other thread of the pool is left to run
/// queued jobs, one is added first (up to `MAX_THREADS`). Elsewhere it just
/// runs `wait`.
pub(crate) fn blocking<R>(wait: impl FnOnce() -> R) -> R {
  let Some(inner) = CURRENT.with(|c| c.borrow().clone()) else { return wait() };
  let grow = {
    let mut counts = inner.counts();
    counts.1 += 1;
    counts.0 <= counts.1 && counts.0 < MAX_THREADS
  };
  if grow {
    inner.add_thread();
  }
  let r = wait();
  inner.counts().1 -= 1;
  r
}

/// The way back from pool threads to one JavaScript thread: a thread-safe
/// function whose `call_js` takes boxed `T`s.
///
/// `closed` is set when the environment is torn down (by the owner's cleanup
/// hook, `close`), or when this channel released the thread-safe function:
/// from then on it is not touched (Node 20 frees it at teardown even while a
/// thread holds it). It is held while calling or releasing the function, so
/// teardown, and the delivery of a last message, wait for that.
pub(crate) struct JsChannel<T> {
  tsfn: napi::sys::napi_threadsafe_function,
  closed: Mutex<bool>,
  _items: std::marker::PhantomData<fn(T)>,
}

// SAFETY: a thread-safe function is made to be called from any thread
// (`napi_call_threadsafe_function`); it is released once (`finish`), and never
// touched after the environment's teardown (`closed`). The items it carries
// cross threads, hence `T: Send`, which the compiler keeps.
unsafe impl<T: Send> Send for JsChannel<T> {}
// SAFETY: as above; calls from several threads at once are allowed by N-API.
unsafe impl<T: Send> Sync for JsChannel<T> {}

impl<T: Send> JsChannel<T> {
  /// A channel to `callback` (or none) on `env`'s thread; `call_js` receives
  /// each item as a `Box<T>` (and a null env when the environment is gone).
  pub(crate) fn new(
    env: &napi::Env,
    name: &std::ffi::CStr,
    callback: napi::sys::napi_value,
    call_js: napi::sys::napi_threadsafe_function_call_js,
  ) -> Option<JsChannel<T>> {
    let raw = env.raw();
    let mut tsfn = std::ptr::null_mut();
    let mut js_name = std::ptr::null_mut();
    // SAFETY: values of the current call's env; `callback` is a function or null.
    let status = unsafe {
      napi::sys::napi_create_string_utf8(raw, name.as_ptr(), name.to_bytes().len() as isize, &mut js_name);
      napi::sys::napi_create_threadsafe_function(
        raw,
        callback,
        std::ptr::null_mut(),
        js_name,
        0,
        1,
        std::ptr::null_mut(),
        None,
        std::ptr::null_mut(),
        call_js,
        &mut tsfn,
      )
    };
    (status == napi::sys::Status::napi_ok).then(|| JsChannel { tsfn, closed: Mutex::new(false), _items: std::marker::PhantomData })
  }

  /// Queues `item` for the JavaScript thread; false when closed.
  pub(crate) fn send(&self, item: T) -> bool {
    let closed = self.closed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    self.send_locked(&closed, item)
  }

  fn send_locked(&self, closed: &bool, item: T) -> bool {
    if *closed {
      return false;
    }
    let data = Box::into_raw(Box::new(item));
    // SAFETY: our live thread-safe function; on failure the box was not
    // queued and is reclaimed here.
    let status = unsafe { napi::sys::napi_call_threadsafe_function(self.tsfn, data.cast(), napi::sys::ThreadsafeFunctionCallMode::nonblocking) };
    if status != napi::sys::Status::napi_ok {
      // SAFETY: not queued, so still ours.
      drop(unsafe { Box::from_raw(data) });
      return false;
    }
    true
  }

  /// Queues the last item, if any, and releases the thread-safe function, so
  /// it no longer keeps the event loop alive (its queue is still delivered).
  /// Nothing is sent after this. One critical section for both: the delivery
  /// of the last item takes this lock (`wait_for_release`) before its owner
  /// removes the teardown hook, so the hook can only go once the function is
  /// released (else a teardown in between would free it under us).
  pub(crate) fn finish(&self, last: Option<T>) {
    let mut closed = self.closed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(item) = last {
      self.send_locked(&closed, item);
    }
    self.release(&mut closed);
  }

  /// The environment is being torn down: never touch the function again.
  pub(crate) fn close(&self) {
    *self.closed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
  }

  /// Waits until a `finish` in progress has released the function.
  pub(crate) fn wait_for_release(&self) {
    drop(self.closed.lock());
  }
}

impl<T> JsChannel<T> {
  fn release(&self, closed: &mut bool) {
    if !*closed {
      *closed = true;
      // SAFETY: the one release of the thread count this channel acquired,
      // while the environment lives (`closed` is set at teardown).
      unsafe { napi::sys::napi_release_threadsafe_function(self.tsfn, napi::sys::ThreadsafeFunctionReleaseMode::release) };
    }
  }
}

impl<T> Drop for JsChannel<T> {
  fn drop(&mut self) {
    let mut closed = self.closed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    self.release(&mut closed);
  }
}
