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
import { checkOptions, codedError, invalidArgument, isWasmtimeError, recodeNative } from './errors'

// Errors napi-rs raises before native code runs (a wrong argument type), and
// caught panics, become coded errors: see `recodeNative`.
recodeNative(native as unknown as Record<string, unknown>, native.takePanic)

/**
 * A native constructor's error, coded unless it already is: constructors run
 * no JavaScript of the caller's, so an uncoded error is napi-rs refusing an
 * argument (a wrong type, a missing object).
 */
function constructorError(e: unknown, what: string): unknown {
  return e instanceof Error && !isWasmtimeError(e) ? invalidArgument(e, what) : e
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

export type { ValType, RefTypeName, ExternKind, TrapCode, WasiInput, WasiOutput, WasmFunction } from '../binding.js'
type ValType = native.ValType
type RefTypeName = native.RefTypeName
type WasmFunction = native.WasmFunction

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
/** The options of a WASI context, as `node:wasi` names them. */
const WASI_OPTIONS = ['args', 'env', 'preopens', 'stdin', 'stdout', 'stderr'] as const
export const WasiContext = checkedClass(native.WasiContext, 'WasiContext', 0, WASI_OPTIONS, false)
const RUN_OPTIONS = [...WASI_OPTIONS, 'returnOnExit', 'store', 'timeout', 'fuel'] as const
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
  /**
   * wasmtime's pooling allocator, for many short-lived instances: slots
   * reserved once, memories reset copy-on-write. `true`, or limits on what
   * all stores of the engine hold at once (instantiation past them fails).
   */
  pooling?: boolean | native.PoolingOptions
  /**
   * Bytes of the fiber stack each `fn.callAsync` runs on (default 2 MiB, or
   * `maxWasmStack` plus 1 MiB when 2 MiB is less than `maxWasmStack` plus
   * 256 KiB); at least `maxWasmStack` plus 256 KiB.
   */
  asyncStackSize?: number
  /**
   * Threads that run this engine's `callAsync` calls and WASI runs, in a pool
   * of its own (1 to 256). Default: the pool all engines share, one thread per
   * core (`WASMTIME_NAPI_THREADS` changes that).
   */
  asyncThreads?: number
}

const ENGINE_OPTIONS = ['target', 'optLevel', 'parallelCompilation', 'nativeUnwindInfo', 'consumeFuel', 'epochInterruption', 'maxWasmStack', 'cpuFeatures', 'pooling', 'asyncStackSize', 'asyncThreads'] as const
const POOLING_OPTIONS = ['totalCoreInstances', 'totalMemories', 'totalTables', 'totalStacks', 'maxMemorySize', 'maxMemoriesPerModule', 'maxTablesPerModule', 'tableElements', 'maxCoreInstanceSize', 'memoryKeepResident', 'tableKeepResident'] as const
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
  declare trapCode: native.TrapCode
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
    if (typeof options?.pooling === 'object') checkOptions(options.pooling, POOLING_OPTIONS, 'new Engine({ pooling })')
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

  /**
   * A handle to post to a worker (`postMessage`), where `Engine.fromShared`
   * returns a wrapper over this same engine. Valid while this Engine lives
   * (a garbage-collected Engine's handles are stale).
   */
  share(): SharedEngine {
    const id = native.shareEngine(this)
    adoptEngine(this)
    return { wasmtimeNapi: 'engine', id } as SharedEngine
  }

  /**
   * The engine a handle from `engine.share()` names, on this thread: one
   * Engine object per thread per engine (the one that shared it, on its own
   * thread), so `new Store(engine)` and modules shared from it go together.
   */
  static fromShared(handle: SharedEngine): Engine {
    const fresh = Reflect.construct(native.Engine, [undefined, sharedId(handle, 'engine', 'Engine.fromShared')], Engine) as Engine
    return adoptEngine(fresh)
  }
}

declare const sharedBrand: unique symbol
/**
 * What `engine.share()` returns: a plain, structured-cloneable object for
 * `postMessage`, valid in this process only, while the Engine lives.
 */
export type SharedEngine = { readonly wasmtimeNapi: 'engine'; readonly id: string; readonly [sharedBrand]: 'engine' }
/**
 * What `module.share()` returns: a plain, structured-cloneable object for
 * `postMessage`, valid in this process only, until the Module is disposed or
 * collected.
 */
