//! What a precompiled artifact says about itself, read without loading it.
//!
//! wasmtime writes an ELF file whose `.wasmtime.engine` section holds the
//! wasmtime version and the compile settings (target, Cranelift shared and ISA
//! flags) as postcard data. The kind comes from wasmtime itself,
//! [`Engine::detect_precompiled`]; the ELF from the `object` crate.
//!
//! <https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html#method.detect_precompiled>

use crate::error::{self, throw, Kind};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use object::read::elf::{ElfFile64, FileHeader};
use object::{Endianness, Object, ObjectSection};
use serde::Deserialize;
use std::collections::HashMap;

/// One ELF section: name and size in bytes.
#[napi(object)]
pub struct ArtifactSection {
  pub name: String,
  pub size: f64,
}

/// What `inspectArtifact` returns.
#[napi(object)]
pub struct ArtifactInfo {
  /// `'module'` or `'component'` ([`Engine::detect_precompiled`]); `'unknown'`
  /// for an ELF file with an engine section that wasmtime does not call either.
  #[napi(ts_type = "'module' | 'component' | 'unknown'")]
  pub kind: String,
  /// The wasmtime version that made it, as wasmtime records it: the major
  /// version (`"48"`); artifacts load only in that version.
  pub wasmtime_version: String,
  /// Target triple, e.g. `x86_64-unknown-linux-gnu`, `aarch64-unknown-linux-gnu`, `pulley64`.
  pub target: String,
  /// ELF machine number (62 x86_64, 183 aarch64, 243 riscv, 22 s390x).
  pub machine: u32,
  /// Cranelift settings the code was compiled with.
  pub shared_flags: HashMap<String, Either3<String, u32, bool>>,
  /// ISA (CPU feature) flags the code was compiled for.
  pub isa_flags: HashMap<String, Either3<String, u32, bool>>,
  pub sections: Vec<ArtifactSection>,
}

/// wasmtime's `FlagValue`, as postcard encodes it (variant index, then value).
#[derive(Deserialize)]
enum FlagValue<'a> {
  Enum(&'a str),
  Num(u8),
  Bool(bool),
}

/// The leading fields of wasmtime's engine `Metadata` (the rest is not read).
#[derive(Deserialize)]
struct Metadata<'a> {
  target: &'a str,
  #[serde(borrow)]
  shared_flags: Vec<(&'a str, FlagValue<'a>)>,
  #[serde(borrow)]
  isa_flags: Vec<(&'a str, FlagValue<'a>)>,
}

/// The version byte of the engine section wasmtime 48 writes.
const ENGINE_SECTION_FORMAT: u8 = 0;

/// Reads `bytes` as a wasmtime artifact, or says why it is not one.
fn inspect(bytes: &[u8]) -> std::result::Result<ArtifactInfo, String> {
  if bytes.starts_with(b"\0asm") {
    return Err("this is a WebAssembly module, not a precompiled artifact: compile it first (`engine.precompileModule()` or `wasmtime-napi compile`)".into());
  }
  if !bytes.starts_with(b"\x7fELF") {
    return Err("not a wasmtime artifact (no ELF header)".into());
  }
  let elf = ElfFile64::<Endianness>::parse(bytes).map_err(|e| format!("not a wasmtime artifact (not a 64-bit ELF file: {e})"))?;
  let header = elf.elf_header();
  let machine = header.e_machine(elf.endian()) as u32;
  let engine = elf
    .section_by_name(".wasmtime.engine")
    .ok_or("not a wasmtime artifact (no .wasmtime.engine section)")?
    .data()
    .map_err(|e| format!("not a wasmtime artifact (unreadable .wasmtime.engine section: {e})"))?;
  let (&format, rest) = engine.split_first().ok_or("truncated .wasmtime.engine section")?;
  if format != ENGINE_SECTION_FORMAT {
    return Err(format!("unknown .wasmtime.engine section format {format}"));
  }
  let (&n, rest) = rest.split_first().ok_or("truncated .wasmtime.engine section")?;
  let version = rest.get(..n as usize).ok_or("truncated .wasmtime.engine section")?;
  let version = std::str::from_utf8(version).map_err(|_| "the wasmtime version in .wasmtime.engine is not UTF-8")?;
  let (meta, _) = postcard::take_from_bytes::<Metadata>(&rest[n as usize..]).map_err(|e| format!("unreadable .wasmtime.engine settings: {e}"))?;
  let flags = |list: Vec<(&str, FlagValue)>| {
    list
      .into_iter()
      .map(|(k, v)| {
        let v = match v {
          FlagValue::Enum(s) => Either3::A(s.to_string()),
          FlagValue::Num(n) => Either3::B(n as u32),
          FlagValue::Bool(b) => Either3::C(b),
        };
        (k.to_string(), v)
      })
      .collect()
  };
  let kind = match wasmtime::Engine::detect_precompiled(bytes) {
    Some(wasmtime::Precompiled::Module) => "module",
    Some(wasmtime::Precompiled::Component) => "component",
    None => "unknown",
  };
  let sections = elf
    .sections()
    .filter_map(|s| Some(ArtifactSection { name: s.name().ok().filter(|n| !n.is_empty())?.to_string(), size: s.size() as f64 }))
    .collect();
  Ok(ArtifactInfo {
    kind: kind.to_string(),
    wasmtime_version: version.to_string(),
    target: meta.target.to_string(),
    machine,
    shared_flags: flags(meta.shared_flags),
    isa_flags: flags(meta.isa_flags),
    sections,
  })
}

/// `inspectArtifact(bytes)`: the wasmtime version, target, settings and
/// sections of an artifact, without loading it. Throws
/// `ERR_WASMTIME_DESERIALIZE` saying why when `bytes` is not an artifact.
#[napi(catch_unwind)]
pub fn inspect_artifact(env: Env, bytes: Uint8Array) -> Result<ArtifactInfo> {
  inspect(&bytes).map_err(|why| {
    throw(
      &env,
      Kind::Error,
      error::DESERIALIZE,
      &format!("{why}; inspect only artifacts made by engine.precompileModule() or `wasmtime-napi compile`"),
    )
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn reads_an_artifact_made_here() {
    let engine = wasmtime::Engine::default();
    let bytes = engine.precompile_module(b"(module)").expect("precompile");
    let info = inspect(&bytes).expect("an artifact");
    assert_eq!(info.kind, "module");
    assert_eq!(info.wasmtime_version, "48");
    assert!(info.sections.iter().any(|s| s.name == ".text"));
    assert!(!info.shared_flags.is_empty());
  }

  #[test]
  fn refuses_what_is_not_one() {
    assert!(inspect(b"\0asm\x01\0\0\0").err().unwrap_or_default().contains("compile it first"));
    assert!(inspect(b"").err().unwrap_or_default().contains("no ELF header"));
    assert!(inspect(b"\x7fELF\x02\x01\x01").err().unwrap_or_default().contains("not a 64-bit ELF"));
  }
}
