/**
 * wasmtime-napi: wasmtime for Node.js.
 *
 * The facade over the native addon: defaults (the engine is optional and
 * last, `Engine.default`), buffer helpers for zero-copy loading, lifetimes
 * that JavaScript can see (`FinalizationRegistry`, `Symbol.dispose`), and the
 * shapes Node users know from `WebAssembly` (`instance.exports.f(1, 2)`,
 * `memory.buffer`).
 */
import native = require('../binding.js')
import { alignedBuffer, pin, readPrecompiled, readPrecompiledSync, toAligned } from './buffers'
import { codedError } from './errors'

export { alignedBuffer, readPrecompiled, readPrecompiledSync }
export type { ErrorCode, WasmtimeError } from './errors'

export interface EngineOptions {
  /** `'native'` (default) or `'pulley64'` (wasmtime's portable interpreter). */
  target?: 'native' | 'pulley64' | (string & {})
  /** Cranelift optimisation level (default `'speed'`). */
  optLevel?: 'none' | 'speed' | 'speed_and_size'
  /** Compile functions on several threads (default `true`). */
  parallelCompilation?: boolean
  /** Emit native unwind info (default `true`). */
  nativeUnwindInfo?: boolean
}

type Bytes = ArrayBufferView | ArrayBuffer

function toBytes(source: Bytes | string, what: string): Uint8Array {
  if (typeof source === 'string') return Buffer.from(source, 'utf8')
  if (source instanceof Uint8Array) return source
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
  if (source instanceof ArrayBuffer) return new Uint8Array(source)
  throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `${what} expects a Buffer, TypedArray, ArrayBuffer or WAT string`)
}

const NATIVE = Symbol('wasmtime-napi.native')

/**
 * A compilation environment: configuration shared by modules and stores.
 * Wraps [`wasmtime::Engine`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html).
 */
export class Engine {
  static #default: Engine | undefined
  /** The engine used wherever none is given: default configuration, native target. */
  static get default(): Engine {
    return (Engine.#default ??= new Engine())
  }

  readonly [NATIVE]: native.Engine

  constructor(options: EngineOptions = {}) {
    this[NATIVE] = new native.Engine(options)
  }

  /** `'native'` or the configured target triple. */
  get target(): string {
    return this[NATIVE].target
  }

  get isPulley(): boolean {
    return this[NATIVE].isPulley
  }

  /**
   * Compiles wasm (binary or text) to an artifact. The Buffer is page-aligned
   * and owns its pages, so `Module.deserializeRaw` accepts it as it is.
   */
  precompileModule(wasm: Bytes | string): Buffer {
    return toAligned(this[NATIVE].precompileModule(toBytes(wasm, 'precompileModule')))
  }

  /** A stable string, equal for engines whose artifacts are interchangeable. */
  precompileCompatibilityHash(): string {
    return this[NATIVE].precompileCompatibilityHash()
  }
}

function engineOf(engine: Engine | undefined): native.Engine {
  const e = engine ?? Engine.default
  if (!(e instanceof Engine)) {
    throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'expected an Engine (or nothing, for Engine.default)')
  }
  return e[NATIVE]
}

export interface ImportType {
  module: string
  name: string
  kind: 'func' | 'global' | 'table' | 'memory' | 'tag'
}
export interface ExportType {
  name: string
  kind: 'func' | 'global' | 'table' | 'memory' | 'tag'
}

/**
 * Releases the facade's hold on a module's code when the Module is collected
 * without being disposed. Stores keep holds of their own.
 */
const moduleHolds = new FinalizationRegistry<native.Module>((held) => held.release())

/**
 * A compiled module. Wraps
 * [`wasmtime::Module`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html).
 */
export class Module {
  readonly [NATIVE]: native.Module