export type SharedModule = { readonly wasmtimeNapi: 'module'; readonly id: string; readonly [sharedBrand]: 'module' }

/** This thread's Engine object per engine key (see `Engine.fromShared`). */
const threadEngines = new Map<string, WeakRef<Engine>>()
const forgetEngine = new FinalizationRegistry<string>((key) => {
  if (threadEngines.get(key)?.deref() === undefined) threadEngines.delete(key)
})

/** The Engine object this thread already has for `engine`'s engine, or `engine`, now registered. */
function adoptEngine(engine: Engine): Engine {
  const key = native.engineKey(engine)
  const known = threadEngines.get(key)?.deref()
  if (known) return known
  threadEngines.set(key, new WeakRef(engine))
  forgetEngine.register(engine, key)
  return engine
}

/** The registry id of a handle of `kind`, or a coded TypeError naming what was wrong. */
function sharedId(handle: unknown, kind: 'engine' | 'module', where: string): string {
  const h = handle as { wasmtimeNapi?: unknown; id?: unknown } | null
  const tag = typeof h === 'object' && h !== null ? h.wasmtimeNapi : undefined
  if (tag === kind && typeof h!.id === 'string') return h!.id
  const other = kind === 'engine' ? 'module' : 'engine'
  const hint = tag === other
    ? `it was given a ${other} handle (from ${other}.share()); pass that to ${other === 'module' ? 'Module' : 'Engine'}.fromShared()`
    : `got ${h === null ? 'null' : typeof h === 'object' ? 'an object that is not one' : typeof h}`
  throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `${where} expects the handle ${kind}.share() returned (posted to this thread as it is); ${hint}`)
}

function engineOf(engine: Engine | undefined): Engine {
  const e = engine ?? Engine.default
  if (!(e instanceof native.Engine)) {
    throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'expected an Engine (or nothing, for Engine.default)')
  }
  return e
}

/** A type that wasm reports, which may be a GC reference type. */
type AnyValType = ValType | RefTypeName
/** The type of an import or export, by `kind`. */
export type ExternType =
  | { kind: 'func'; params: AnyValType[]; results: AnyValType[] }
  | { kind: 'memory'; minimum: number; maximum?: number; shared: boolean; memory64: boolean }
  | { kind: 'table'; element: 'funcref' | 'externref' | RefTypeName; minimum: number; maximum?: number }
  | { kind: 'global'; value: AnyValType; mutable: boolean }
  | { kind: 'tag' }
/** An import with its full type: `{ module, name, kind, ...fields of that kind }`. */
export type ImportType = ExternType & { module: string; name: string }
/** An export with its full type: `{ name, kind, ...fields of that kind }`. */
export type ExportType = ExternType & { name: string }

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
   * after a transfer, so nothing JavaScript does can change the code. On
   * Linux its pages also move (no copy) to addresses JavaScript never saw, so
   * a write into `buffer` still in flight (an `fs.read` from a pipe) lands
   * in fresh pages the module never reads. Loading the same buffer again
   * throws `ERR_WASMTIME_DETACHED_BUFFER`: reuse the Module instead.
   */
  static deserializeRaw(buffer: Uint8Array, engine?: Engine): Module {
    const e = engineOf(engine)
    return Module.#wrap(native.Module.deserializeRaw(e, buffer), e)
  }

  /** Imports with full types, e.g. `{ module, name, kind: 'func', params: ['i32'], results: ['i64'] }`. */
  get imports(): ImportType[] {
    return this[NATIVE].imports as unknown as ImportType[]
  }

  /** Exports with full types. */
  get exports(): ExportType[] {
    return this[NATIVE].exports as unknown as ExportType[]
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

  /**
   * A handle to post to a worker (`postMessage`), where `Module.fromShared`
   * returns a Module over this same compiled code: no compile, no copy, no
   * second load. Valid until this Module is disposed or collected; a Module
   * made from it holds the code itself from then on, whichever thread exits
   * first. Sharing again returns an equal handle.
   */
  share(): SharedModule {
    const id = this[NATIVE].share()
    adoptEngine(this.engine)
    return { wasmtimeNapi: 'module', id } as SharedModule
  }

  /**
   * The module a handle from `module.share()` names. Its `engine` is this
   * thread's Engine object for the sharing module's engine (see
   * `Engine.fromShared`): use it for stores (`new Store(module.engine)`).
   */
  static fromShared(handle: SharedModule): Module {
    const handleOf = native.Module.fromShared(sharedId(handle, 'module', 'Module.fromShared'))
    const known = threadEngines.get(handleOf.engineKey)?.deref()
    const engine = known ?? adoptEngine(Reflect.construct(native.Engine, [undefined, handleOf], Engine) as Engine)
    return Module.#wrap(handleOf, engine)
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

/** Store limits with the package's defaults filled in. */
function withStoreDefaults(options: StoreOptions | null | undefined): StoreOptions {
  return { ...options, tableElements: options?.tableElements ?? DEFAULT_TABLE_ELEMENTS }
}

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
      // The native constructor also makes this object keep the store's host
      // functions and externref values alive, as any handle taken from it does.
      super(e, options ?? undefined, DEFAULT_TABLE_ELEMENTS)
    } catch (err) {
      throw constructorError(err, 'new Store()')
    }
    this.engine = e
  }

  [Symbol.dispose](): void {
    this.dispose()
  }
}

