//! Page-aligned memory that the package owns, lent to JavaScript as an
//! external `ArrayBuffer` until `Module.deserializeRaw` takes it back.
//!
//! Code loaded raw must not change, move or vanish while it runs, whatever
//! JavaScript does. An ArrayBuffer that V8 allocated can be written, detached
//! by `transfer()` or a BYOB stream read, resized, or freed with its worker.
//! So the package allocates the bytes itself (`mmap` / `VirtualAlloc`, page
//! aligned, whole pages) and hands JavaScript an external ArrayBuffer over
//! them. `deserializeRaw` accepts only such a region, and detaches the
//! ArrayBuffer once the module is loaded: every view the caller held reads as
//! empty from then on, exactly as after a transfer, and the bytes belong to
//! the module alone ([`Region`] is dropped after the last module clone).
//!
//! A region is mapped until both the ArrayBuffer's backing store and every
//! module over it are gone, so a view moved elsewhere by JavaScript before the
//! load (a BYOB read) still points at mapped memory.

use crate::error::{self, throw, Kind};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Whole pages of the package's own memory.
pub(crate) struct Region {
  ptr: NonNull<u8>,
  /// Bytes JavaScript sees.
  len: usize,
  /// Bytes mapped (`len` rounded up to pages, at least one page).
  mapped: usize,
  /// For a region whose pages `Staged` moved here: the region they came
  /// from, kept mapped (no longer sharing a page with this one) while this
  /// one lives. See `Staged`.
  _origin: Option<Arc<Region>>,
  /// `deserializeRaw` detached the ArrayBuffer lent over this region while it
  /// was attached on its own thread, so no other thread can hold its backing
  /// store (see `release_lend`).
  taken_over: std::sync::atomic::AtomicBool,
}

// SAFETY: a region is plain memory with no thread affinity; who may write it
// is governed by the ArrayBuffer lent to JavaScript (its thread) and, after
// `deserializeRaw`, by nobody (it is code).
unsafe impl Send for Region {}
// SAFETY: as for `Send`; `Region`'s only interior mutability is the atomic
// `taken_over`.
unsafe impl Sync for Region {}

/// Live regions by start address, so `deserializeRaw` can tell the package's
/// memory from any other ArrayBuffer.
static REGIONS: Mutex<BTreeMap<usize, Weak<Region>>> = Mutex::new(BTreeMap::new());

impl Region {
  /// Maps `len` zeroed bytes (whole pages). Fails cleanly, never aborts.
  pub(crate) fn new(len: usize) -> std::io::Result<Arc<Region>> {
    let page = crate::code_memory::page_size();
    let mapped = len.max(1).checked_next_multiple_of(page).ok_or(std::io::ErrorKind::OutOfMemory)?;
    let ptr = map(mapped)?;
    Ok(Region::register(ptr, len, mapped))
  }

