/**
 * Buffers that `Module.deserializeRaw` accepts: page-aligned memory that the
 * package allocated itself and lends to JavaScript as an external
 * ArrayBuffer. `deserializeRaw` takes that memory back (the ArrayBuffer is
 * detached, as after a transfer), so no JavaScript can change or free code
 * that runs. Reading into such a buffer is the only copy an artifact needs.
 */
import * as fs from 'node:fs'
import './loader' // first: a missing addon fails with a message that says what to do
import native = require('../binding.js')
import { checkIntegrity, verifyDigest } from './artifact'
import { checkOptions, codedError, isWasmtimeError } from './errors'
import { constants } from 'node:buffer'

const MAX_LENGTH = constants.MAX_LENGTH

export interface ReadOptions {
  /** Check the bytes against `<path>.sha256` (written by `compile --digest`) before returning them. */
  verify?: boolean
  /**
   * Check the bytes against a digest you hold, Subresource Integrity style:
   * `'sha256-<base64>'` (or sha384, sha512). Unlike `verify`, this still
   * catches an artifact swapped together with its digest file.
   */
  integrity?: string
  /**
   * Map the file (privately, copy-on-write) instead of reading it: no read,
   * no copy, pages come from the page cache as the code runs. The file must
   * then not be changed in place or truncated while the module lives (a
   * truncation makes the process fault), exactly as for
   * `Module.deserializeFile`; deploy artifacts by renaming a new file over the
   * old one. Unix hosts only. Default `false`: a snapshot of the file.
   */
  map?: boolean
}

const READ_OPTIONS = ['verify', 'integrity', 'map'] as const

function checked(buf: Buffer, path: string, options: ReadOptions): Buffer {
  if (options.verify) verifyDigest(buf, path)
  if (options.integrity !== undefined) checkIntegrity(buf, options.integrity, path)
  return buf
}

/**
 * An empty (zeroed) Buffer of `byteLength` bytes, page-aligned, over memory
 * the package owns: `Module.deserializeRaw` accepts it (and takes it over).
 */
export function alignedBuffer(byteLength: number): Buffer {
  withinBufferLimit(byteLength, 'alignedBuffer()')
  return Buffer.from(native.alignedArrayBuffer(byteLength) as ArrayBuffer)
}

/** Refuses a size this Node's Buffers cannot have (4 GiB on Node 20). */
function withinBufferLimit(byteLength: number, what: string): void {
  if (typeof byteLength === 'number' && byteLength > MAX_LENGTH) {
    throw codedError(
      RangeError,
      'ERR_WASMTIME_OUT_OF_MEMORY',
      `${what}: ${byteLength} bytes is more than a Buffer can hold on Node ${process.version} (${MAX_LENGTH}); use Module.deserializeFile() for an artifact this large`,
    )
  }
}

/** Copies `bytes` into a new `alignedBuffer`. */
export function toAligned(bytes: Uint8Array): Buffer {
  const out = alignedBuffer(bytes.byteLength)
  out.set(bytes)
  return out
}

/** Reads a precompiled artifact straight into an `alignedBuffer` (one read, no extra copy). */
export function readPrecompiledSync(path: string, options: ReadOptions = {}): Buffer {
  checkOptions(options, READ_OPTIONS, 'readPrecompiledSync()')
  return checked(options?.map ? mapped(path) : readAlignedSync(path), path, options ?? {})
}

function mapped(path: string): Buffer {
  let size = 0
  try {
    size = fs.statSync(path).size
  } catch {
    // The native side reports a missing or unreadable file, coded.
  }
  withinBufferLimit(size, 'readPrecompiled()')
  return Buffer.from(native.mapFileArrayBuffer(path) as ArrayBuffer)
}

// Opened without waiting: a FIFO with no writer would otherwise block the
// thread in open(). Only regular files are read (as with { map: true }): a
// FIFO, a device or a /proc file has no size to read up to.
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0)

/** `err` as `ERR_WASMTIME_IO`, unless the package already gave it a code. */
function ioError(path: string, err: unknown): Error {
  if (isWasmtimeError(err)) return err
  const why = err instanceof Error ? err.message : String(err)
  return Object.assign(codedError(Error, 'ERR_WASMTIME_IO', `cannot read '${path}': ${why}; give the path of a precompiled artifact (a regular file)`), { cause: err })
}

/** The size of a regular file; its callers' `catch` codes the error otherwise. */
function regularFile(stat: fs.Stats): number {
  if (!stat.isFile()) throw new Error('not a regular file')
  return stat.size
}

function readAlignedSync(path: string): Buffer {
  let fd: number
  try {
    fd = fs.openSync(path, OPEN_FLAGS)
  } catch (e) {
    throw ioError(path, e)
  }
  try {
    const size = regularFile(fs.fstatSync(fd))
    const buf = alignedBuffer(size)
    let done = 0
    while (done < size) {
      const n = fs.readSync(fd, buf, done, size - done, done)
      if (n === 0) break
      done += n
    }
    return done === size ? buf : buf.subarray(0, done)
  } catch (e) {
    throw ioError(path, e)
  } finally {
    fs.closeSync(fd)
  }
}

/** Async `readPrecompiledSync`. */
export async function readPrecompiled(path: string, options: ReadOptions = {}): Promise<Buffer> {
  checkOptions(options, READ_OPTIONS, 'readPrecompiled()')
  return checked(options?.map ? mapped(path) : await readAligned(path), path, options ?? {})
}

async function readAligned(path: string): Promise<Buffer> {
  const handle = await fs.promises.open(path, OPEN_FLAGS).catch((e) => {
    throw ioError(path, e)
  })
  try {
    const size = regularFile(await handle.stat())
    const buf = alignedBuffer(size)
    let done = 0
    while (done < size) {
      const { bytesRead } = await handle.read(buf, done, size - done, done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return done === size ? buf : buf.subarray(0, done)
  } catch (e) {
    throw ioError(path, e)
  } finally {
    await handle.close()
  }
}

