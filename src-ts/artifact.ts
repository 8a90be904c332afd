/**
 * What a precompiled artifact says about itself (read in Rust: wasmtime's
 * `Engine::detect_precompiled` and the `object` crate), and the `.sha256`
 * digests that `compile --digest` writes.
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { types } from 'node:util'
import './loader' // first: a missing addon fails with a message that says what to do
import native = require('../binding.js')
import { codedError } from './errors'

/** What `inspectArtifact` returns. */
export type ArtifactInfo = native.ArtifactInfo

/**
 * The wasmtime version, target, settings and sections of a precompiled
 * artifact (any `Uint8Array`), without loading it. Throws
 * `ERR_WASMTIME_DESERIALIZE` saying why when the bytes are not an artifact
 * (a wasm module: "compile it first"), `ERR_WASMTIME_INVALID_ARGUMENT` when
 * they are not a `Uint8Array`.
 */
export function inspectArtifact(bytes: Uint8Array): ArtifactInfo {
  if (!types.isUint8Array(bytes)) throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'inspectArtifact expects a Buffer or Uint8Array holding an artifact')
  return native.inspectArtifact(bytes)
}

/**
 * node:crypto's `createHash`, with node:crypto loaded on first use: loading
 * it takes about 2 ms, which every `require` of the package paid before,
 * whether it checked a digest or not.
 */
function createHash(algorithm: string): import('node:crypto').Hash {
  return (require('node:crypto') as typeof import('node:crypto')).createHash(algorithm)
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
  return codedError(Error, 'ERR_WASMTIME_INTEGRITY', message)
}

/** SRI hash algorithms, weakest first (a metadata list is judged by its strongest). */
const SRI_ALGORITHMS = ['sha256', 'sha384', 'sha512'] as const

/**
 * Checks `bytes` against a Subresource Integrity string such as
 * `'sha256-<base64>'` (several, space-separated, are allowed: as in browsers,
 * the strongest algorithm listed decides, and any of its digests may match).
 * Throws `ERR_WASMTIME_INTEGRITY` on a mismatch, `ERR_WASMTIME_INVALID_ARGUMENT`
 * when `integrity` names no supported digest.
 */
export function checkIntegrity(bytes: Uint8Array, integrity: string, path: string): void {
  const entries = typeof integrity === 'string' ? integrity.trim().split(/\s+/).map((t) => /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})(\?.*)?$/.exec(t)) : []
  const valid = entries.filter((m): m is RegExpExecArray => m !== null)
  if (valid.length === 0) {
    throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `integrity must be a Subresource Integrity string such as 'sha256-<base64 digest>' (sha256, sha384 or sha512), got ${JSON.stringify(integrity)}`)
  }
  const strongest = SRI_ALGORITHMS.filter((a) => valid.some((m) => m[1] === a)).at(-1)!
  const actual = createHash(strongest).update(bytes).digest('base64')
  if (!valid.some((m) => m[1] === strongest && m[2] === actual)) {
    throw integrityError(`${path}: ${strongest}-${actual} does not match the expected integrity ${integrity}; the artifact is not the one you expect, do not load it`)
  }
}
