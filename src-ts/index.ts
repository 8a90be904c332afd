/**
 * wasmtime-napi: wasmtime for Node.js.
 *
 * The facade over the native addon: defaults (the engine is optional and
 * last, `Engine.default`), buffer helpers for zero-copy loading, lifetimes
 * that JavaScript can see (`FinalizationRegistry`, `Symbol.dispose`), and the
 * shapes Node users know from `WebAssembly` (`instance.exports.f(1, 2)`,
 * `memory.buffer`).
 */
import './loader' // first: a missing addon fails with a message that says what to do
import native = require('../binding.js')
import { alignedBuffer, readPrecompiled, readPrecompiledSync, toAligned } from './buffers'
import { checkOptions, codedError, recodeNative } from './errors'

// Errors napi-rs raises before native code runs (a wrong argument type), and
// caught panics, become coded errors: see `recodeNative`.
recodeNative(native as unknown as Record<string, unknown>, native.takePanic)

/**
 * A native constructor's error, coded unless it already is: constructors run
 * no JavaScript of the caller's, so an uncoded error is napi-rs refusing an
 * argument (a wrong type, a missing object).
 */
function constructorError(e: unknown, what: string): unknown {
  const code = (e as { code?: unknown })?.code
  if (e instanceof Error && !(typeof code === 'string' && code.startsWith('ERR_WASMTIME_'))) {
    return Object.assign(codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `${what}: ${(e as Error).message}. Check the arguments against the documented signature.`), { cause: e })
  }
  return e
}

/**
 * A native class whose constructor refuses unknown option names in argument
 * `optionsAt` and codes conversion errors; `instanceof` works as on the
 * class itself.
 */
function checkedClass<C extends abstract new (...args: any[]) => object>(
  ctor: C,
  name: string,
  optionsAt: number,
  allowed: readonly string[],
  storeHandle = true,
): C {
  return new Proxy(ctor, {
    construct(target, args, newTarget) {
      checkOptions(args[optionsAt], allowed, `new ${name}()`)
      let handle: object
      try {
        handle = Reflect.construct(target, args, newTarget)
      } catch (e) {
        throw constructorError(e, `new ${name}()`)
      }
      // Like handles taken from exports, this one keeps its store's host
      // functions and externref values alive.
      if (storeHandle) native.attachStoreRoots(handle as native.Memory | native.Table | native.Global)
      return handle
    },
  })
}

export { alignedBuffer, readPrecompiled, readPrecompiledSync }
export type { ReadOptions } from './buffers'
export { inspectArtifact } from './artifact'
export type { ArtifactInfo } from './artifact'
export type { ErrorCode, WasmtimeError } from './errors'

/** A wasm linear memory (`new Memory(store, { minimum, maximum? })`). */
export const Memory = checkedClass(native.Memory, 'Memory', 1, ['minimum', 'maximum', 'memory64'])
export type Memory = native.Memory
/** A wasm table (`new Table(store, { element: 'funcref', minimum }, init?)`). */
export const Table = checkedClass(native.Table, 'Table', 1, ['element', 'minimum', 'maximum'])
export type Table = native.Table
/** A wasm global (`new Global(store, { value: 'i32', mutable: true }, 0)`). */
export const Global = checkedClass(native.Global, 'Global', 1, ['value', 'mutable'])
export type Global = native.Global
/** The calling instance, given to host functions defined with `{ caller: true }`. */
export const Caller = native.Caller
export type Caller = native.Caller
/**
 * WASI preview1 state for one store: `new WasiContext({ args, env, preopens,
 * stdin, stdout, stderr })`, then `linker.defineWasi(ctx)`.
 */
export const WasiContext = checkedClass(native.WasiContext, 'WasiContext', 0, ['args', 'env', 'preopens', 'stdin', 'stdout', 'stderr'], false)
export type WasiContext = native.WasiContext
export type WasiOptions = native.WasiOptions
export type TypeDesc = native.TypeDesc

export interface EngineOptions {
  /** `'native'` (default) or `'pulley64'` (wasmtime's portable interpreter). */
  target?: 'native' | 'pulley64' | (string & {})
  /** Cranelift optimisation level (default `'speed'`). */
  optLevel?: 'none' | 'speed' | 'speed_and_size'
  /** Compile functions on several threads (default `true`). */
  parallelCompilation?: boolean
  /** Emit native unwind info (default `true`). */
  nativeUnwindInfo?: boolean
  /** Count fuel; `store.setFuel(n)` then bounds how much wasm runs (trap `out_of_fuel`). */
  consumeFuel?: boolean
  /**
   * Epoch checks (default `true`): `store.setDeadline(ms)` traps a call that
   * runs too long with `interrupt`, and `worker.terminate()` stops wasm in a
   * worker. `false` removes the checks, and both guarantees, for a little speed.
   */
  epochInterruption?: boolean
  /** Bytes of native stack a call into wasm may use (default: a quarter of the thread's stack, at most 512 KiB). */
  maxWasmStack?: number
  /** ISA features to compile for (`['has_avx2', ...]`); cross targets default to the baseline. */
  cpuFeatures?: string[]
}