/**
 * A value crossing between JavaScript and wasm: a number (i32, f32, f64), a
 * BigInt (i64, v128), a wasm function or null (funcref), or any JavaScript
 * value at all (externref), hence `unknown`. Typed functions
 * (`getTypedFunc`, `linker.func`) narrow it per value type.
 */
export type WasmValue = unknown

/** The JavaScript value wasm gives for a value of type `T`. */
export type FromWasm<T extends ValType> = T extends 'i32' | 'f32' | 'f64'
  ? number
  : T extends 'i64' | 'v128'
    ? bigint
    : T extends 'funcref'
      ? WasmFunction | null
      : unknown
/** The JavaScript values wasm accepts for a value of type `T`. */
export type ToWasm<T extends ValType> = T extends 'i32' | 'f32' | 'f64'
  ? number
  : T extends 'i64'
    ? bigint | number
    : T extends 'v128'
      ? bigint | Uint8Array
      : T extends 'funcref'
        ? WasmFunction | null
        : unknown
type Values<Ts extends readonly ValType[], Map extends 'from' | 'to'> = {
  -readonly [K in keyof Ts]: Map extends 'from' ? FromWasm<Ts[K]> : ToWasm<Ts[K]>
}
/** What a call returns for results `R`: nothing, one value, or an array. */
export type Results<R extends readonly ValType[], Map extends 'from' | 'to'> = R extends readonly []
  ? void
  : R extends readonly [infer Only extends ValType]
    ? Map extends 'from' ? FromWasm<Only> : ToWasm<Only>
    : Values<R, Map>

/** An exported wasm function whose type was checked: `instance.getTypedFunc('add', ['i32', 'i32'], ['i32'])`. */
export type TypedFunc<P extends readonly ValType[], R extends readonly ValType[]> = ((...args: Values<P, 'to'>) => Results<R, 'from'>) & {
  readonly params: ValType[]
  readonly results: ValType[]
  /** The same call off the JavaScript thread (see `WasmFunction.callAsync`). */
  callAsync(...args: Values<P, 'to'>): Promise<Results<R, 'from'>>
}

/**
 * A host function for parameters `P` and results `R` (`linker.func`). It may
 * return a Promise, which a guest in `callAsync` waits for (a synchronous
 * call throws `ERR_WASMTIME_HOST_PROMISE` instead).
 */
export type HostFunc<P extends readonly ValType[], R extends readonly ValType[]> = (...args: Values<P, 'from'>) => Results<R, 'to'> | Promise<Results<R, 'to'>>
/** The same, with the calling instance first (`{ caller: true }`). */
export type HostFuncWithCaller<P extends readonly ValType[], R extends readonly ValType[]> = (
  caller: Caller,
  ...args: Values<P, 'from'>
) => Results<R, 'to'> | Promise<Results<R, 'to'>>

export type ExportValue = WasmFunction | Memory | Table | Global
export type Exports = Readonly<Record<string, ExportValue>>
/**
 * One import: a JavaScript function (typed from the module at run time), a
 * wasm function, a Memory, Table or Global, or a number or BigInt for a
 * global.
 */
export type ImportValue = ((...args: never[]) => unknown) | ExportValue | number | bigint
/** An import object, as `WebAssembly.instantiate` takes it: `{ env: { f() {} } }`. */
export type Imports = Readonly<Record<string, Readonly<Record<string, ImportValue>>>>