  /// Maps `file` privately, copy-on-write: its pages come from the page
  /// cache when first touched, with no read and no copy, and writes through
  /// the mapping stay in this process. Unlike a copy, the mapping sees the
  /// file: it must not be changed in place or truncated while the region
  /// lives (a truncation makes access fault), as for wasmtime's
  /// `Module::deserialize_file`. Replace artifacts by renaming a new file over
  /// the old one.
  #[cfg(unix)]
  pub(crate) fn map_file(file: &std::fs::File) -> std::io::Result<Arc<Region>> {
    use std::os::fd::AsRawFd;
    let meta = file.metadata()?;
    if !meta.is_file() {
      return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let len = usize::try_from(meta.len()).map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    if len == 0 {
      return Region::new(0);
    }
    let page = crate::code_memory::page_size();
    let mapped = len.checked_next_multiple_of(page).ok_or(std::io::ErrorKind::OutOfMemory)?;
    // SAFETY: a fresh private mapping of an open file; no existing memory is
    // touched. Pages past the end of the file are only the tail of the last
    // one, which reads as zeros.
    let p = unsafe { libc::mmap(ptr::null_mut(), mapped, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
    if p == libc::MAP_FAILED {
      return Err(std::io::Error::last_os_error());
    }
    let ptr = NonNull::new(p.cast()).ok_or(std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    Ok(Region::register(ptr, len, mapped))
  }

  #[cfg(not(unix))]
  pub(crate) fn map_file(_file: &std::fs::File) -> std::io::Result<Arc<Region>> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "mapping artifacts is implemented on Unix hosts only; read them without { map: true }"))
  }

  /// Called by `deserializeRaw` once it has detached the attached ArrayBuffer
  /// lent over this region, on the region's own thread.
  pub(crate) fn mark_taken_over(&self) {
    self.taken_over.store(true, std::sync::atomic::Ordering::Release);
  }

  fn register(ptr: NonNull<u8>, len: usize, mapped: usize) -> Arc<Region> {
    let region = Arc::new(Region { ptr, len, mapped, _origin: None, taken_over: Default::default() });
    REGIONS.lock().unwrap_or_else(PoisonError::into_inner).insert(ptr.as_ptr() as usize, Arc::downgrade(&region));
    region
  }

  /// The region that starts at `addr` and is `len` bytes long, if it is live.
  pub(crate) fn find(addr: usize, len: usize) -> Option<Arc<Region>> {
    let regions = REGIONS.lock().unwrap_or_else(PoisonError::into_inner);
    regions.get(&addr)?.upgrade().filter(|r| r.len == len)
  }

  pub(crate) fn start(&self) -> *mut u8 {
    self.ptr.as_ptr()
  }

  pub(crate) fn len(&self) -> usize {
    self.len
  }
}

impl Drop for Region {
  fn drop(&mut self) {
    let addr = self.ptr.as_ptr() as usize;
    {
      let mut regions = REGIONS.lock().unwrap_or_else(PoisonError::into_inner);
      // Unregister before unmapping, so no lookup can return a region whose
      // memory is gone; keep an entry that a newer region at this address made.
      if regions.get(&addr).is_some_and(|w| w.strong_count() == 0) {
        regions.remove(&addr);
      }
    }
    // SAFETY: the mapping this region was made with (`Region::new`,
    // `map_file` or `Staged::keep`), exactly `mapped` bytes, unmapped once,
    // here. Nothing runs code from it any more: modules hold the region until
    // wasmtime has unpublished and deregistered their code, and the
    // ArrayBuffer lent to JavaScript holds it until its backing store was
    // released (or for good, see `release_lend`).
    unsafe { unmap(self.ptr, self.mapped) };
  }
}

/// A region's pages moved to fresh addresses for `Module.deserializeRaw`,
/// with fresh pages left at the old ones (Linux: one `mremap` with
/// `MREMAP_DONTUNMAP`, which moves page-table entries and copies nothing).
/// The fresh pages read as zeros for the package's anonymous memory, and as
/// the file again for a mapped file (private, so a write copies the page):
/// either way they share nothing with the moved pages.
///
/// Why: JavaScript may have started a write into the buffer that is still
/// running when the load takes the buffer over, and detaching the ArrayBuffer
/// does not stop it: an `fs.read` or a socket read pending on a pipe, a
/// `crypto.randomFill` on libuv's thread pool. At the old addresses such a
/// write lands in fresh pages that nothing reads; the module's bytes are
/// elsewhere. The old addresses stay mapped as long as the moved region
/// lives, so a write that finishes while the module is loaded cannot fault
/// either.
///
/// Dropped before `keep`, it moves the pages back (a failed load leaves the
/// caller's buffer as it was).
#[cfg(target_os = "linux")]
pub(crate) struct Staged {
  to: NonNull<u8>,
  from: Arc<Region>,
  kept: bool,
}

#[cfg(target_os = "linux")]
impl Staged {
  /// Moves `from`'s pages, or says why it could not (a kernel before 5.7, or
  /// before 5.13 for a file mapping, refuses `MREMAP_DONTUNMAP`); the pages
  /// are then where they were.
  pub(crate) fn new(from: &Arc<Region>) -> std::io::Result<Staged> {
    let align = if from.mapped >= HUGE { HUGE } else { crate::code_memory::page_size() };
    let to = reserve(from.mapped, align, libc::PROT_NONE)?;
    // SAFETY: `from` is a live mapping of ours of `from.mapped` bytes, and
    // `to` a reservation of ours of as many, made just now, which
    // MREMAP_FIXED replaces. The pages change address only: no JavaScript
    // runs during this call, and the ArrayBuffer lent over `from` is
    // detached before the load returns, so none of its views sees them
    // again. Every access through the old addresses finds the fresh pages
    // MREMAP_DONTUNMAP leaves, which share nothing with the moved ones.
    let p = unsafe {
      libc::mremap(
        from.start().cast(),
        from.mapped,
        from.mapped,
        libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP,
        to.as_ptr().cast::<libc::c_void>(),
      )
    };
    if p == libc::MAP_FAILED {
      let e = std::io::Error::last_os_error();
      // SAFETY: the reservation made above, which the failed call left alone.
      unsafe { unmap(to, from.mapped) };
      return Err(e);
    }
    Ok(Staged { to, from: from.clone(), kept: false })
  }