const ENGINE_OPTIONS = ['target', 'optLevel', 'parallelCompilation', 'nativeUnwindInfo', 'consumeFuel', 'epochInterruption', 'maxWasmStack', 'cpuFeatures'] as const
const STORE_OPTIONS = ['memorySize', 'tableElements', 'instances', 'tables', 'memories'] as const

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
 * A trap: wasm hit `unreachable`, an out-of-bounds access, a stack overflow,
 * ran out of fuel, was interrupted, ... Thrown by calls into wasm.
 */
export class WasmTrap extends Error {
  /** Always `'ERR_WASMTIME_TRAP'`. */
  declare code: 'ERR_WASMTIME_TRAP'
  /** Stable name: `'unreachable'`, `'memory_out_of_bounds'`, `'integer_divide_by_zero'`, `'stack_overflow'`, ... */
  declare trapCode: string
  /** The wasm frames, innermost first. */
  declare wasmBacktrace: { module: string | null; funcIndex: number; funcName: string | null; offset: number | null }[]
}
Object.defineProperty(WasmTrap.prototype, 'name', { value: 'WasmTrap' })
native.setTrapClass(WasmTrap)

/**
 * A compilation environment: configuration shared by modules and stores.
 * [`wasmtime::Engine`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Engine.html).
 */
export class Engine extends native.Engine {
  static #default: Engine | undefined
  /** The engine used wherever none is given: default configuration, native target. */
  static get default(): Engine {
    return (Engine.#default ??= new Engine())
  }

  constructor(options: EngineOptions = {}) {
    checkOptions(options, ENGINE_OPTIONS, 'new Engine()')
    try {
      super(options)
    } catch (e) {
      throw constructorError(e, 'new Engine()')
    }
  }

  /**
   * Compiles wasm (binary or text) to an artifact. The Buffer is page-aligned
   * and owns its pages, so `Module.deserializeRaw` accepts it as it is.
   */
  override precompileModule(wasm: Bytes | string): Buffer {
    return toAligned(super.precompileModule(toBytes(wasm, 'precompileModule')))
  }
}

function engineOf(engine: Engine | undefined): Engine {
  const e = engine ?? Engine.default
  if (!(e instanceof native.Engine)) {
    throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'expected an Engine (or nothing, for Engine.default)')
  }
  return e
}

type Kind = { kind: 'func' | 'global' | 'table' | 'memory' | 'tag' }
/** An import with its full type: `{ module, name, kind, ...fields of that kind }`. */
export type ImportType = native.TypeDesc & Kind & { module: string; name: string }
/** An export with its full type: `{ name, kind, ...fields of that kind }`. */
export type ExportType = Omit<native.TypeDesc, 'module'> & Kind & { name: string }

/**
 * Releases the facade's hold on a module's code when the Module is collected
 * without being disposed. Stores keep holds of their own.
 */
const moduleHolds = new FinalizationRegistry<native.Module>((held) => held.release())

/**
 * A compiled module.
 * [`wasmtime::Module`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Module.html).
 */
export class Module {
  readonly [NATIVE]: native.Module
  /** The engine the module was compiled or loaded for. */
  readonly engine!: Engine

  /** Compiles `wasm` (binary or WAT text). */
  constructor(wasm: Bytes | string, engine?: Engine) {
    const e = engineOf(engine)
    this[NATIVE] = native.Module.compile(e, toBytes(wasm, 'new Module'))
    this.engine = e
    moduleHolds.register(this, this[NATIVE], this)
  }

