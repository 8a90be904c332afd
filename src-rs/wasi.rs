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
use std::cell::RefCell;
use std::collections::HashMap;
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
  /// argv, including argv[0].
  pub args: Option<Vec<String>>,
  /// Environment variables (none unless given).
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

#[napi]
impl WasiContext {
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, options: Option<WasiOptions>) -> Result<Self> {
    let o = options.unwrap_or_default();
    let mut b = WasiCtxBuilder::new();
    b.allow_blocking_current_thread(true);
    if let Some(args) = &o.args {
      b.args(args);
    }
    if let Some(vars) = &o.env {
      for (k, v) in vars {
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
        throw(&env, Kind::Error, error::WASI, &format!("cannot preopen '{path}' as '{guest}': {}", error::chain(&e)))
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
          &env,
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
          &env,
          Kind::Type,
          error::INVALID_ARGUMENT,
          &format!("{which} must be 'capture', 'inherit' or 'ignore', not '{other}'"),
        )),
      }
    };
    let stdout = pipe(o.stdout.as_deref(), "stdout")?;
    let stderr = pipe(o.stderr.as_deref(), "stderr")?;
    match (&stdout, o.stdout.as_deref()) {
      (Some(p), _) => b.stdout(p.clone()),
      (None, Some("inherit")) => b.inherit_stdout(),
      _ => &mut b,
    };
    match (&stderr, o.stderr.as_deref()) {
      (Some(p), _) => b.stderr(p.clone()),
      (None, Some("inherit")) => b.inherit_stderr(),
      _ => &mut b,
    };
    Ok(WasiContext { built: RefCell::new(Some(b.build_p1())), stdout, stderr })
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