  /// Where `at`, an address inside the old region, now is.
  pub(crate) fn moved(&self, at: *mut u8) -> *mut u8 {
    self.to.as_ptr().wrapping_add(at as usize - self.from.start() as usize)
  }

  /// The region that holds the moved pages from now on.
  pub(crate) fn keep(mut self) -> Arc<Region> {
    self.kept = true;
    Arc::new(Region { ptr: self.to, len: self.from.len, mapped: self.from.mapped, _origin: Some(self.from.clone()), taken_over: Default::default() })
  }
}

#[cfg(target_os = "linux")]
impl Drop for Staged {
  fn drop(&mut self) {
    if self.kept {
      return;
    }
    // SAFETY: `to` holds the pages moved out of `from`, which nothing
    // loaded from any more (the load failed, and wasmtime unpublished and
    // deregistered what it had set up). MREMAP_FIXED puts them back over the
    // fresh pages at the old addresses, and unmaps `to`.
    let p = unsafe {
      libc::mremap(self.to.as_ptr().cast(), self.from.mapped, self.from.mapped, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, self.from.start().cast::<libc::c_void>())
    };
    if p == libc::MAP_FAILED {
      // The bytes stay lost to the caller's buffer (which reads as zeros, or
      // as the file again); do not leak the mapping.
      // SAFETY: `to` is still ours, mapped, and used by nothing.
      unsafe { unmap(self.to, self.from.mapped) };
    }
  }
}

/// Maps `len` bytes (whole pages) with `prot`, starting on a multiple of
/// `align` (a power of two, at least a page).
#[cfg(target_os = "linux")]
fn reserve(len: usize, align: usize, prot: libc::c_int) -> std::io::Result<NonNull<u8>> {
  let total = len.checked_add(align - crate::code_memory::page_size()).ok_or(std::io::ErrorKind::OutOfMemory)?;
  // An inaccessible reservation commits no memory; a writable one is
  // accounted, so that an impossible size fails here rather than on a touch.
  let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | if prot == libc::PROT_NONE { libc::MAP_NORESERVE } else { 0 };
  // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
  let p = unsafe { libc::mmap(ptr::null_mut(), total, prot, flags, -1, 0) };
  if p == libc::MAP_FAILED {
    return Err(std::io::Error::last_os_error());
  }
  let base = p as usize;
  let start = base.next_multiple_of(align);
  let head = start - base;
  let tail = total - head - len;
  // SAFETY: `head` and `tail` lie inside the mapping just made and outside
  // `start..start + len`, the part kept; all three are whole pages, since
  // `len`, `align` and the mapping's base are. Nothing else uses this fresh
  // mapping yet.
  unsafe {
    if head > 0 {
      libc::munmap(p, head);
    }
    if tail > 0 {
      libc::munmap((start + len) as *mut libc::c_void, tail);
    }
  }
  NonNull::new(start as *mut u8).ok_or(std::io::ErrorKind::OutOfMemory.into())
}

#[cfg(unix)]
fn map(len: usize) -> std::io::Result<NonNull<u8>> {
  #[cfg(target_os = "linux")]
  if len >= HUGE && huge_pages() {
    return map_huge(len);
  }
  // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
  let p = unsafe {
    libc::mmap(ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
  };
  if p == libc::MAP_FAILED {
    return Err(std::io::Error::last_os_error());
  }
  NonNull::new(p.cast()).ok_or(std::io::ErrorKind::OutOfMemory.into())
}

/// The size of a transparent huge page on x86-64 and arm64 Linux (4 KiB base pages).
#[cfg(target_os = "linux")]
const HUGE: usize = 2 << 20;

/// Whether large regions ask for transparent huge pages: yes, unless the
/// environment says `WASMTIME_NAPI_HUGE_PAGES=0` (read once).
#[cfg(target_os = "linux")]
fn huge_pages() -> bool {
  static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
  *ON.get_or_init(|| std::env::var_os("WASMTIME_NAPI_HUGE_PAGES").is_none_or(|v| v != "0"))
}

/// Maps `len` bytes starting on a 2 MiB boundary and asks for transparent
/// huge pages there (`MADV_HUGEPAGE`, which takes effect where the system's
/// THP mode is `madvise` or `always`). Reading an artifact then faults in 2
/// MiB at a time instead of 4 KiB, and making its `.text` executable changes
/// one entry per 2 MiB instead of 512: yosys's 80 MB read plus load went from
/// 40 to 16 ms here (`npm run bench`). Where the kernel has no huge page at
/// hand it falls back to small pages; nothing else changes.
#[cfg(target_os = "linux")]
fn map_huge(len: usize) -> std::io::Result<NonNull<u8>> {
  let p = reserve(len, HUGE, libc::PROT_READ | libc::PROT_WRITE)?;
  // SAFETY: the mapping just made, `len` bytes. `madvise` is only a hint: its
  // failure (a kernel without THP) leaves ordinary pages.
  unsafe { libc::madvise(p.as_ptr().cast(), len, libc::MADV_HUGEPAGE) };
  Ok(p)
}

#[cfg(unix)]
unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
  // SAFETY: the caller passes a mapping of ours, exactly as mapped.
  unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

#[cfg(windows)]
fn map(len: usize) -> std::io::Result<NonNull<u8>> {
  use windows_sys::Win32::System::Memory::{VirtualAlloc, MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE};
  // SAFETY: a fresh committed allocation; no existing memory is touched.
  let p = unsafe { VirtualAlloc(ptr::null(), len, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE) };
  NonNull::new(p.cast()).ok_or_else(std::io::Error::last_os_error)
}

#[cfg(windows)]
unsafe fn unmap(ptr: NonNull<u8>, _len: usize) {
  use windows_sys::Win32::System::Memory::{VirtualFree, MEM_RELEASE};
  // SAFETY: the caller passes an allocation of ours; MEM_RELEASE takes size 0.
  unsafe { VirtualFree(ptr.as_ptr().cast(), 0, MEM_RELEASE) };
}

#[cfg(not(any(unix, windows)))]
fn map(len: usize) -> std::io::Result<NonNull<u8>> {
  let layout = std::alloc::Layout::from_size_align(len, crate::code_memory::page_size())
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
  // SAFETY: a non-zero layout.
  NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).ok_or(std::io::ErrorKind::OutOfMemory.into())
}

#[cfg(not(any(unix, windows)))]
unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
  // SAFETY: `map` made this allocation with exactly this size and alignment,
  // after `Layout::from_size_align` accepted them; the caller passes it back
  // once, as mapped.
  unsafe { std::alloc::dealloc(ptr.as_ptr(), std::alloc::Layout::from_size_align_unchecked(len, crate::code_memory::page_size())) };
}

