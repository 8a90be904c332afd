//! The package's [`wasmtime::CustomCodeMemory`]: makes `.text` executable with
//! `mprotect`, so that code can run from memory wasmtime does not own (a Node
//! buffer handed to `Module.deserializeRaw`).
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/trait.CustomCodeMemory.html>
//!
//! Every engine the package creates installs it: wasmtime calls it for compiled
//! and copied modules too, which is harmless (their pages are wasmtime's own).

use std::sync::Arc;

pub(crate) struct MprotectCodeMemory {
  page_size: usize,
}

pub(crate) fn page_size() -> usize {
  // SAFETY: sysconf has no preconditions.
  #[cfg(unix)]
  let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
  #[cfg(windows)]
  let size = {
    // SAFETY: SYSTEM_INFO is plain data, valid when zeroed; GetSystemInfo
    // fills the struct it is given.
    let info = unsafe {
      let mut info = std::mem::zeroed::<windows_sys::Win32::System::SystemInformation::SYSTEM_INFO>();
      windows_sys::Win32::System::SystemInformation::GetSystemInfo(&mut info);
      info
    };
    info.dwPageSize as usize
  };
  #[cfg(not(any(unix, windows)))]
  let size = 4096usize;
  if size.is_power_of_two() { size } else { 4096 }
}

/// Changes the protection of `len` bytes at `ptr`: read+exec, or read+write.
///
/// # Safety
/// The range must be whole pages that the caller owns (see the callers).
unsafe fn protect(ptr: *const u8, len: usize, exec: bool) -> std::io::Result<()> {
  #[cfg(unix)]
  {
    let prot = if exec { libc::PROT_READ | libc::PROT_EXEC } else { libc::PROT_READ | libc::PROT_WRITE };
    // SAFETY: the caller's contract.
    if unsafe { libc::mprotect(ptr as *mut libc::c_void, len, prot) } != 0 {
      return Err(std::io::Error::last_os_error());
    }
    Ok(())
  }
  #[cfg(windows)]
  {
    use windows_sys::Win32::System::Memory::{VirtualProtect, PAGE_EXECUTE_READ, PAGE_READWRITE};
    let mut old = 0;
    let prot = if exec { PAGE_EXECUTE_READ } else { PAGE_READWRITE };
    // SAFETY: the caller's contract.
    if unsafe { VirtualProtect(ptr as *const core::ffi::c_void, len, prot, &mut old) } == 0 {
      return Err(std::io::Error::last_os_error());
    }
    if exec {
      use windows_sys::Win32::System::Diagnostics::Debug::FlushInstructionCache;
      use windows_sys::Win32::System::Threading::GetCurrentProcess;
      // SAFETY: flushing the instruction cache for our own range.
      unsafe { FlushInstructionCache(GetCurrentProcess(), ptr as *const core::ffi::c_void, len) };
    }
    Ok(())
  }
  #[cfg(not(any(unix, windows)))]
  {
    let _ = (ptr, len, exec);
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no page protection on this platform; use a Pulley engine"))
  }
}

pub(crate) fn shared() -> Arc<dyn wasmtime::CustomCodeMemory> {
  static ONE: std::sync::OnceLock<Arc<MprotectCodeMemory>> = std::sync::OnceLock::new();
  ONE.get_or_init(|| Arc::new(MprotectCodeMemory { page_size: page_size() })).clone()
}

impl wasmtime::CustomCodeMemory for MprotectCodeMemory {
  fn required_alignment(&self) -> usize {
    self.page_size
  }

