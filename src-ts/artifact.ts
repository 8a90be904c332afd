/**
 * What a precompiled artifact says about itself: wasmtime writes an ELF file
 * whose `.wasmtime.engine` section holds the wasmtime version and the compile
 * settings (target triple, Cranelift shared and ISA flags) as postcard data.
 * Also: the `.sha256` digest files that `precompile --digest` writes.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

export type FlagValue = string | number | boolean

export interface ArtifactInfo {
  /** `'module'` or `'component'`. */
  kind: 'module' | 'component' | 'unknown'
  /** The wasmtime version that made it (artifacts load only in that version). */
  wasmtimeVersion: string
  /** Target triple, e.g. `x86_64-unknown-linux-gnu`, `aarch64-unknown-linux-gnu`, `pulley64`. */
  target: string
  /** ELF machine number (62 x86_64, 183 aarch64, 243 riscv, 22 s390x). */
  machine: number
  sharedFlags: Record<string, FlagValue>
  /** ISA (CPU feature) flags the code was compiled for. */
  isaFlags: Record<string, FlagValue>
  sections: { name: string; size: number }[]
}

class Reader {
  constructor(
    private b: Buffer,
    public at: number,
  ) {}
  varint(): number {
    let v = 0
    let shift = 0
    for (;;) {
      const byte = this.b[this.at++]
      if (byte === undefined) throw new Error('truncated engine section')
      v += (byte & 0x7f) * 2 ** shift
      if (!(byte & 0x80)) return v
      shift += 7
    }
  }
  str(): string {
    const n = this.varint()
    const s = this.b.toString('utf8', this.at, this.at + n)
    this.at += n
    return s
  }
  flags(): Record<string, FlagValue> {
    const out: Record<string, FlagValue> = {}
    for (let n = this.varint(); n > 0; n--) {
      const name = this.str()
      const variant = this.varint()
      out[name] = variant === 0 ? this.str() : variant === 1 ? this.b[this.at++] : this.b[this.at++] !== 0
    }
    return out
  }
}

const ELFOSABI_WASMTIME = 200
const EF_WASMTIME_MODULE = 1
const EF_WASMTIME_COMPONENT = 2

/** Parses `bytes` as a wasmtime artifact, or throws saying why it is not one (`ERR_WASMTIME_DESERIALIZE`). */
export function inspectArtifact(input: Uint8Array): ArtifactInfo {
  if (!(input instanceof Uint8Array)) {
    throw Object.assign(new TypeError('inspectArtifact expects a Buffer or Uint8Array holding an artifact'), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  }
  try {
    return parseArtifact(Buffer.from(input.buffer, input.byteOffset, input.byteLength))
  } catch (e) {
    throw Object.assign(new Error(`${(e as Error).message}; inspect only artifacts made by engine.precompileModule() or \`wasmtime-napi precompile\``), { code: 'ERR_WASMTIME_DESERIALIZE' })
  }
}

function parseArtifact(bytes: Buffer): ArtifactInfo {
  if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0x0061736d) throw new Error('this is a wasm module, not an artifact: compile it first')
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) throw new Error('not a wasmtime artifact (no ELF header)')
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new Error('not a wasmtime artifact (not 64-bit little-endian ELF)')
  const osabi = bytes[7]
  const machine = bytes.readUInt16LE(0x12)
  const eflags = bytes.readUInt32LE(0x30)
  const shoff = Number(bytes.readBigUInt64LE(0x28))
  const shentsize = bytes.readUInt16LE(0x3a)
  const shnum = bytes.readUInt16LE(0x3c)
  const shstrndx = bytes.readUInt16LE(0x3e)
  if (shoff + shnum * shentsize > bytes.length || shstrndx >= shnum) throw new Error('not a wasmtime artifact (truncated section table)')
  const header = (i: number) => {
    const at = shoff + i * shentsize
    return { name: bytes.readUInt32LE(at), offset: Number(bytes.readBigUInt64LE(at + 24)), size: Number(bytes.readBigUInt64LE(at + 32)) }
  }
  const strtab = header(shstrndx)
  const nameOf = (off: number) => {
    const start = strtab.offset + off
    return bytes.toString('latin1', start, bytes.indexOf(0, start))
  }
  const sections = Array.from({ length: shnum }, (_, i) => header(i))
    .map((h) => ({ name: nameOf(h.name), offset: h.offset, size: h.size }))
    .filter((s) => s.name !== '')
  const engine = sections.find((s) => s.name === '.wasmtime.engine')
  if (!engine || engine.offset + engine.size > bytes.length) throw new Error('not a wasmtime artifact (no .wasmtime.engine section)')
  const data = bytes.subarray(engine.offset, engine.offset + engine.size)
  if (data[0] !== 0) throw new Error(`unknown engine section format ${data[0]}`)
  const version = data.toString('utf8', 2, 2 + data[1])
  const r = new Reader(data, 2 + data[1])
  const target = r.str()
  const sharedFlags = r.flags()
  const isaFlags = r.flags()
  const kind = osabi !== ELFOSABI_WASMTIME ? 'unknown' : eflags & EF_WASMTIME_MODULE ? 'module' : eflags & EF_WASMTIME_COMPONENT ? 'component' : 'unknown'
  return { kind, wasmtimeVersion: version, target, machine, sharedFlags, isaFlags, sections: sections.map(({ name, size }) => ({ name, size })) }
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** The `sha256sum`-style line `precompile --digest` writes beside an artifact. */
export const digestLine = (bytes: Uint8Array, path: string): string => `${sha256(bytes)}  ${basename(path)}\n`

/** Checks `bytes` against `<path>.sha256`; throws `ERR_WASMTIME_INTEGRITY` if it is missing or differs. */
export function verifyDigest(bytes: Uint8Array, path: string): void {
  let expected: string
  try {
    expected = readFileSync(`${path}.sha256`, 'utf8').trim().split(/\s+/)[0]
  } catch {
    throw integrityError(`${path}: no digest file ${path}.sha256 to verify against; precompile with --digest`)
  }
  const actual = sha256(bytes)
  if (actual !== expected) throw integrityError(`${path}: sha256 ${actual} does not match ${path}.sha256 (${expected}); the artifact was altered or truncated, do not load it`)
}

function integrityError(message: string): Error & { code: string } {
  const e = new Error(message) as Error & { code: string }
  e.code = 'ERR_WASMTIME_INTEGRITY'
  return e
}