  /** Wraps a module the native side loaded. */
  static #wrap(handle: native.Module, engine: Engine): Module {
    const m: Module = Object.create(Module.prototype)
    Object.defineProperty(m, NATIVE, { value: handle })
    Object.defineProperty(m, 'engine', { value: engine, enumerable: true })
    moduleHolds.register(m, handle, m)
    return m
  }

  /** True if `bytes` is a valid wasm binary for `engine`. */
  static validate(bytes: Bytes, engine?: Engine): boolean {
    return native.Module.validate(engineOf(engine), toBytes(bytes, 'Module.validate')) == null
  }

  /** Loads an artifact by copying it. Any buffer works. */
  static deserialize(bytes: Bytes, engine?: Engine): Module {
    const e = engineOf(engine)
    return Module.#wrap(native.Module.deserialize(e, toBytes(bytes, 'Module.deserialize')), e)
  }

  /** Loads an artifact file by mapping it into memory. */
  static deserializeFile(path: string, engine?: Engine): Module {
    const e = engineOf(engine)
    return Module.#wrap(native.Module.deserializeFile(e, path), e)
  }

  /**
   * Loads an artifact in place: the code runs from `buffer`'s memory itself,
   * no copy.
   *
   * `buffer` must be one the package allocated: `readPrecompiled()`,
   * `readPrecompiledSync()`, `alignedBuffer()`, `engine.precompileModule()`
   * or `module.serialize()`. The module takes its memory over: `buffer` and
   * every view of its ArrayBuffer are detached (read as empty), exactly as
   * after a transfer, so nothing JavaScript does can change the code. Loading
   * the same buffer again throws `ERR_WASMTIME_DETACHED_BUFFER`: reuse the
   * Module instead.
   */
  static deserializeRaw(buffer: Uint8Array, engine?: Engine): Module {
    const e = engineOf(engine)
    return Module.#wrap(native.Module.deserializeRaw(e, buffer), e)
  }

  /** Imports with full types, e.g. `{ module, name, kind: 'func', params: ['i32'], results: ['i64'] }`. */
  get imports(): ImportType[] {
    return this[NATIVE].imports as ImportType[]
  }

  /** Exports with full types. */
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

function nativeModule(module: Module): native.Module {
  if (!(module instanceof Module)) throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'expected a Module')
  return module[NATIVE]
}

/** Store limits: `{ memorySize, tableElements, instances, tables, memories }`. */
export type StoreOptions = native.StoreOptions

/**
 * The default `tableElements` limit of a store, V8's own limit for
 * `WebAssembly.Table`. A table's storage is allocated and filled when it is
 * made or grown: without a limit, one module declaring `(table 2147483648
 * externref)` takes 16 GiB and a minute. Pass a larger `tableElements` to
 * allow more.
 */
export const DEFAULT_TABLE_ELEMENTS = 10_000_000

/**
 * Where instances and their state live.
 * [`wasmtime::Store`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Store.html).
 */
export class Store extends native.Store {
  readonly engine: Engine

  constructor(engine?: Engine, options?: StoreOptions) {
    const e = engineOf(engine)
    checkOptions(options, STORE_OPTIONS, 'new Store()')
    try {
      super(e, { ...options, tableElements: options?.tableElements ?? DEFAULT_TABLE_ELEMENTS })
    } catch (err) {
      throw constructorError(err, 'new Store()')
    }
    this.engine = e
  }

  [Symbol.dispose](): void {
    this.dispose()
  }
}

export type WasmValue = number | bigint | null | unknown
export type WasmFunction = ((...args: any[]) => any) & { readonly params: string[]; readonly results: string[] }
export type ExportValue = WasmFunction | native.Memory | native.Table | native.Global
export type Exports = Record<string, ExportValue>
/** An import object, as `WebAssembly.instantiate` takes it: `{ env: { f() {} } }`. */
export type Imports = Record<string, Record<string, unknown>>

export interface InstanceOptions {
  /** Satisfy every import left undefined with a function that traps if called. */
  defineUnknownImportsAsTraps?: boolean
}

/**
 * An instantiated module, with `exports` shaped like
 * `WebAssembly.Instance#exports`.
 * [`wasmtime::Instance`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html).
 */
const EXPORTS = Symbol('wasmtime-napi.exports')

export class Instance {
  readonly [NATIVE]: native.Instance
  private [EXPORTS]: Exports | undefined