  fn publish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
    if len == 0 {
      return Ok(());
    }
    // SAFETY: wasmtime passes the page-aligned `.text` range of a CodeMemory it
    // holds (it asserts the alignment before calling). For raw-loaded modules
    // the range lies inside a buffer whose pages belong to that buffer alone:
    // `Module.deserializeRaw` refuses unaligned and shared buffers, and `.text`
    // is page-padded inside the artifact, so no page outside the buffer is
    // touched. The buffer is pinned by `RawCode` until after wasmtime calls
    // `unpublish_executable`.
    if let Err(err) = unsafe { protect(ptr, len, true) } {
      wasmtime::bail!("making {len} bytes of code executable failed: {err}");
    }
    #[cfg(target_arch = "aarch64")]
    {
      // SAFETY: the range was just made executable and is valid for `len`.
      unsafe { wasmtime_internal_jit_icache_coherence::clear_cache(ptr.cast(), len) }
        .map_err(|e| wasmtime::format_err!("icache clear failed: {e}"))?;
      wasmtime_internal_jit_icache_coherence::pipeline_flush_mt()
        .map_err(|e| wasmtime::format_err!("pipeline flush failed: {e}"))?;
    }
    Ok(())
  }

  fn unpublish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
    // wasmtime calls this from `Drop` and aborts the process on an error, so
    // this never fails. It is called with `len == 0` and an unaligned pointer
    // for an empty `.text`: nothing was published then.
    if len == 0 || (ptr as usize) % self.page_size != 0 {
      return Ok(());
    }
    // SAFETY: the same range that `publish_executable` made read+exec; wasmtime
    // guarantees no code runs from it any more. The bytes are still pinned.
    // A failure is ignored: there is nothing better to do in a destructor.
    let _ = unsafe { protect(ptr, len, false) };
    Ok(())
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::alloc::{alloc_zeroed, dealloc, Layout};
  use wasmtime::CustomCodeMemory;

  const WAT: &str = r#"(module (memory (export "memory") 1) (data (i32.const 8) "abc")
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

  fn engine() -> wasmtime::Engine {
    let mut config = wasmtime::Config::new();
    config.with_custom_code_memory(Some(shared()));
    wasmtime::Engine::new(&config).unwrap()
  }

  #[test]
  fn unpublish_never_fails_on_empty_or_unaligned_text() {
    let mem = MprotectCodeMemory { page_size: page_size() };
    assert!(mem.unpublish_executable(std::ptr::null(), 0).is_ok());
    assert!(mem.unpublish_executable(3 as *const u8, 0).is_ok());
    assert!(mem.unpublish_executable(3 as *const u8, 4096).is_ok());
  }

  /// Raw loading into a page-aligned allocation runs code in place, and the
  /// pages are writable again once the module is gone (else the final write
  /// would fault and the test process would die).
  #[test]
  fn raw_load_runs_in_place_and_unpublishes() {
    let engine = engine();
    let artifact = engine.precompile_module(WAT.as_bytes()).unwrap();
    let layout = Layout::from_size_align(artifact.len(), page_size()).unwrap();
    // SAFETY: the layout has a non-zero size; freed below with the same layout.
    let base = unsafe { alloc_zeroed(layout) };
    assert!(!base.is_null());
    // SAFETY: `base` holds `artifact.len()` writable bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut(base, artifact.len()) };
    bytes.copy_from_slice(&artifact);
    {
      let memory = std::ptr::NonNull::slice_from_raw_parts(std::ptr::NonNull::new(base).unwrap(), artifact.len());
      // SAFETY: a trusted artifact from this engine; the allocation outlives
      // the module and every store (both dropped at the end of this block).
      let module = unsafe { wasmtime::Module::deserialize_raw(&engine, memory) }.unwrap();
      let range = module.image_range();
      assert!(range.start as usize >= base as usize);
      assert!(range.end as usize <= base as usize + artifact.len());
      let mut store = wasmtime::Store::new(&engine, ());
      let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
      let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
      assert_eq!(add.call(&mut store, (40, 2)).unwrap(), 42);
      let mem = instance.get_memory(&mut store, "memory").unwrap();
      assert_eq!(&mem.data(&store)[8..11], b"abc");
    }
    // SAFETY: the module and store are dropped; the pages are ours again.
    unsafe {
      std::ptr::write_bytes(base, 0, artifact.len());
      dealloc(base, layout);
    }
  }
}