/// A new ArrayBuffer of `byteLength` zeroed bytes over page-aligned memory the
/// package owns: the only kind `Module.deserializeRaw` accepts.
#[napi]
pub fn aligned_array_buffer<'env>(env: &'env Env, byte_length: f64) -> Result<Unknown<'env>> {
  let len = crate::val::index(env, byte_length, "alignedBuffer: byteLength")? as usize;
  let region = Region::new(len).map_err(|e| {
    throw(env, Kind::Range, error::OUT_OF_MEMORY, &format!("alignedBuffer: cannot allocate {len} bytes: {e}. Free memory or load a smaller artifact."))
  })?;
  lend(env, region)
}

/// An ArrayBuffer over the file at `path`, mapped privately (`Region::map_file`):
/// `readPrecompiled(path, { map: true })`.
#[napi(catch_unwind)]
pub fn map_file_array_buffer<'env>(env: &'env Env, path: String) -> Result<Unknown<'env>> {
  let region = open_nonblocking(&path)
    .and_then(|f| Region::map_file(&f))
    .map_err(|e| throw(env, Kind::Error, error::IO, &format!("cannot map '{path}': {e}")))?;
  lend(env, region)
}

/// Opens `path` for reading without waiting: a FIFO with no writer would
/// block the JavaScript thread in `open`; `map_file` refuses it after.
fn open_nonblocking(path: &str) -> std::io::Result<std::fs::File> {
  let mut o = std::fs::OpenOptions::new();
  o.read(true);
  #[cfg(unix)]
  std::os::unix::fs::OpenOptionsExt::custom_flags(&mut o, libc::O_NONBLOCK);
  o.open(path)
}