  /**
   * Instantiates `module` into `store`. `imports` is an import object like
   * `WebAssembly.instantiate`'s: JavaScript functions (typed from the
   * module), wasm functions, Memory, Table and Global objects, and numbers or
   * BigInts for global imports.
   */
  constructor(store: Store, module: Module, imports?: Imports, options: InstanceOptions = {}) {
    if (!(store instanceof native.Store)) {
      throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'new Instance(store, module, imports?, options?) expects a Store')
    }
    const m = nativeModule(module)
    const wanted = m.imports as ImportType[]
    checkOptions(options, ['defineUnknownImportsAsTraps'], 'new Instance()')
    if (imports === undefined || wanted.length === 0) {
      this[NATIVE] = native.Instance.create(store, m, options.defineUnknownImportsAsTraps ?? false)
      return
    }
    const linker = new native.Linker(store.engine)
    for (const imp of wanted) {
      const value = imports[imp.module]?.[imp.name]
      if (value === undefined) continue
      defineImport(linker, store, imp, value)
    }
    if (options.defineUnknownImportsAsTraps) linker.defineUnknownImportsAsTraps(m)
    this[NATIVE] = linker.instantiate(store, m)
  }

  /** @internal */
  static wrap(handle: native.Instance): Instance {
    const i: Instance = Object.create(Instance.prototype)
    Object.defineProperty(i, NATIVE, { value: handle })
    return i
  }

  /** The exports: functions, Memory, Table and Global objects. */
  get exports(): Exports {
    return (this[EXPORTS] ??= Object.freeze(this[NATIVE].exports()) as Exports)
  }

  /** One export by name, or `undefined`. */
  getExport(name: string): ExportValue | undefined {
    return this[NATIVE].getExport(name) as ExportValue | undefined
  }

  /** The exported function `name`; throws if there is none. */
  getFunc(name: string): WasmFunction {
    return typedExport(this, name, 'function', (v) => native.isWasmFunction(v)) as WasmFunction
  }

  /** The exported memory `name`; throws if there is none. */
  getMemory(name: string): native.Memory {
    return typedExport(this, name, 'memory', (v) => v instanceof native.Memory) as native.Memory
  }

  /** The exported table `name`; throws if there is none. */
  getTable(name: string): native.Table {
    return typedExport(this, name, 'table', (v) => v instanceof native.Table) as native.Table
  }

  /** The exported global `name`; throws if there is none. */
  getGlobal(name: string): native.Global {
    return typedExport(this, name, 'global', (v) => v instanceof native.Global) as native.Global
  }
}

function typedExport(instance: Instance, name: string, what: string, is: (v: unknown) => boolean): unknown {
  const v = instance.exports[name]
  if (v === undefined || !is(v)) {
    throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `the instance has no exported ${what} named '${name}'`)
  }
  return v
}

function defineImport(linker: native.Linker, store: Store, imp: ImportType, value: unknown): void {
  const where = `${imp.module}.${imp.name}`
  if (typeof value === 'function' && !native.isWasmFunction(value)) {
    if (imp.kind !== 'func') throw codedError(TypeError, 'ERR_WASMTIME_LINK', `import ${where} is a ${imp.kind}, not a function`)
    linker.func(imp.module, imp.name, { params: imp.params!, results: imp.results! }, value)
    return
  }
  if ((typeof value === 'number' || typeof value === 'bigint') && imp.kind === 'global') {
    const g = new native.Global(store, { value: imp.value!, mutable: imp.mutable }, value)
    linker.defineGlobal(store, imp.module, imp.name, g)
    return
  }
  defineItem(linker, store, imp.module, imp.name, value)
}

function defineItem(linker: native.Linker, store: Store, module: string, name: string, item: unknown): void {
  if (item instanceof native.Memory) linker.defineMemory(store, module, name, item)
  else if (item instanceof native.Table) linker.defineTable(store, module, name, item)
  else if (item instanceof native.Global) linker.defineGlobal(store, module, name, item)
  else if (native.isWasmFunction(item)) linker.defineFunc(store, module, name, item)
  else throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `${module}.${name}: expected a wasm function, Memory, Table or Global`)
}

export interface FuncOptions {
  /** Pass a `Caller` (the calling instance) as the first argument. */
  caller?: boolean
}

/**
 * Resolves imports by module and name: host functions, other instances'
 * exports, WASI.
 * [`wasmtime::Linker`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html).
 */
export class Linker extends native.Linker {
  readonly engine: Engine
  /**
   * The host functions defined here. The native side holds them weakly, so
   * that a host function closing over a store's exports does not keep that
   * store alive; this array (and the stores' own roots) keep them.
   */
  readonly #hostFunctions: Function[]

  constructor(engine?: Engine) {
    const e = engineOf(engine)
    try {
      super(e)
    } catch (err) {
      throw constructorError(err, 'new Linker()')
    }
    this.engine = e
    this.#hostFunctions = []
  }

  /** Defines `module.name` as a host function of type `{ params, results }`. */
  override func(module: string, name: string, ty: native.FuncTypeDesc, func: unknown, options?: FuncOptions | null): void {
    checkOptions(ty, ['params', 'results'], `linker.func(${module}.${name}) type`)
    checkOptions(options, ['caller'], `linker.func(${module}.${name}) options`)
    super.func(module, name, ty, func, options)
    this.#hostFunctions.push(func as Function)
  }