export interface InstanceOptions {
  /** Satisfy every import left undefined with a function that traps if called. */
  defineUnknownImportsAsTraps?: boolean
}

/** Passed as `module` by `wrapInstance`, which has no module to pass. */
const WRAP = Symbol('wasmtime-napi.wrap')

/** Wraps an instance the native side made (Linker, InstancePre): its number in `store`. */
let wrapInstance: (store: Store, index: number) => Instance
/** The store and number of an Instance (`undefined` for anything else), for `linker.defineInstance`. */
let instanceOf: (instance: unknown) => [Store, number] | undefined

/**
 * An instantiated module, with `exports` shaped like
 * `WebAssembly.Instance#exports`.
 * [`wasmtime::Instance`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Instance.html).
 */
export class Instance {
  // The native side names an instance by its store and a number
  // (src-rs/instance.rs); holding the store keeps it, and the host functions
  // its object roots, alive as long as this instance.
  #store: Store
  #index: number
  #exports: Exports | undefined

  static {
    wrapInstance = (store, index) => new Instance(store, WRAP as unknown as Module, index as unknown as Imports)
    instanceOf = (i) => (typeof i === 'object' && i !== null && #store in i ? [i.#store, i.#index] : undefined)
  }

  /**
   * Instantiates `module` into `store`. `imports` is an import object like
   * `WebAssembly.instantiate`'s: JavaScript functions (typed from the
   * module), wasm functions, Memory, Table and Global objects, and numbers or
   * BigInts for global imports.
   */
  constructor(store: Store, module: Module, imports?: Imports, options: InstanceOptions = {}) {
    this.#store = store
    if ((module as unknown) === WRAP) {
      this.#index = imports as unknown as number
      return
    }
    if (!(store instanceof native.Store)) {
      throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'new Instance(store, module, imports?, options?) expects a Store')
    }
    const m = nativeModule(module)
    const wanted = m.imports as ImportType[]
    checkOptions(options, ['defineUnknownImportsAsTraps'], 'new Instance()')
    if (imports === undefined || wanted.length === 0) {
      this.#index = native.instanceCreate(store, m, options.defineUnknownImportsAsTraps ?? false)
      return
    }
    const linker = new native.Linker(store.engine)
    for (const imp of wanted) {
      const value = imports[imp.module]?.[imp.name]
      if (value === undefined) continue
      defineImport(linker, store, imp, value)
    }
    if (options.defineUnknownImportsAsTraps) linker.defineUnknownImportsAsTraps(m)
    this.#index = linker.instantiate(store, m)
  }