/// Lends `region` to JavaScript as an external ArrayBuffer.
fn lend(env: &Env, region: Arc<Region>) -> Result<Unknown<'_>> {
  let len = region.len();
  let data = region.start();
  // SAFETY: `data` is `len` writable bytes of `region`, which stays mapped
  // while the hold lives.
  match unsafe { lend_external(env.raw(), data, len, region) } {
    // SAFETY: made on `env` in this call.
    Some(ab) => Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), ab) }),
    None => Err(throw(
      env,
      Kind::Range,
      error::OUT_OF_MEMORY,
      &format!("this runtime refused an ArrayBuffer of {len} bytes over native memory (too large for it, or a sandbox such as Electron's); load artifacts with Module.deserialize() or Module.deserializeFile()"),
    )),
  }
}

/// What keeps memory lent to an ArrayBuffer mapped (see `release_lend`).
pub(crate) trait LendHold {
  /// Whether the memory may be freed when the lending thread's environment
  /// goes away while the ArrayBuffer is not yet released.
  fn may_free_at_teardown(&self) -> bool;
}

impl LendHold for Arc<Region> {
  fn may_free_at_teardown(&self) -> bool {
    self.taken_over.load(std::sync::atomic::Ordering::Acquire)
  }
}

unsafe extern "C" fn release_lend<T: LendHold>(env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
  // SAFETY: `hint` is the box made in `lend_external`, finalized once.
  let hold = unsafe { Box::from_raw(hint as *mut T) };
  // Node runs this finalizer once V8 has let go of the ArrayBuffer's backing
  // store, and also when the lending thread's environment goes away (a worker
  // exits) whether or not the backing store is still alive: an ArrayBuffer
  // moved to another thread (`transfer()`, then `postMessage` with a transfer
  // list, on Node 22 and later) may still use it there. Freeing then would
  // leave that thread reading freed memory, or a later tenant's. Nothing
  // tells the two apart at teardown, so then the memory is kept for the life
  // of the process, unless `deserializeRaw` took the buffer over on this
  // thread (it was attached then, so it was never moved).
  if hold.may_free_at_teardown() || crate::store::js_can_run(env) {
    drop(hold);
  } else {
    std::mem::forget(hold);
  }
}

/// A new external ArrayBuffer over `len` bytes at `data`, which `hold` keeps
/// mapped until V8 has let go of the buffer's backing store, wherever it
/// moved (see `release_lend`). `None` if the runtime refused it; `hold` is
/// then left alone, not dropped: whether the finalizer already ran depends
/// on the runtime (Node 20 runs it when the length is over its Buffer limit,
/// and then fails), so dropping it here could drop it twice.
///
/// # Safety
/// `data` must be `len` writable bytes that stay mapped while `hold` lives.
pub(crate) unsafe fn lend_external<T: LendHold + 'static>(env: sys::napi_env, data: *mut u8, len: usize, hold: T) -> Option<sys::napi_value> {
  let hint = Box::into_raw(Box::new(hold));
  let mut ab = ptr::null_mut();
  // SAFETY: `data` is `len` writable bytes (the caller's promise) kept mapped
  // by `hold`, which `release_lend` drops only once V8 has let go of the
  // backing store, or never.
  let status = unsafe { sys::napi_create_external_arraybuffer(env, data.cast(), len, Some(release_lend::<T>), hint.cast(), &mut ab) };
  (status == sys::Status::napi_ok).then_some(ab)
}
