// A strict ESM consumer (nodenext). Compiled by types.test.mjs with tsc
// --noEmit, skipLibCheck off; each @ts-expect-error line is misuse that must
// not compile (tsc fails on one that does).
import {
  Engine, Module, Store, Instance, Linker, Table, Global, WasiContext, WasmTrap, runWasiCommand,
  readPrecompiled, readPrecompiledSync, inspectArtifact,
  type Memory, type ValType, type TrapCode, type WasmFunction, type Caller, type ExportType,
} from 'wasmtime-napi'

const engine = new Engine({ optLevel: 'speed', epochInterruption: true })
const module = new Module('(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))', engine)
const store = new Store(engine, { memorySize: 1 << 20 })
store.setDeadline(100)

// Import and export types are discriminated by `kind`.
export function describe(e: ExportType): string {
  if (e.kind === 'func') return `${e.params.join(',')} -> ${e.results.join(',')}`
  if (e.kind === 'memory') return `${e.minimum} pages, shared: ${e.shared}`
  // @ts-expect-error: only functions have params
  if (e.kind === 'table') return e.params
  return e.kind
}

// Exports: a checked, typed function; memories with an ArrayBuffer.
const instance = new Instance(store, module)
const add = instance.getTypedFunc('add', ['i32', 'i32'], ['i32'])
export const three: number = add(1, 2)
// @ts-expect-error: an i32 parameter takes a number
add(1n, 2)
// @ts-expect-error: two parameters
add(1)
const wide = instance.getTypedFunc('wide', ['i64', 'v128'], ['i64', 'f32'])
export const pair: [bigint, number] = wide(1n, 2n)
const memory: Memory = instance.getMemory('memory')
export const bytes: ArrayBuffer = memory.buffer
const f: WasmFunction = instance.getFunc('add')
export const results: ValType[] = f.results
export const later: Promise<unknown> = f.callAsync(1, 2)
export const typedLater: Promise<number> = add.callAsync(1, 2)
// @ts-expect-error: callAsync takes the same parameters
add.callAsync('1', 2)
// @ts-expect-error: wrapping native handles is internal
Instance.wrap

// Host functions are typed from their params and results.
const linker = new Linker(engine)
linker.func('env', 'fetch', { params: ['i32'], results: ['i32'] }, async (n) => n + 1)
// @ts-expect-error: the Promise must carry the declared result
linker.func('env', 'fetch2', { params: ['i32'], results: ['i32'] }, async (n) => String(n))
linker.func('env', 'log', { params: ['i32', 'i64'], results: [] }, (a, b) => {
  const n: number = a
  const big: bigint = b
  void [n, big]
})
linker.func('env', 'twice', { params: ['f64'], results: ['f64'] }, (caller, v) => {
  const c: Caller = caller
  void c
  return v * 2
}, { caller: true })
// @ts-expect-error: 'i33' is not a value type
linker.func('env', 'bad', { params: ['i33'], results: [] }, () => {})
// @ts-expect-error: an i32 parameter arrives as a number
linker.func('env', 'bad', { params: ['i32'], results: [] }, (s: string) => void s)
// @ts-expect-error: must return an i32
linker.func('env', 'bad', { params: [], results: ['i32'] }, () => 'x')
// Typed by an import as module.imports lists it.
for (const imp of module.imports) if (imp.kind === 'func') linker.func(imp.module, imp.name, imp, (...args: unknown[]) => args.length)

// Import objects as WebAssembly.instantiate takes them.
new Instance(store, module, { env: { f: (x: number) => x + 1, g: 5, m: memory } })
// @ts-expect-error: an import is a function, a wasm item, or a number
new Instance(store, module, { env: { f: 'nope' } })

// WASI and options.
runWasiCommand(module, { args: ['app'], stdout: 'capture', stdin: new Uint8Array(0) })
// @ts-expect-error: misspelt stdio mode
runWasiCommand(module, { stdout: 'capure' })
new WasiContext({ stderr: 'inherit', preopens: { '/': '.' } })
// @ts-expect-error: unknown store option
new Store(engine, { memorysize: 1 })
new Table(store, { element: 'externref', minimum: 1 })
// @ts-expect-error: a table holds references
new Table(store, { element: 'i32', minimum: 1 })
new Global(store, { value: 'i64', mutable: true }, 1n)

// Traps have a trap code union.
try {
  add(1, 2)
} catch (e) {
  if (e instanceof WasmTrap) {
    const code: TrapCode = e.trapCode
    // @ts-expect-error: no such trap code
    if (e.trapCode === 'unreachabel') void code
  }
}

// Artifacts.
export const kind: 'module' | 'component' | 'unknown' = inspectArtifact(engine.precompileModule('(module)')).kind
await readPrecompiled('app.cwasm', { integrity: 'sha256-AAAA' })
readPrecompiledSync('app.cwasm', { verify: true })
// @ts-expect-error: unknown read option
readPrecompiledSync('app.cwasm', { integrty: 'x' })
