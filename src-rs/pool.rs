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
pub(crate) struct Pool {
  jobs: Mutex<Sender<Job>>,
  size: usize,
}

/// Most threads a pool may have, whatever `WASMTIME_NAPI_THREADS` or
/// `asyncThreads` say: each takes a stack and a kernel thread, and a process
/// out of threads aborts the next time libuv needs one.
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
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n {
      let rx: Arc<Mutex<Receiver<Job>>> = rx.clone();
      // A thread that cannot be made leaves the pool smaller; jobs still run
      // as long as one exists (the first is made before any job is queued).
      let _ = std::thread::Builder::new().name(format!("wasmtime-napi-{i}")).stack_size(STACK).spawn(move || loop {
        let job = match rx.lock() {
          Ok(rx) => rx.recv(),
          Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else { return };
        // A panic inside a job is reported by the job itself (it catches its
        // own); this only keeps the thread alive if one slips through.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
      });
    }
    Arc::new(Pool { jobs: Mutex::new(tx), size: n })
  }

  /// How many threads run this pool's jobs at once.
  pub(crate) fn size(&self) -> usize {
    self.size
  }

  /// Runs `job` on one of this pool's threads, after the jobs queued before it.
  pub(crate) fn spawn(&self, job: impl FnOnce() + Send + 'static) -> Result<(), String> {
    let tx = self.jobs.lock().map_err(|_| "the thread pool is unusable after a panic".to_string())?;
    tx.send(Box::new(job)).map_err(|_| "the thread pool has no threads".to_string())
  }
}
