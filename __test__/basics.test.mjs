// The embedding basics: engines, compiling, validating, calling, memory, traps.
import test from 'ava'
import { createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as esm from '../index.mjs'
import { ARITH_WAT, binding, tempDir } from './helpers.mjs'

const require = createRequire(import.meta.url)
const cjs = require('../')
const { Engine, Module, Store, Instance, Linker, Memory } = esm

test('CommonJS and ESM entries export the same classes', (t) => {
  t.is(cjs.Module, esm.Module)
  t.is(cjs.Engine, esm.Engine)
  t.is(typeof esm.readPrecompiled, 'function')
  t.is(esm.wasmtimeVersion, '48.0.8')
  for (const name of Object.keys(cjs).filter((k) => k !== '__esModule')) t.is(esm[name], cjs[name], `ESM exports ${name}`)
})

test('the engine is optional and last: Engine.default is shared', (t) => {
  t.is(Engine.default, Engine.default)
  const m = new Module(ARITH_WAT)
  const inst = new Instance(new Store(), m)
  t.is(inst.exports.add(2, 3), 5)
})

test('every numeric type crosses the boundary', (t) => {
  const { exports: x } = new Instance(new Store(), new Module(ARITH_WAT))
  t.is(x.add(0x7fffffff, 1), -0x80000000)
  t.is(x.add64(2n ** 63n - 1n, 1n), -(2n ** 63n))
  t.is(x.add64(40, 2), 42n, 'a safe integer is accepted for i64')
  t.is(x.mulf32(1.5, 2.5), 3.75)
  t.is(x.mulf32(0.1, 1), Math.fround(0.1))
  t.is(x.divf64(1, 3), 1 / 3)
  t.true(Number.isNaN(x.divf64(0, 0)))
  t.deepEqual(x.swap(7, 9n), [9n, 7])
  t.deepEqual(x.swap.params, ['i32', 'i64'])
  t.deepEqual(x.swap.results, ['i64', 'i32'])
})

test('params, results and callAsync are shared by every wasm function through one prototype, over Function.prototype', (t) => {
  const { exports: x } = new Instance(new Store(), new Module(ARITH_WAT))
  const proto = Object.getPrototypeOf(x.swap)
  t.is(Object.getPrototypeOf(x.add), proto)
  t.is(Object.getPrototypeOf(proto), Function.prototype)
  t.is(x.swap.constructor, Function)
  t.is(x.swap.call(null, 1, 2n)[1], 1, 'call, apply and bind are those of any function')
  t.deepEqual(Object.keys(x.swap), [])
  // Each read is a new array: changing one changes nothing else.
  x.swap.params.push('f64')
  x.swap.results.length = 0
  t.deepEqual(x.swap.params, ['i32', 'i64'])
  t.deepEqual(x.swap.results, ['i64', 'i32'])
  t.not(x.swap.params, x.swap.params)
  // Read from anything but a wasm function, the getters throw a coded TypeError.
  for (const self of [proto, () => {}, {}, Object.create(proto)]) {
    for (const key of ['params', 'results']) t.throws(() => Reflect.get(proto, key, self), { instanceOf: TypeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  }
})

test('wrong argument counts and types are TypeErrors', (t) => {
  const { exports: x } = new Instance(new Store(), new Module(ARITH_WAT))
  t.throws(() => x.add(1), { instanceOf: TypeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  t.throws(() => x.add(1, 'x'), { instanceOf: TypeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  t.throws(() => x.add64(1.5, 1n), { instanceOf: TypeError })
})

test('traps become errors with a stable code and trapCode', (t) => {
  const { exports: x } = new Instance(new Store(), new Module(ARITH_WAT))
  const e1 = t.throws(() => x.boom(), { code: 'ERR_WASMTIME_TRAP' })
  t.is(e1.trapCode, 'unreachable')
  t.regex(e1.message, /unreachable/)
  t.is(t.throws(() => x.div(1, 0)).trapCode, 'integer_divide_by_zero')
  t.is(t.throws(() => x.load(70000)).trapCode, 'memory_out_of_bounds')
  t.is(t.throws(() => x.recurse(0)).trapCode, 'stack_overflow', 'deep recursion is a trap, not a crash')
  t.is(x.add(1, 1), 2, 'the instance still works after traps')
})

test('memory.buffer views linear memory without a copy', (t) => {
  const { exports: x } = new Instance(new Store(), new Module(ARITH_WAT))
  const view = Buffer.from(x.memory.buffer)
  t.is(view.subarray(1024, 1049).toString(), 'hello from a data segment')
  view[5] = 99
  t.is(x.load(5), 99, 'a write through the view is seen by wasm')
  t.is(x.memory.size(), 1)
  t.is(x.memory.grow(1), 1)
  t.is(x.memory.buffer.byteLength, 2 * 65536, 'a new buffer after growth, like WebAssembly.Memory')
  t.is(x.memory.read(1024, 5).toString(), 'hello')
  x.memory.write(0, Buffer.from([1, 2, 3]))
  t.is(x.load(2), 3)
})

test('memory.write copies from a view of the same memory like copyWithin, overlapping either way, and takes only bytes', (t) => {
  const { exports: x } = new Instance(new Store(), new Module(ARITH_WAT))
  const mem = new Uint8Array(x.memory.buffer)
  const fill = () => { for (let i = 0; i < 256; i++) mem[i] = i }
  const expected = (target, start, end) => { fill(); const a = Uint8Array.from(mem.subarray(0, 256)); a.copyWithin(target, start, end); return a }
  for (const [target, start, end] of [[10, 0, 200], [0, 10, 210], [3, 3, 100]]) {
    const want = expected(target, start, end)
    fill()
    x.memory.write(target, mem.subarray(start, end))
    t.deepEqual(mem.subarray(0, 256), want, `write(${target}, view ${start}..${end})`)
  }
  for (const bad of ['bytes', [1, 2], new Int8Array(2), new Uint16Array(2), new DataView(new ArrayBuffer(2))]) {
    t.throws(() => x.memory.write(0, bad), { instanceOf: TypeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /Uint8Array or Buffer/ })
  }
})

test('a disposed store refuses calls; a view taken before keeps its memory mapped until collected', (t) => {
  const store = new Store()
  const { exports: x } = new Instance(store, new Module(ARITH_WAT))
  const buf = x.memory.buffer
  t.is(buf.byteLength, 65536)
  const live = esm.stats().stores
  store[Symbol.dispose]()
  t.true(store.isDisposed)
  t.throws(() => x.add(1, 2), { code: 'ERR_WASMTIME_STORE_DISPOSED' })
  t.throws(() => x.memory.buffer, { code: 'ERR_WASMTIME_STORE_DISPOSED' })
  t.is(esm.stats().stores, live, 'not freed while a view can still reach the memory')
  t.is(Buffer.from(buf, 1024, 5).toString(), 'hello', 'the view still reads mapped memory')
  const plain = new Store()
  new Instance(plain, new Module(ARITH_WAT))
  plain.dispose()
  t.is(esm.stats().stores, live, 'a store without views is freed at dispose()')
})

test('validate, imports and exports', (t) => {
  t.true(Module.validate(Buffer.from('0061736d01000000', 'hex')))
  t.false(Module.validate(Buffer.from('0061736d02000000', 'hex')))
  const m = new Module(`(module (import "env" "f" (func (param i32 externref) (result i64)))
    (import "env" "m" (memory 1 2)) (import "env" "t" (table 1 funcref)) (import "env" "g" (global (mut f32)))
    (global (export "g") i32 (i32.const 1)) (func (export "h")) (memory (export "m64") i64 1))`)
  t.deepEqual(m.imports, [
    { module: 'env', name: 'f', kind: 'func', params: ['i32', 'externref'], results: ['i64'] },
    { module: 'env', name: 'm', kind: 'memory', minimum: 1, maximum: 2, shared: false, memory64: false },
    { module: 'env', name: 't', kind: 'table', minimum: 1, element: 'funcref' },
    { module: 'env', name: 'g', kind: 'global', value: 'f32', mutable: true },
  ])
  t.deepEqual(m.exports, [
    { name: 'g', kind: 'global', value: 'i32', mutable: false },
    { name: 'h', kind: 'func', params: [], results: [] },
    { name: 'm64', kind: 'memory', minimum: 1, shared: false, memory64: true },
  ])
  t.throws(() => new Module('(module (func (result i32)))'), { code: 'ERR_WASMTIME_COMPILE' })
  t.throws(() => new Instance(new Store(), m), { code: 'ERR_WASMTIME_INSTANTIATE', message: /unknown import/ })
})

test('linker.func takes a function import or export as module.imports and module.exports list it', (t) => {
  const m = new Module(`(module (import "env" "f" (func $f (param i32) (result i32))) (import "env" "m" (memory 1))
    (func (export "run") (param i32) (result i32) (call $f (local.get 0))))`)
  const [f, mem] = m.imports
  const store = new Store()
  const linker = new Linker()
  linker.func(f.module, f.name, f, (x) => x * 3)
  linker.defineMemory(store, 'env', 'm', new Memory(store, { minimum: 1 }))
  t.is(linker.instantiate(store, m).exports.run(14), 42)
  // An export's type serves too (it has no `module`): here, for a module
  // that imports a function of that type.
  linker.func('other', 'run', m.exports[0], (x) => x + 1)
  const user = new Module('(module (import "other" "run" (func $r (param i32) (result i32))) (func (export "go") (result i32) (call $r (i32.const 1))))')
  t.is(linker.instantiate(store, user).exports.go(), 2)
  t.throws(() => linker.func(mem.module, 'm2', mem, () => {}), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /the type of a memory, not of a function/ })
  t.throws(() => linker.func('env', 'g', { ...f, mutable: true }, () => {}), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /unknown option 'mutable'/ })
})

test('the three loaders agree', (t) => {
  const engine = new Engine()
  const art = engine.precompileModule(ARITH_WAT)
  const file = join(tempDir('basics'), 'arith.cwasm')
  writeFileSync(file, art)
  for (const m of [Module.deserialize(art, engine), Module.deserializeFile(file, engine), Module.deserializeRaw(art, engine)]) {
    const { exports: x } = new Instance(new Store(engine), m)
    t.is(x.add(20, 22), 42)
  }
})

test('serialize and precompileModule return page-aligned buffers', (t) => {
  const engine = new Engine()
  for (const b of [engine.precompileModule(ARITH_WAT), new Module(ARITH_WAT, engine).serialize()]) {
    t.is(binding.addressOf(b) % esm.pageSize, 0)
  }
})

test('engine options: pulley, opt level, unwind info, bad values', (t) => {
  const pulley = new Engine({ target: 'pulley64' })
  t.true(pulley.isPulley)
  t.is(new Instance(new Store(pulley), new Module(ARITH_WAT, pulley)).exports.add(1, 2), 3)
  for (const o of [{ optLevel: 'none' }, { optLevel: 'speed_and_size' }, { parallelCompilation: false }, { nativeUnwindInfo: false }]) {
    const e = new Engine(o)
    t.is(new Instance(new Store(e), new Module(ARITH_WAT, e)).exports.add(1, 2), 3, JSON.stringify(o))
  }
  t.throws(() => new Engine({ optLevel: 'fast' }), { code: 'ERR_WASMTIME_CONFIG' })
  t.throws(() => new Engine({ target: 'no-such-arch' }), { code: 'ERR_WASMTIME_CONFIG' })
})

test('the compatibility hash is stable and tells configurations apart', (t) => {
  const a = new Engine().precompileCompatibilityHash()
  t.regex(a, /^[0-9a-f]{16}$/)
  t.is(new Engine().precompileCompatibilityHash(), a)
  t.not(new Engine({ target: 'pulley64' }).precompileCompatibilityHash(), a)
  t.not(new Engine({ optLevel: 'none' }).precompileCompatibilityHash(), a)
})

test('modules and stores of different engines do not mix', (t) => {
  const m = new Module(ARITH_WAT, new Engine())
  t.throws(() => new Instance(new Store(new Engine()), m), { code: 'ERR_WASMTIME_INSTANTIATE' })
})

test('compiled code is reported to V8 as external memory', (t) => {
  const before = esm.stats().reportedBytes
  const m = new Module(ARITH_WAT)
  const [s, e] = m.imageRange()
  t.is(esm.stats().reportedBytes - before, e - s)
  m[Symbol.dispose]()
  t.is(esm.stats().reportedBytes, before, 'disposal reports the memory gone')
  const art = new Engine().precompileModule(ARITH_WAT)
  const length = art.length
  const raw = Module.deserializeRaw(art)
  t.true(raw.isRaw)
  t.is(esm.stats().reportedBytes - before, length, 'raw code is package memory the module now owns: reported')
  raw[Symbol.dispose]()
  t.is(esm.stats().reportedBytes, before)
})