  /** The exports: functions, Memory, Table and Global objects. */
  get exports(): Exports {
    return (this.#exports ??= Object.freeze(native.instanceExports(this.#store, this.#index)) as Exports)
  }

  /** One export by name, or `undefined`. */
  getExport(name: string): ExportValue | undefined {
    return native.instanceGetExport(this.#store, this.#index, name) as ExportValue | undefined
  }

  /** The exported function `name`; throws if there is none. */
  getFunc(name: string): WasmFunction {
    return typedExport(this, name, 'function', (v) => native.isWasmFunction(v)) as WasmFunction
  }

  /**
   * The exported function `name`, checked to have exactly these parameter
   * and result types, and typed accordingly (like wasmtime's
   * `get_typed_func`): `getTypedFunc('add', ['i32', 'i32'], ['i32'])` is a
   * `(a: number, b: number) => number`. Throws `ERR_WASMTIME_INVALID_ARGUMENT`
   * if there is no such function or its type differs.
   */
  getTypedFunc<const P extends readonly ValType[], const R extends readonly ValType[]>(name: string, params: P, results: R): TypedFunc<P, R> {
    const f = this.getFunc(name)
    const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((t, i) => t === b[i])
    if (!Array.isArray(params) || !Array.isArray(results) || !same(f.params, params) || !same(f.results, results)) {
      throw codedError(
        TypeError,
        'ERR_WASMTIME_INVALID_ARGUMENT',
        `export '${name}' has type (${f.params.join(', ')}) -> (${f.results.join(', ')}), not (${String(params)}) -> (${String(results)})`,
      )
    }
    return f as unknown as TypedFunc<P, R>
  }

  /** The exported memory `name`; throws if there is none. */
  getMemory(name: string): Memory {
    return typedExport(this, name, 'memory', (v) => v instanceof native.Memory) as Memory
  }

  /** The exported table `name`; throws if there is none. */
  getTable(name: string): Table {
    return typedExport(this, name, 'table', (v) => v instanceof native.Table) as Table
  }

  /** The exported global `name`; throws if there is none. */
  getGlobal(name: string): Global {
    return typedExport(this, name, 'global', (v) => v instanceof native.Global) as Global
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
    // A GC reference type here is refused by the native side, with its name.
    linker.func(imp.module, imp.name, { params: imp.params as ValType[], results: imp.results as ValType[] }, value)
    return
  }
  if ((typeof value === 'number' || typeof value === 'bigint') && imp.kind === 'global') {
    const g = new native.Global(store, { value: imp.value as ValType, mutable: imp.mutable }, value)
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

/** A function type: `{ params: ['i32'], results: ['i64'] }`. */
export interface FuncType<P extends readonly ValType[] = readonly ValType[], R extends readonly ValType[] = readonly ValType[]> {
  params: P
  results: R
}

/**
 * Resolves imports by module and name: host functions, other instances'
 * exports, WASI. Composes the native linker.
 * [`wasmtime::Linker`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html).
 */
export class Linker {
  readonly engine: Engine
  readonly #native: native.Linker
  /**
   * The host functions defined here, by module and name (a redefinition
   * replaces one). The native side holds them weakly, so that a host function
   * closing over a store's exports does not keep that store alive; this map
   * (and the stores' own roots) keep them.
   */
  readonly #hostFunctions = new Map<string, Function>()

  constructor(engine?: Engine) {
    const e = engineOf(engine)
    try {
      this.#native = new native.Linker(e)
    } catch (err) {
      throw constructorError(err, 'new Linker()')
    }
    this.engine = e
  }

  /**
   * Lets later definitions replace earlier ones of the same name (default: an error).
   * [`allow_shadowing`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.allow_shadowing)
   */
  allowShadowing(allow: boolean): void {
    this.#native.allowShadowing(allow)
  }

  /**
   * Defines `module.name` as a host function of type `{ params, results }`;
   * its arguments and result are typed from them. With `{ caller: true }`,
   * the calling instance comes first.
   * [`func_new`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.func_new)
   */
  func<const P extends readonly ValType[], const R extends readonly ValType[]>(
    module: string,
    name: string,
    ty: FuncType<P, R>,
    func: HostFunc<P, R>,
    options?: { caller?: false } | null,
  ): void
  func<const P extends readonly ValType[], const R extends readonly ValType[]>(
    module: string,
    name: string,
    ty: FuncType<P, R>,
    func: HostFuncWithCaller<P, R>,
    options: { caller: true },
  ): void
  /**
   * The same, typed by a function import or export as `module.imports` and
   * `module.exports` list them (`{ kind: 'func', module, name, params, results }`).
   */
  func(module: string, name: string, ty: ImportType | ExportType, func: (...args: any[]) => unknown, options?: FuncOptions | null): void
  func(module: string, name: string, ty: FuncType | ImportType | ExportType, func: Function, options?: FuncOptions | null): void {
    const what = `linker.func(${module}.${name}) type`
    // An import or export entry: the native side reads only its params and results.
    const entry = ty !== null && typeof ty === 'object' && 'kind' in ty
    if (entry && ty.kind !== 'func') {
      throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `${what}: the type of a ${ty.kind}, not of a function; pass { params, results } or a 'func' entry of module.imports or module.exports`)
    }
    checkOptions(ty, entry ? ['kind', 'module', 'name', 'params', 'results'] : ['params', 'results'], what)
    checkOptions(options, ['caller'], `linker.func(${module}.${name}) options`)
    this.#native.func(module, name, ty as native.FuncTypeDesc, func, options)
    this.#hostFunctions.set(`${module.length}:${module}${name}`, func)
  }

  /** Defines `module.name` as a wasm function, Memory, Table or Global of `store`. */
  define(store: Store, module: string, name: string, item: ExportValue): void {
    defineItem(this.#native, store, module, name, item)
  }

  /** Defines `module.name` as a wasm function of `store` (an export, or a funcref). */
  defineFunc(store: Store, module: string, name: string, func: WasmFunction): void {
    this.#native.defineFunc(store, module, name, func)
  }

  /** Defines `module.name` as a Memory of `store`. */
  defineMemory(store: Store, module: string, name: string, memory: Memory): void {
    this.#native.defineMemory(store, module, name, memory)
  }

  /** Defines `module.name` as a Table of `store`. */
  defineTable(store: Store, module: string, name: string, table: Table): void {
    this.#native.defineTable(store, module, name, table)
  }

  /** Defines `module.name` as a Global of `store`. */
  defineGlobal(store: Store, module: string, name: string, global: Global): void {
    this.#native.defineGlobal(store, module, name, global)
  }

  /**
   * Defines every export of `instance` under the module name `name`.
   * [`instance`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.Linker.html#method.instance)
   */
  defineInstance(store: Store, name: string, instance: Instance): void {
    const named = instanceOf(instance)
    if (named === undefined) throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'linker.defineInstance(store, name, instance) expects an Instance')
    this.#native.defineInstance(store, name, ...named)
  }

  /** Defines the WASI preview1 imports over `ctx` (one context per store). */
  defineWasi(ctx: WasiContext): void {
    this.#native.defineWasi(ctx)
  }

  /** Satisfies every import of `module` not yet defined with a function that traps when called. */
  defineUnknownImportsAsTraps(module: Module): void {
    this.#native.defineUnknownImportsAsTraps(nativeModule(module))
  }

  /** Instantiates `module` into `store`. */
  instantiate(store: Store, module: Module): Instance {
    return wrapInstance(store, this.#native.instantiate(store, nativeModule(module)))
  }

  /** Resolves `module`'s imports once, for cheap repeated instantiation. */
  instantiatePre(module: Module): InstancePre {
    return wrapPre(this.#native.instantiatePre(nativeModule(module)), this)
  }
}

/** Wraps a native InstancePre with the Linker whose host functions it needs. */
let wrapPre: (pre: native.InstancePre, linker: Linker) => InstancePre

/**
 * A module with its imports resolved (`linker.instantiatePre(module)`).
 * [`wasmtime::InstancePre`](https://docs.rs/wasmtime/48.0.8/wasmtime/struct.InstancePre.html).
 */
export class InstancePre {
  #pre!: native.InstancePre
  /** Keeps the linker's host functions alive as long as this lives. */
  #linker!: Linker

  private constructor() {}

  static {
    wrapPre = (pre, linker) => {
      const p = new InstancePre()
      p.#pre = pre
      p.#linker = linker
      return p
    }
  }

  /** Instantiates into `store`; a WASI module needs a fresh `WasiContext` per store. */
  instantiate(store: Store, wasi?: WasiContext): Instance {
    return wrapInstance(store, this.#pre.instantiate(store, wasi))
  }
}

export interface RunWasiOptions extends native.WasiOptions {
  /** Accepted for `node:wasi` compatibility: `proc_exit` always returns here, never exits Node. */
  returnOnExit?: boolean
  /** Limits for the store the command runs in. */
  store?: StoreOptions
  /** Milliseconds from the call after which the guest is stopped (a WasmTrap, `interrupt`), at most 2^31 - 1. */
  timeout?: number
  /** Fuel for an engine made with `consumeFuel` (required there). */
  fuel?: bigint | number
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
 * `wasmtime run`: stdout and stderr are captured as Buffers by default. It
 * blocks the JavaScript thread, so nothing else can stop the guest: pass a
 * `timeout` (or `fuel`) for a guest you do not trust, or use
 * `runWasiCommandAsync`.
 */
export function runWasiCommand(module: Module, options: RunWasiOptions = {}): WasiResult {
  checkOptions(options, RUN_OPTIONS, 'runWasiCommand()')
  const { store: storeOptions, returnOnExit: _, timeout, fuel, ...wasiOptions } = options
  checkTimeout(timeout, 'runWasiCommand()')
  const store = new Store(module.engine, storeOptions)
  try {
    // Before instantiation, which runs a start function.
    if (timeout !== undefined) store.setDeadline(timeout)
    if (fuel !== undefined) store.setFuel(fuel)
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

/** Where a guest's output goes in `runWasiCommandAsync`: a mode, a function given each chunk, or a Writable. */
export type WasiAsyncOutput = native.WasiOutput | ((chunk: Buffer) => void) | NodeJS.WritableStream
/** What a guest reads in `runWasiCommandAsync`: a mode, bytes, or a Readable (read to its end first). */
export type WasiAsyncInput = native.WasiInput | NodeJS.ReadableStream

export interface RunWasiAsyncOptions extends Omit<RunWasiOptions, 'stdin' | 'stdout' | 'stderr'> {
  stdin?: WasiAsyncInput
  /**
   * `'capture'` (default), `'inherit'`, `'ignore'`, a function, or a Writable:
   * chunks arrive as the guest writes it, and the guest waits while 8 MiB are
   * on their way. A function that throws, or a Writable that fails, stops the
   * run, which rejects with that error.
   */
  stdout?: WasiAsyncOutput
  stderr?: WasiAsyncOutput
  /** Stops the guest (or a run still waiting for a thread) when aborted; the promise rejects with `signal.reason`. */
  signal?: AbortSignal
}

const RUN_ASYNC_OPTIONS = [...RUN_OPTIONS, 'signal'] as const
/** The longest `setTimeout` waits (2^31 - 1 ms). */
const MAX_TIMEOUT = 2 ** 31 - 1

/** Refuses a WASI run's `timeout` above `MAX_TIMEOUT` (the rest is checked where it is used). */
function checkTimeout(timeout: unknown, what: string): void {
  if (typeof timeout === 'number' && timeout > MAX_TIMEOUT) {
    throw codedError(RangeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `${what}: timeout must be at most ${MAX_TIMEOUT} ms (about 24.8 days, the longest a Node timer waits), got ${timeout}`)
  }
}

/**
 * Runs a WASI command off the JavaScript thread: the guest runs on a native
 * thread (one per core run at once; more wait their turn) in a store of its
 * own, while the event loop keeps serving timers and I/O. Output given to a
 * function or a Writable streams as the guest writes it; captured output comes
 * with the result. Rejects with the `WasmTrap` or coded error a synchronous
 * run would throw, or with `signal.reason` when aborted.
 */
export function runWasiCommandAsync(module: Module, options: RunWasiAsyncOptions = {}): Promise<WasiResult> {
  try {
    nativeModule(module)
    checkOptions(options, RUN_ASYNC_OPTIONS, 'runWasiCommandAsync()')
    const { signal, timeout, stdin } = options
    // The timers that bound the wait for stdin and for a thread are Node's,
    // which fire at once past this (with a warning).
    checkTimeout(timeout, 'runWasiCommandAsync()')
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'runWasiCommandAsync(): signal must be an AbortSignal (from an AbortController)')
    }
    signal?.throwIfAborted()
    // The module is taken when the run starts: at once, or once a Readable
    // stdin has been read to its end (within the timeout and the signal).
    if (stdin !== null && typeof stdin === 'object' && !(stdin instanceof Uint8Array)) {
      const started = Date.now()
      // A timer of our own (AbortSignal.timeout's does not keep Node alive).
      const clock = new AbortController()
      const timer = timeout === undefined ? undefined : setTimeout(() => clock.abort(timeoutTrap(`stdin was not read to its end within the timeout (${timeout} ms); the guest never started`)), timeout)
      const limit = signal ? AbortSignal.any([signal, clock.signal]) : clock.signal
      return readInput(stdin, limit).then(
        (bytes) => {
          clearTimeout(timer)
          return startWasi(module, { ...options, timeout: timeout === undefined ? undefined : Math.max(0, timeout - (Date.now() - started)) }, bytes)
        },
        (e) => {
          clearTimeout(timer)
          throw e
        },
      )
    }
    return startWasi(module, options, stdin)
  } catch (e) {
    return Promise.reject(e)
  }
}

function startWasi(module: Module, options: RunWasiAsyncOptions, stdin: native.WasiInput | undefined): Promise<WasiResult> {
  const { stdout, stderr, timeout, signal, fuel, store, returnOnExit: _, stdin: __, ...wasi } = options
  signal?.throwIfAborted()
  let failure: { error: unknown } | undefined
  const sinks: Record<'stdout' | 'stderr', ((chunk: Buffer) => void) | undefined> = { stdout: undefined, stderr: undefined }
  const cleanups: (() => void)[] = []
  const mode = (which: 'stdout' | 'stderr', value: WasiAsyncOutput | undefined): native.WasiOutput | undefined => {
    if (typeof value === 'function') sinks[which] = value
    else if (value !== null && typeof value === 'object' && typeof (value as NodeJS.WritableStream).write === 'function') {
      const w = value as NodeJS.WritableStream
      const onError = (error: unknown) => fail(streamFailure(which, error, 'the guest was stopped'))
      w.on('error', onError)
      cleanups.push(() => w.removeListener('error', onError))
      sinks[which] = (chunk) => void w.write(chunk)
    } else return value as native.WasiOutput | undefined
    return undefined
  }
  const wasiOptions: native.WasiOptions = { ...wasi, stdin, stdout: mode('stdout', stdout), stderr: mode('stderr', stderr) }
  const storeOptions = withStoreDefaults(store)
  let run: native.WasiRun | undefined
  // A sink that throws or fails stops the guest; the run rejects with that error.
  function fail(error: unknown): void {
    failure ??= { error }
    run?.abort()
  }
  return new Promise<WasiResult>((resolve, reject) => {
    let settled = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const settle = () => {
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      for (const c of cleanups) c()
    }
    // A run still waiting for a pool thread is given up at once (it will not
    // start); one that runs is stopped at its next epoch check.
    const giveUp = (error: () => unknown) => {
      if (!settled && run?.cancelIfWaiting()) {
        settle()
        reject(error())
      }
    }
    const onAbort = () => {
      run?.abort()
      giveUp(() => signal!.reason)
    }
    try {
      run = native.runWasiCommandAsync(
        module.engine,
        nativeModule(module),
        wasiOptions,
        { timeout, fuel, store: storeOptions, abortable: signal !== undefined, streamStdout: sinks.stdout !== undefined, streamStderr: sinks.stderr !== undefined },
        (kind, value) => {
          if (settled) return
          if (kind === 'stdout' || kind === 'stderr') {
            if (failure) return
            try {
              sinks[kind]!(value as Buffer)
            } catch (e) {
              fail(e)
            }
            return
          }
          settle()
          if (failure) reject(failure.error)
          else if (kind === 'done') resolve(value as WasiResult)
          else reject(signal?.aborted ? signal.reason : value)
        },
      )
    } catch (e) {
      settle()
      throw e
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    if (timeout !== undefined) {
      timer = setTimeout(
        () => giveUp(() => timeoutTrap(`the run waited for a thread longer than its timeout (${timeout} ms)`)),
        timeout,
      )
    }
  })
}

/** The `interrupt` trap a `timeout` that fires before the guest runs rejects with, as one that fires while it runs does. */
function timeoutTrap(why: string): WasmTrap {
  return Object.assign(codedError(WasmTrap, 'ERR_WASMTIME_TRAP', `wasm trap: interrupt: ${why}`), { trapCode: 'interrupt' as const, wasmBacktrace: [] })
}

/** The coded error for a WASI stream that failed, carrying the stream's error as `cause`. */
function streamFailure(which: 'stdin' | 'stdout' | 'stderr', error: unknown, outcome: string): Error {
  return Object.assign(codedError(Error, 'ERR_WASMTIME_WASI', `the ${which} stream failed: ${(error as Error)?.message}; ${outcome}`), { cause: error })
}

/** A Readable read to its end, as bytes; rejects with `signal`'s reason when it fires first. */
async function readInput(stdin: object, signal: AbortSignal | undefined): Promise<native.WasiInput> {
  if (!(Symbol.asyncIterator in stdin)) {
    throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', "stdin must be 'inherit', 'ignore', bytes (a Buffer or Uint8Array) or a Readable")
  }
  const chunks: Buffer[] = []
  const read = (async () => {
    try {
      for await (const chunk of stdin as AsyncIterable<unknown>) {
        if (typeof chunk === 'string') chunks.push(Buffer.from(chunk))
        else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        else throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', 'stdin: a Readable in object mode gave a chunk that is neither a string nor bytes')
      }
    } catch (e) {
      throw isWasmtimeError(e) ? e : streamFailure('stdin', e, 'the guest never started')
    }
    return Buffer.concat(chunks)
  })()
  if (!signal) return read
  signal.throwIfAborted()
  return Promise.race([
    read,
    new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
  ])
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
  /** Native threads that run wasm off the JavaScript thread at once (`WASMTIME_NAPI_THREADS`, default one per core). */
  threads: number
}

/** Native counters (process-wide). */
export function stats(): Stats {
  return native.stats()
}

/** The host page size: the alignment `deserializeRaw` needs on native engines. */
export const pageSize: number = native.pageSize()

/** The wasmtime version artifacts must have been made with. */
export const wasmtimeVersion: string = native.wasmtimeVersion()