  /** Defines `module.name` as a wasm function, Memory, Table or Global of `store`. */
  define(store: Store, module: string, name: string, item: unknown): void {
    defineItem(this as unknown as native.Linker, store, module, name, item)
  }

  /** Defines every export of `instance` under the module name `name`. */
  // @ts-expect-error: takes the facade's Instance
  override defineInstance(store: Store, name: string, instance: Instance): void {
    super.defineInstance(store, name, instance[NATIVE])
  }

  // @ts-expect-error: takes the facade's Module
  override defineUnknownImportsAsTraps(module: Module): void {
    super.defineUnknownImportsAsTraps(nativeModule(module))
  }

  /** Instantiates `module` into `store`. */
  // @ts-expect-error: takes and returns the facade's classes
  override instantiate(store: Store, module: Module): Instance {
    return Instance.wrap(super.instantiate(store, nativeModule(module)))
  }

  /** Resolves `module`'s imports once, for cheap repeated instantiation. */
  // @ts-expect-error: takes and returns the facade's classes
  override instantiatePre(module: Module): InstancePre {
    return new InstancePre(super.instantiatePre(nativeModule(module)), this)
  }
}

/**
 * A module with its imports resolved.
 * [`wasmtime::InstancePre`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.InstancePre.html).
 */
export class InstancePre {
  readonly #pre: native.InstancePre
  /** Keeps the linker's host functions alive as long as this lives. */
  readonly #linker: Linker
  constructor(pre: native.InstancePre, linker: Linker) {
    this.#pre = pre
    this.#linker = linker
  }

  /** Instantiates into `store`; a WASI module needs a fresh `WasiContext` per store. */
  instantiate(store: Store, wasi?: native.WasiContext): Instance {
    return Instance.wrap(this.#pre.instantiate(store, wasi))
  }
}

export interface RunWasiOptions extends native.WasiOptions {
  /** Accepted for `node:wasi` compatibility: `proc_exit` always returns here, never exits Node. */
  returnOnExit?: boolean
  /** Limits for the store the command runs in. */
  store?: StoreOptions
}

export interface WasiResult {
  /** The guest's exit code (`proc_exit`, or 0 when `_start` returns). */
  exitCode: number
  /** Captured output (`null` when inherited or ignored). */
  stdout: Buffer | null
  stderr: Buffer | null
}

/**
 * Runs a WASI command module (its `_start`) in a fresh store, like
 * `wasmtime run`: stdout and stderr are captured as Buffers by default.
 */
export function runWasiCommand(module: Module, options: RunWasiOptions = {}): WasiResult {
  checkOptions(options, ['args', 'env', 'preopens', 'stdin', 'stdout', 'stderr', 'returnOnExit', 'store'], 'runWasiCommand()')
  const { store: storeOptions, returnOnExit: _, ...wasiOptions } = options
  const store = new Store(module.engine, storeOptions)
  try {
    const wasi = new WasiContext(wasiOptions)
    const linker = new Linker(module.engine)
    linker.defineWasi(wasi)
    const instance = linker.instantiate(store, module)
    const start = instance.exports._start
    if (typeof start !== 'function') {
      throw codedError(TypeError, 'ERR_WASMTIME_WASI', 'this module has no _start export: it is not a WASI command')
    }
    let exitCode = 0
    try {
      start()
    } catch (e) {
      const err = e as { code?: string; exitCode?: number }
      if (err?.code !== 'ERR_WASMTIME_EXIT') throw e
      exitCode = err.exitCode ?? 1
    }
    return { exitCode, stdout: wasi.stdout, stderr: wasi.stderr }
  } finally {
    store.dispose()
  }
}

export interface Stats {
  /** Bytes of package memory held by raw-loaded modules (their artifacts). */
  pinnedBytes: number
  /** How many such regions. */
  pinnedRegions: number
  /** Bytes of compiled code reported to V8 as external memory (GC pressure). */
  reportedBytes: number
  /** Stores whose instances, memories and tables are not freed yet. */
  stores: number
}

/** Native counters (process-wide). */
export function stats(): Stats {
  return native.stats()
}

/** The host page size: the alignment `deserializeRaw` needs on native engines. */
export const pageSize: number = native.pageSize()

/** The wasmtime version artifacts must have been made with. */
export const wasmtimeVersion: string = native.wasmtimeVersion()
