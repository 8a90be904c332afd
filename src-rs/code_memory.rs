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
  #[cfg(not(unix))]
  let size = 4096usize;
  if size.is_power_of_two() { size } else { 4096 }
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
    #[cfg(unix)]
    unsafe {
      if libc::mprotect(ptr as *mut libc::c_void, len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
        let err = std::io::Error::last_os_error();
        wasmtime::bail!("mprotect(read+exec) of {len} bytes of code failed: {err}");
      }
    }
    #[cfg(not(unix))]
    wasmtime::bail!("executable code memory is not implemented on this platform yet; use a Pulley engine");
    #[cfg(target_arch = "aarch64")]
    {
      // SAFETY: the range was just made executable and is valid for `len`.
      unsafe { wasmtime_internal_jit_icache_coherence::clear_cache(ptr.cast(), len) }
        .map_err(|e| wasmtime::format_err!("icache clear failed: {e}"))?;
      wasmtime_internal_jit_icache_coherence::pipeline_flush_mt()
        .map_err(|e| wasmtime::format_err!("pipeline flush failed: {e}"))?;
    }
    #[allow(unreachable_code)]
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
    #[cfg(unix)]
    unsafe {
      libc::mprotect(ptr as *mut libc::c_void, len, libc::PROT_READ | libc::PROT_WRITE);
    }
    Ok(())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn unpublish_never_fails_on_empty_or_unaligned_text() {
    let mem = MprotectCodeMemory { page_size: page_size() };
    use wasmtime::CustomCodeMemory;
    assert!(mem.unpublish_executable(std::ptr::null(), 0).is_ok());
    assert!(mem.unpublish_executable(3 as *const u8, 0).is_ok());
  }
}
