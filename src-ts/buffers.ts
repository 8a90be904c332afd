/**
 * Buffers that `Module.deserializeRaw` accepts: page-aligned, owning their
 * pages, not shared, not resizable, and untransferable.
 *
 * A Node Buffer is never page-aligned, so these over-allocate an ArrayBuffer by
 * one page and hand out the view that starts at its first page boundary. The
 * pages of that view belong to that ArrayBuffer alone.
 */
import { markAsUntransferable } from 'node:worker_threads'
import * as fs from 'node:fs'
import './loader' // first: a missing addon fails with a message that says what to do
import native = require('../binding.js')
import { codedError } from './errors'
import { verifyDigest } from './artifact'

export interface ReadOptions {
  /** Check the bytes against `<path>.sha256` (written by `precompile --digest`) before returning them. */
  verify?: boolean
}

const PAGE = native.pageSize()

/** An empty (zeroed) Buffer of `byteLength` bytes, page-aligned, untransferable. */
export function alignedBuffer(byteLength: number): Buffer {
  if (!Number.isSafeInteger(byteLength) || byteLength < 0) {
    throw codedError(RangeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `alignedBuffer: byteLength must be a non-negative integer, got ${byteLength}`)
  }
  const ab = new ArrayBuffer(byteLength + PAGE)
  const offset = native.pageAlignOffset(ab)
  markAsUntransferable(ab)
  return Buffer.from(ab, offset, byteLength)
}

/** Copies `bytes` into a new `alignedBuffer`. */
export function toAligned(bytes: Uint8Array): Buffer {
  const out = alignedBuffer(bytes.byteLength)
  out.set(bytes)
  return out
}

/** Reads a precompiled artifact straight into an `alignedBuffer` (one read, no extra copy). */
export function readPrecompiledSync(path: string, options: ReadOptions = {}): Buffer {
  const buf = readAlignedSync(path)
  if (options.verify) verifyDigest(buf, path)
  return buf
}

function readAlignedSync(path: string): Buffer {
  const fd = fs.openSync(path, 'r')
  try {
    const size = fs.fstatSync(fd).size
    const buf = alignedBuffer(size)
    let done = 0
    while (done < size) {
      const n = fs.readSync(fd, buf, done, size - done, done)
      if (n === 0) break
      done += n
    }
    return done === size ? buf : buf.subarray(0, done)
  } finally {
    fs.closeSync(fd)
  }
}

/** Async `readPrecompiledSync`. */
export async function readPrecompiled(path: string, options: ReadOptions = {}): Promise<Buffer> {
  const buf = await readAligned(path)
  if (options.verify) verifyDigest(buf, path)
  return buf
}

async function readAligned(path: string): Promise<Buffer> {
  const handle = await fs.promises.open(path, 'r')
  try {
    const size = (await handle.stat()).size
    const buf = alignedBuffer(size)
    let done = 0
    while (done < size) {
      const { bytesRead } = await handle.read(buf, done, size - done, done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return done === size ? buf : buf.subarray(0, done)
  } finally {
    await handle.close()
  }
}

/** ArrayBuffers that back raw-loaded code. */
const pinned = new WeakSet<ArrayBuffer>()
let transferGuardInstalled = false

/**
 * Makes `ab` impossible to detach while code runs from it. Transfer lists
 * (`postMessage`, `structuredClone`) honour `markAsUntransferable` on every
 * Node version; `ArrayBuffer.prototype.transfer()` honours it only from Node
 * 24, so where it does not, `transfer()` and `transferToFixedLength()` are
 * wrapped to refuse pinned buffers.
 */
export function pin(ab: ArrayBuffer): void {
  markAsUntransferable(ab)
  pinned.add(ab)
  if (!transferGuardInstalled) {
    transferGuardInstalled = true
    installTransferGuard()
  }
}

function installTransferGuard(): void {
  const proto = ArrayBuffer.prototype as unknown as Record<string, (...args: unknown[]) => ArrayBuffer>
  if (typeof proto.transfer !== 'function') return
  const probe = new ArrayBuffer(8)
  markAsUntransferable(probe)
  try {
    proto.transfer.call(probe)
  } catch {
    return // this Node refuses to transfer untransferable buffers by itself
  }
  for (const name of ['transfer', 'transferToFixedLength']) {
    const original = proto[name]
    if (typeof original !== 'function') continue
    Object.defineProperty(ArrayBuffer.prototype, name, {
      configurable: true,
      writable: true,
      value: function (this: ArrayBuffer, ...args: unknown[]) {
        if (pinned.has(this)) {
          throw codedError(TypeError, 'ERR_WASMTIME_PINNED_BUFFER', `ArrayBuffer.prototype.${name}: this buffer holds code loaded by Module.deserializeRaw and cannot be detached`)
        }
        return original.apply(this, args)
      },
    })
  }
}