  /** Compiles `wasm` (binary or WAT text). */
  constructor(wasm: Bytes | string, engine?: Engine) {
    this[NATIVE] = native.Module.compile(engineOf(engine), toBytes(wasm, 'new Module'))
    moduleHolds.register(this, this[NATIVE], this)
  }

  /** Wraps a module the native side loaded. */
  static #wrap(handle: native.Module): Module {
    const m: Module = Object.create(Module.prototype)
    Object.defineProperty(m, NATIVE, { value: handle })
    moduleHolds.register(m, handle, m)
    return m
  }

  /** True if `bytes` is a valid wasm binary for `engine`. */
  static validate(bytes: Bytes, engine?: Engine): boolean {
    return native.Module.validate(engineOf(engine), toBytes(bytes, 'Module.validate')) == null
  }

  /** Loads an artifact by copying it. Any buffer works. */
  static deserialize(bytes: Bytes, engine?: Engine): Module {
    return Module.#wrap(native.Module.deserialize(engineOf(engine), toBytes(bytes, 'Module.deserialize')))
  }

  /** Loads an artifact file by mapping it into memory. */
  static deserializeFile(path: string, engine?: Engine): Module {
    return Module.#wrap(native.Module.deserializeFile(engineOf(engine), path))
  }

  /**
   * Loads an artifact in place: the code runs from `buffer` itself, no copy.
   *
   * On a native engine `buffer` must start on a page boundary and own its
   * pages: use `readPrecompiled()`, `readPrecompiledSync()`, `alignedBuffer()`,
   * `engine.precompileModule()` or `module.serialize()`. From then on the
   * buffer is pinned (kept alive, untransferable) until this module and every
   * store it was instantiated into are gone. Never write to it.
   */
  static deserializeRaw(buffer: Uint8Array, engine?: Engine): Module {
    const e = engineOf(engine)
    if (buffer instanceof Uint8Array && (buffer.buffer as ArrayBuffer & { resizable?: boolean }).resizable === true) {
      throw codedError(TypeError, 'ERR_WASMTIME_RESIZABLE_BUFFER', 'Module.deserializeRaw refuses a view of a resizable ArrayBuffer: resizing could unmap running code. Use readPrecompiled() or alignedBuffer().')
    }
    const m = native.Module.deserializeRaw(e, buffer)
    // Synchronous with the load: no JavaScript runs in between.
    pin(buffer.buffer as ArrayBuffer)
    return Module.#wrap(m)
  }

  get imports(): ImportType[] {
    return this[NATIVE].imports as ImportType[]
  }

  get exports(): ExportType[] {
    return this[NATIVE].exports as ExportType[]
  }

  /** The name from the module's name section, if any. */
  get name(): string | null {
    return this[NATIVE].name ?? null
  }

  /** True when the code runs from a caller's buffer (`deserializeRaw`). */
  get isRaw(): boolean {
    return this[NATIVE].isRaw
  }

  /** An artifact of this module: page-aligned, ready for `deserializeRaw`. */
  serialize(): Buffer {
    return toAligned(this[NATIVE].serialize())
  }

  /** `[start, end)` addresses of the loaded code image. */
  imageRange(): [number, number] {
    const [s, e] = this[NATIVE].imageRange()
    return [s, e]
  }

  /**
   * Releases this Module's hold on its code now (`using` calls it). Instances
   * already made keep running: their Store holds the code too.
   */
  [Symbol.dispose](): void {
    moduleHolds.unregister(this)
    this[NATIVE].release()
  }
}

/**
 * Where instances and their state live. Wraps
 * [`wasmtime::Store`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html).
 */
export class Store {
  readonly [NATIVE]: native.Store
  readonly engine: Engine

  constructor(engine?: Engine) {
    this.engine = engine ?? Engine.default
    this[NATIVE] = new native.Store(engineOf(this.engine))
  }

  /** Frees the store now; its instances, functions and memories throw afterwards. */
  dispose(): void {
    this[NATIVE].dispose()
  }

  get isDisposed(): boolean {
    return this[NATIVE].isDisposed
  }

  [Symbol.dispose](): void {
    this.dispose()
  }
}

/**
 * A linear memory, shaped like `WebAssembly.Memory`. Wraps
 * [`wasmtime::Memory`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Memory.html).
 */
export class Memory {
  readonly [NATIVE]: native.Memory
  #buffer: ArrayBuffer | undefined

  constructor(handle: native.Memory) {
    this[NATIVE] = handle
  }

  /**
   * The memory's bytes, without a copy. Like `WebAssembly.Memory#buffer`, a
   * new ArrayBuffer is handed out after the memory grows.
   */
  get buffer(): ArrayBuffer {
    const size = this[NATIVE].dataSize()
    if (this.#buffer === undefined || this.#buffer.byteLength !== size) {
      this.#buffer = this[NATIVE].buffer() as ArrayBuffer
    }
    return this.#buffer
  }

  /** Size in 64 KiB pages. */
  size(): number {
    return this[NATIVE].size()
  }

  /** Grows by `delta` pages; returns the previous size in pages. */
  grow(delta: number): number {
    return this[NATIVE].grow(delta)
  }

  /** Copies `length` bytes at `offset` into a new Buffer. */
  read(offset: number, length: number): Buffer {
    return this[NATIVE].read(offset, length)
  }

  /** Copies `bytes` into the memory at `offset`. */
  write(offset: number, bytes: Uint8Array): void {
    this[NATIVE].write(offset, bytes)
  }
}

export type WasmValue = number | bigint
export type ExportedFunction = ((...args: WasmValue[]) => WasmValue | WasmValue[] | undefined) & {
  readonly params: string[]
  readonly results: string[]
}
export type Exports = Record<string, ExportedFunction | Memory>

export interface InstanceOptions {
  /** Satisfy every import with a function that traps if it is called. */
  defineUnknownImportsAsTraps?: boolean
}

function exportedFunction(name: string, f: native.Func): ExportedFunction {
  const call = (...args: WasmValue[]) => f.call(args) as WasmValue | WasmValue[] | undefined
  Object.defineProperty(call, 'name', { value: name })
  Object.defineProperty(call, 'params', { value: f.params, enumerable: false })
  Object.defineProperty(call, 'results', { value: f.results, enumerable: false })
  return call as ExportedFunction
}

/**
 * An instantiated module, with `exports` shaped like
 * `WebAssembly.Instance#exports`. Wraps
 * [`wasmtime::Instance`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html).
 */
export class Instance {
  readonly [NATIVE]: native.Instance
  readonly exports: Exports

  constructor(store: Store, module: Module, options: InstanceOptions = {}) {
    if (!(store instanceof Store) || !(module instanceof Module)) {
      throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'new Instance(store, module, options?) expects a Store and a Module')
    }
    const inst = new native.Instance(store[NATIVE], module[NATIVE], options)
    this[NATIVE] = inst
    const exports: Exports = Object.create(null)
    for (const { name, kind } of inst.exportTypes()) {
      if (kind === 'func') exports[name] = exportedFunction(name, inst.getFunc(name)!)
      else if (kind === 'memory') {
        const m = inst.getMemory(name)
        if (m) exports[name] = new Memory(m)
      }
    }
    this.exports = Object.freeze(exports)
  }
}

export interface Stats {
  /** Bytes of caller buffers held by raw-loaded modules. */
  pinnedBytes: number
  /** How many such buffers. */
  pinnedRegions: number
  /** Bytes of compiled code reported to V8 as external memory (GC pressure). */
  reportedBytes: number
}

/** Native counters (process-wide). */
export function stats(): Stats {
  return native.stats()
}

/** The host page size: the alignment `deserializeRaw` needs on native engines. */
export const pageSize: number = native.pageSize()

/** The wasmtime version artifacts must have been made with. */
export const wasmtimeVersion: string = native.wasmtimeVersion()
