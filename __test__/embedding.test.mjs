// The embedding API of the second milestone: linker, host functions, values,
// memories, tables, globals, traps, and robustness under load.
import test from 'ava'
import {
  Engine, Module, Store, Instance, Linker, Memory, Table, Global, WasmTrap, stats,
} from '../index.mjs'
import { binding, gcUntil, linuxOnly, pagemap, settle } from './helpers.mjs'

const HOST_WAT = `(module
  (import "env" "add1" (func $add1 (param i32) (result i32)))
  (import "env" "reenter" (func $reenter (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hi there")
  (func (export "callAdd1") (param i32) (result i32) local.get 0 call $add1)
  (func (export "callReenter") (param i32) (result i32) local.get 0 call $reenter)
  (func (export "double") (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
  (func (export "loop") (param i32) (result i32) (local i32)
    (block (loop
      (br_if 1 (i32.eqz (local.get 0)))
      (local.set 1 (call $add1 (local.get 1)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br 0)))
    local.get 1))`

test('a plain import object works, as in WebAssembly.instantiate', (t) => {
  const m = new Module(HOST_WAT)
  const inst = new Instance(new Store(), m, { env: { add1: (x) => x + 1, reenter: (x) => x } })
  t.is(inst.exports.callAdd1(41), 42)
  t.is(inst.exports.loop(1000), 1000)
})

test('host functions may call back into the same store (re-entrancy)', (t) => {
  let x
  x = new Instance(new Store(), new Module(HOST_WAT), {
    env: { add1: (v) => v + 1, reenter: (v) => (v > 0 ? x.callReenter(v - 1) + x.double(1) : 0) },
  }).exports
  t.is(x.callReenter(5), 10, 'five nested wasm->JS->wasm round trips')
})

test('a caller gives the host function the calling instance\'s memory', (t) => {
  const store = new Store()
  const linker = new Linker()
  let seen
  linker.func('env', 'add1', { params: ['i32'], results: ['i32'] }, (caller, v) => {
    seen = Buffer.from(caller.getExport('memory').buffer, 0, 8).toString()
    return v + 1
  }, { caller: true })
  linker.func('env', 'reenter', { params: ['i32'], results: ['i32'] }, (v) => v)
  const inst = linker.instantiate(store, new Module(HOST_WAT))
  t.is(inst.exports.callAdd1(1), 2)
  t.is(seen, 'hi there')
  let kept
  linker.allowShadowing(true)
  linker.func('env', 'add1', { params: ['i32'], results: ['i32'] }, (caller) => ((kept = caller), 0), { caller: true })
  linker.instantiate(store, new Module(HOST_WAT)).exports.callAdd1(0)
  t.throws(() => kept.getExport('memory'), { message: /only valid during the host call/ })
})

test('a JS exception crosses three levels of wasm->JS->wasm->JS intact', (t) => {
  const thrown = new RangeError('deep')
  thrown.extra = 7
  let x
  x = new Instance(new Store(), new Module(HOST_WAT), {
    env: {
      add1: () => { throw thrown },
      reenter: (level) => (level === 0 ? x.callAdd1(0) : x.callReenter(level - 1)),
    },
  }).exports
  const caught = t.throws(() => x.callReenter(2))
  t.is(caught, thrown, 'the very same object')
  t.is(caught.extra, 7)
  t.true(Array.isArray(caught.wasmBacktrace) && caught.wasmBacktrace.length > 0, 'wasm frames attached')
  t.is(x.double(4), 8, 'the store is usable afterwards')
})

test('a host function returning the wrong type is a clear error', (t) => {
  const x = new Instance(new Store(), new Module(HOST_WAT), { env: { add1: () => 'nope', reenter: (v) => v } }).exports
  const err = t.throws(() => x.callAdd1(1), { instanceOf: TypeError })
  t.regex(err.message, /env\.add1 must be a number for a wasm i32/)
  const multi = new Module(`(module (import "env" "two" (func $two (result i32 i64)))
    (func (export "f") (result i32 i64) call $two))`)
  const y = new Instance(new Store(), multi, { env: { two: () => [1, 2n] } }).exports
  t.deepEqual(y.f(), [1, 2n])
  const z = new Instance(new Store(), multi, { env: { two: () => 1 } }).exports
  t.throws(() => z.f(), { code: 'ERR_WASMTIME_HOST', message: /array of 2 values/ })
})

test('host functions of number types get and give every value exactly, with 16 parameters and results (the raw convention) and with 17', (t) => {
  // Types of numbers only, up to 16 each way, take wasmtime's raw calling
  // convention (src-rs/host.rs `call_raw`); 17 take its typed one. Both must
  // carry the same bits: wasm checks what the host received, and JavaScript
  // checks what wasm got back.
  const types = ['i32', 'i64', 'f32', 'f64']
  const values = {
    i32: [-(2 ** 31), 2 ** 31 - 1, -1, 0],
    i64: [-(1n << 63n), (1n << 63n) - 1n, -1n, 0n],
    f32: [Math.fround(1.5), -0, Math.fround(3.4028234663852886e38), Infinity],
    f64: [Number.MIN_VALUE, -0, Number.MAX_VALUE, -Infinity],
  }
  // wasm constants for the same values, and how to compare them bit for bit.
  const wat = {
    i32: (v) => `(i32.const ${v})`,
    i64: (v) => `(i64.const ${v})`,
    f32: (v) => `(f32.const ${Object.is(v, -0) ? '-0' : v === Infinity ? 'inf' : v})`,
    f64: (v) => `(f64.const ${Object.is(v, -0) ? '-0' : v === -Infinity ? '-inf' : v.toExponential(17)})`,
  }
  const same = { i32: (a, b) => `(i32.eq ${a} ${b})`, i64: (a, b) => `(i64.eq ${a} ${b})`, f32: (a, b) => `(i32.eq (i32.reinterpret_f32 ${a}) (i32.reinterpret_f32 ${b}))`, f64: (a, b) => `(i64.eq (i64.reinterpret_f64 ${a}) (i64.reinterpret_f64 ${b}))` }
  for (const n of [1, 16, 17]) {
    const sig = Array.from({ length: n }, (_, i) => types[i % 4])
    const val = (i, round) => values[sig[i]][(i + round) % 4]
    const received = []
    const host = (...args) => {
      received.push(args)
      return n === 1 ? val(0, 1) : sig.map((_, i) => val(i, 1))
    }
    // `check` calls the host with round 0's values and returns 1 when the
    // host's results, held in locals, are round 1's values; `echo` returns them.
    const locals = sig.map((ty, i) => `(local $r${i} ${ty})`).join(' ')
    const call = `(call $h ${sig.map((_, i) => wat[sig[i]](val(i, 0))).join(' ')})`
    const keep = sig.map((_, i) => `(local.set $r${n - 1 - i})`).join(' ')
    const checks = sig.map((ty, i) => same[ty](`(local.get $r${i})`, wat[ty](val(i, 1))))
    const all = checks.reduce((acc, c) => `(i32.and ${acc} ${c})`)
    const m = new Module(`(module
      (import "env" "h" (func $h (param ${sig.join(' ')}) (result ${sig.join(' ')})))
      (func (export "check") (result i32) ${locals} ${call} ${keep} ${all})
      (func (export "echo") (param ${sig.join(' ')}) (result ${sig.join(' ')}) ${sig.map((_, i) => `(local.get ${i})`).join(' ')} call $h))`)
    const x = new Instance(new Store(), m, { env: { h: host } }).exports
    t.is(x.check(), 1, `${n}: wasm got the host's results exactly`)
    const expectedArgs = sig.map((_, i) => val(i, 0))
    t.true(Object.is(received[0].length, n) && received[0].every((v, i) => Object.is(v, expectedArgs[i])), `${n}: the host got wasm's arguments exactly: ${received[0]}`)
    const back = x.echo(...expectedArgs)
    const want = sig.map((_, i) => val(i, 1))
    t.true((n === 1 ? [back] : back).every((v, i) => Object.is(v, want[i])), `${n}: ${back}`)
    // A wrong result type is still a coded error, on either convention.
    const bad = new Instance(new Store(), m, { env: { h: () => (n === 1 ? 'nope' : sig.map(() => 'nope')) } }).exports
    t.throws(() => bad.check(), { instanceOf: TypeError, message: /env\.h/ })
  }
})

test('v128, externref, funcref and multi-value cross the boundary', (t) => {
  const m = new Module(`(module
    (table $t (export "table") 2 funcref)
    (elem (i32.const 0) $inc)
    (global $g (export "held") (mut externref) (ref.null extern))
    (func $inc (export "inc") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
    (func (export "v128id") (param v128) (result v128) local.get 0)
    (func (export "v128add") (param v128 v128) (result v128) local.get 0 local.get 1 i64x2.add)
    (func (export "externid") (param externref) (result externref) local.get 0)
    (func (export "hold") (param externref) local.get 0 global.set $g)
    (func (export "getf") (param i32) (result funcref) local.get 0 table.get $t)
    (func (export "callf") (param funcref i32) (result i32)
      (table.set $t (i32.const 1) (local.get 0))
      (call_indirect $t (param i32) (result i32) (local.get 1) (i32.const 1)))
    (func (export "isnull") (param externref) (result i32) local.get 0 ref.is_null)
    (func (export "divmod") (param i32 i32) (result i32 i32) (i32.div_u (local.get 0) (local.get 1)) (i32.rem_u (local.get 0) (local.get 1))))`)
  const x = new Instance(new Store(), m).exports
  const big = (1n << 127n) | 0x1234n
  t.is(x.v128id(big), big)
  t.is(x.v128add((1n << 64n) | 1n, (2n << 64n) | 2n), (3n << 64n) | 3n)
  t.is(x.v128id(Uint8Array.from({ length: 16 }, (_, i) => i)), 0x0f0e0d0c0b0a09080706050403020100n)
  const obj = { hello: 'world' }
  t.is(x.externid(obj), obj, 'the same object comes back')
  t.is(x.externid('a string'), 'a string')
  t.is(x.externid(null), null)
  t.is(x.isnull(null), 1)
  t.is(x.isnull(undefined), 1)
  t.is(x.isnull(0), 0, 'any non-null value, 0 included, is a reference')
  x.hold(obj)
  t.is(x.held.value, obj)
  const f = x.getf(0)
  t.is(typeof f, 'function')
  t.is(f(41), 42, 'a funcref comes out callable')
  t.is(x.callf(x.inc, 9), 10, 'and an exported function goes in as a funcref')
  t.throws(() => x.callf(() => 1, 0), { instanceOf: TypeError, message: /wasm function/ })
  t.deepEqual(x.divmod(17, 5), [3, 2])
})

test('NaN payloads survive where JavaScript can see them', (t) => {
  const x = new Instance(new Store(), new Module(`(module
    (func (export "nan") (result f64) i64.const 0x7ff8000000000123 f64.reinterpret_i64)
    (func (export "bits") (param f64) (result i64) local.get 0 i64.reinterpret_f64))`)).exports
  const n = x.nan()
  t.true(Number.isNaN(n))
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, n)
  t.is(view.getBigUint64(0), 0x7ff8000000000123n, 'the payload reached JavaScript')
  t.is(x.bits(n), 0x7ff8000000000123n, 'and went back into wasm unchanged')
})

test('memories: buffer identity, growth, host-created and imported, 64-bit', (t) => {
  const store = new Store()
  const mem = new Memory(store, { minimum: 1, maximum: 4 })
  t.deepEqual(mem.type, { kind: 'memory', minimum: 1, maximum: 4, shared: false, memory64: false })
  const m = new Module(`(module (import "env" "mem" (memory 1))
    (func (export "peek") (param i32) (result i32) local.get 0 i32.load8_u)
    (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))`)
  const x = new Instance(store, m, { env: { mem } }).exports
  const b1 = mem.buffer
  t.is(mem.buffer, b1, 'the same ArrayBuffer until the memory grows')
  new Uint8Array(b1)[10] = 77
  t.is(x.peek(10), 77, 'JavaScript writes are seen by the importing instance')
  t.is(x.grow(1), 1, 'wasm grows it')
  const b2 = mem.buffer
  t.not(b2, b1)
  t.is(b2.byteLength, 2 * 65536)
  t.is(new Uint8Array(b2)[10], 77)
  t.is(x.grow(10), -1, 'growth past the maximum fails in wasm')
  t.throws(() => mem.grow(10), { instanceOf: RangeError })
  t.is(mem.pageSize, 65536)
  const m64 = new Instance(new Store(), new Module(`(module (memory (export "m") i64 1)
    (func (export "store") (param i64 i32) local.get 0 local.get 1 i32.store8)
    (func (export "load") (param i64) (result i32) local.get 0 i32.load8_u))`)).exports
  m64.store(100n, 5)
  t.is(m64.load(100n), 5)
  t.true(m64.m.type.memory64)
  t.is(m64.m.read(100, 1)[0], 5)
})

test('tables: get, set, grow, size, with funcrefs and externrefs', (t) => {
  const store = new Store()
  const x = new Instance(store, new Module(`(module (table (export "t") 2 10 funcref)
    (func (export "f") (result i32) i32.const 7))`)).exports
  t.is(x.t.size(), 2)
  t.is(x.t.get(0), null)
  x.t.set(1, x.f)
  t.is(x.t.get(1)(), 7)
  t.is(x.t.grow(3, x.f), 2)
  t.is(x.t.size(), 5)
  t.is(x.t.get(4)(), 7)
  t.throws(() => x.t.get(99), { instanceOf: RangeError })
  t.throws(() => x.t.grow(100), { instanceOf: RangeError })
  const ext = new Table(store, { element: 'externref', minimum: 2 }, 'init')
  t.is(ext.get(1), 'init')
  const o = {}
  ext.set(0, o)
  t.is(ext.get(0), o)
  t.deepEqual(ext.type, { kind: 'table', minimum: 2, element: 'externref' })
})

test('globals: value get and set, honouring mutability', (t) => {
  const store = new Store()
  const g = new Global(store, { value: 'i64', mutable: true }, 5n)
  const c = new Global(store, { value: 'f32' }, 1.5)
  const x = new Instance(store, new Module(`(module
    (import "env" "g" (global $g (mut i64))) (import "env" "c" (global $c f32))
    (global (export "mine") (mut i32) (i32.const 3))
    (func (export "bump") global.get $g i64.const 1 i64.add global.set $g)
    (func (export "c") (result f32) global.get $c))`), { env: { g, c } }).exports
  x.bump()
  t.is(g.value, 6n, 'wasm writes are seen by JavaScript')
  g.value = 100n
  x.bump()
  t.is(g.value, 101n)
  t.is(x.c(), 1.5)
  t.throws(() => { c.value = 2 }, { instanceOf: TypeError, message: /immutable/ })
  t.throws(() => { g.value = 'x' }, { instanceOf: TypeError })
  t.deepEqual(x.mine.type, { kind: 'global', value: 'i32', mutable: true })
  x.mine.value = 9
  t.is(x.mine.value, 9)
  const n = new Instance(store, new Module('(module (import "env" "n" (global i32)) (func (export "n") (result i32) global.get 0))'), { env: { n: 42 } })
  t.is(n.exports.n(), 42, 'a number is accepted for a global import, as in Node')
})

test('traps are WasmTraps with a stable trapCode and a wasm backtrace', (t) => {
  const x = new Instance(new Store(), new Module(`(module
    (type $t (func (result i32)))
    (table 1 funcref) (elem (i32.const 0) $other)
    (func $other (param i32) local.get 0 drop)
    (func $boom (export "boom") unreachable)
    (func $outer (export "outer") call $boom)
    (func (export "div") (param i32) (result i32) i32.const 1 local.get 0 i32.div_s)
    (func (export "overflow") (result i32) i32.const 0x80000000 i32.const -1 i32.div_s)
    (func (export "indirect") (result i32) i32.const 0 call_indirect (type $t))
    (func $rec (export "rec") (param i32) (result i32) local.get 0 call $rec))`)).exports
  const e = t.throws(() => x.outer(), { instanceOf: WasmTrap })
  t.true(e instanceof Error)
  t.is(e.code, 'ERR_WASMTIME_TRAP')
  t.is(e.trapCode, 'unreachable')
  t.deepEqual(e.wasmBacktrace.map((f) => f.funcName), ['boom', 'outer'])
  t.true(e.wasmBacktrace.every((f) => typeof f.funcIndex === 'number' && typeof f.offset === 'number'))
  t.regex(e.message, /unreachable/)
  t.regex(e.message, /boom/)
  t.is(t.throws(() => x.div(0)).trapCode, 'integer_divide_by_zero')
  t.is(t.throws(() => x.overflow()).trapCode, 'integer_overflow')
  t.is(t.throws(() => x.indirect()).trapCode, 'indirect_call_type_mismatch')
  t.is(t.throws(() => x.rec(0)).trapCode, 'stack_overflow')
})

test('fuel and deadlines stop runaway wasm with out_of_fuel and interrupt', (t) => {
  const spin = '(module (func (export "spin") (loop (br 0))))'
  const fuelEngine = new Engine({ consumeFuel: true })
  const fs = new Store(fuelEngine)
  fs.setFuel(10000n)
  const e1 = t.throws(() => new Instance(fs, new Module(spin, fuelEngine)).exports.spin(), { instanceOf: WasmTrap })
  t.is(e1.trapCode, 'out_of_fuel')
  t.is(fs.getFuel(), 0n)
  // The default engine: no configuration, no JavaScript timer.
  const es = new Store()
  es.setDeadline(50)
  const x = new Instance(es, new Module(spin)).exports
  t.is(t.throws(() => x.spin(), { instanceOf: WasmTrap }).trapCode, 'interrupt')
  t.throws(() => new Store(new Engine({ epochInterruption: false })).setDeadline(10), { code: 'ERR_WASMTIME_CONFIG' })
})

test('store limits cap memory growth', (t) => {
  const store = new Store(undefined, { memorySize: 2 * 65536 })
  const x = new Instance(store, new Module('(module (memory (export "m") 1) (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))')).exports
  t.is(x.grow(1), 1)
  t.is(x.grow(1), -1, 'the third page is refused')
})

test('linking: defineInstance, define, instantiatePre, unknown imports as traps', (t) => {
  const store = new Store()
  const linker = new Linker()
  const lib = linker.instantiate(store, new Module('(module (func (export "seven") (result i32) i32.const 7) (memory (export "mem") 1))'))
  linker.defineInstance(store, 'lib', lib)
  const user = new Module('(module (import "lib" "seven" (func $s (result i32))) (import "lib" "mem" (memory 1)) (func (export "f") (result i32) call $s))')
  t.is(linker.instantiate(store, user).exports.f(), 7)
  const other = new Linker()
  other.define(store, 'lib', 'seven', lib.exports.seven)
  other.define(store, 'lib', 'mem', lib.exports.mem)
  const pre = other.instantiatePre(user)
  for (let i = 0; i < 5; i++) t.is(pre.instantiate(store).exports.f(), 7)
  t.throws(() => other.define(new Store(), 'x', 'y', lib.exports.seven), { message: /another Store/ })
  t.throws(() => linker.define(store, 'lib', 'seven', lib.exports.seven), { code: 'ERR_WASMTIME_LINK' }, 'no shadowing by default')
  const traps = new Linker()
  traps.defineUnknownImportsAsTraps(user)
  const err = t.throws(() => traps.instantiate(store, user))
  t.regex(err.message, /memory|mem/, 'memories cannot be traps')
})

test.serial('a linker holding a freed store\'s items refuses every later store, even one made where the freed one was', async (t) => {
  // The linker once knew its store by address alone, so a new store that the
  // allocator put where the freed one had been passed the same-store check.
  const user = new Module('(module (import "m" "f" (func $f (result i32))) (func (export "g") (result i32) call $f))')
  const linker = new Linker()
  const base = stats().stores
  ;(() => {
    const s = new Store()
    linker.defineFunc(s, 'm', 'f', new Instance(s, new Module('(module (func (export "f") (result i32) i32.const 1))')).exports.f)
  })()
  const pre = linker.instantiatePre(user)
  t.true(await gcUntil(() => stats().stores === base), 'the defining store is freed: the linker does not keep it alive')
  const codes = new Map()
  for (let i = 0; i < 2000; i++) {
    const s = new Store()
    for (const attempt of [() => linker.instantiate(s, user), () => pre.instantiate(s)]) {
      try {
        attempt()
        codes.set('instantiated', (codes.get('instantiated') ?? 0) + 1)
      } catch (e) {
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1)
      }
    }
    s.dispose()
  }
  t.deepEqual([...codes], [['ERR_WASMTIME_LINK', 4000]])
})

test('typed export lookups', (t) => {
  const inst = new Instance(new Store(), new Module('(module (memory (export "m") 1) (table (export "t") 1 funcref) (global (export "g") i32 (i32.const 4)) (func (export "f") (result i32) i32.const 1))'))
  t.is(inst.getFunc('f')(), 1)
  t.is(inst.getMemory('m').size(), 1)
  t.is(inst.getTable('t').size(), 1)
  t.is(inst.getGlobal('g').value, 4)
  t.is(inst.getExport('nope'), undefined)
  t.throws(() => inst.getFunc('m'), { instanceOf: TypeError, message: /no exported function named 'm'/ })
  t.throws(() => inst.getMemory('f'), { instanceOf: TypeError })
  const viaLinker = new Linker().instantiate(new Store(), new Module('(module (func (export "f") (result i32) i32.const 2))'))
  t.is(viaLinker.getFunc('f')(), 2, 'instances made by a linker too')
})

test('calling into a disposed store is a clear error; wrong arguments are TypeErrors', (t) => {
  const store = new Store()
  const x = new Instance(store, new Module(HOST_WAT), { env: { add1: (v) => v, reenter: (v) => v } }).exports
  t.throws(() => x.double(), { instanceOf: TypeError })
  t.throws(() => x.double(1, 2), { instanceOf: TypeError })
  t.throws(() => x.double({}), { instanceOf: TypeError })
  t.throws(() => x.double(1n), { instanceOf: TypeError })
  store.dispose()
  t.throws(() => x.double(1), { code: 'ERR_WASMTIME_STORE_DISPOSED', message: /disposed/ })
  t.throws(() => x.memory.buffer, { code: 'ERR_WASMTIME_STORE_DISPOSED' })
})

test.serial('100k host calls and 100k traps: no leak, no crash', async (t) => {
  const x = new Instance(new Store(), new Module(`(module
    (import "env" "add1" (func $add1 (param i32) (result i32)))
    (func (export "loop") (param i32) (result i32) (local i32)
      (block (loop (br_if 1 (i32.eqz (local.get 0)))
        (local.set 1 (call $add1 (local.get 1)))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br 0)))
      local.get 1)
    (func (export "trap") unreachable))`), { env: { add1: (v) => v + 1 } }).exports
  const round = () => {
    t.is(x.loop(100_000), 100_000)
    let traps = 0
    for (let i = 0; i < 100_000; i++) {
      try {
        x.trap()
      } catch (e) {
        if (e.trapCode === 'unreachable') traps++
      }
    }
    t.is(traps, 100_000)
  }
  round()
  await settle()
  const before = process.memoryUsage.rss()
  round()
  round()
  await settle()
  const after = process.memoryUsage.rss()
  t.true(after < before * 1.1, `RSS ${before} -> ${after}`)
})

test.serial('externrefs that wasm drops are released to the JS garbage collector', async (t) => {
  const store = new Store()
  const x = new Instance(store, new Module(`(module (table $t (export "t") 1000 externref)
    (func (export "put") (param i32 externref) local.get 0 local.get 1 table.set $t)
    (func (export "clear") (param i32) local.get 0 ref.null extern table.set $t))`)).exports
  let collected = 0
  const registry = new FinalizationRegistry(() => collected++)
  ;(() => {
    for (let i = 0; i < 1000; i++) {
      const o = { i }
      registry.register(o, i)
      x.put(i, o)
    }
  })()
  await settle()
  t.is(collected, 0, 'held by wasm, nothing is collected')
  t.is(x.t.get(500).i, 500)
  for (let i = 0; i < 1000; i++) x.clear(i)
  store.gc()
  t.true(await gcUntil(() => collected === 1000), `collected ${collected} of 1000`)
})

test('exported functions are plain named functions; `new` on one is a coded TypeError', (t) => {
  const x = new Instance(new Store(), new Module('(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))')).exports
  t.is(typeof x.add, 'function')
  t.is(x.add.name, 'add')
  t.deepEqual(x.add.params, ['i32', 'i32'])
  t.is(x.add.call({ not: 'the receiver' }, 2, 3), 5)
  t.is(Reflect.apply(x.add, null, [4, 5]), 9)
  t.throws(() => new x.add(1, 2), { instanceOf: TypeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /without `new`/ })
  t.throws(() => Reflect.construct(x.add, [1, 2], class {}), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  // The exports object is frozen, its properties shaped as V8's own.
  const v8 = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from('0061736d0100000001070160027f7f017f030201000707010361646400000a09010700200020016a0b', 'hex'))).exports
  t.true(Object.isFrozen(x))
  const shape = (o) => { const { value: _, ...d } = Object.getOwnPropertyDescriptor(o, 'add'); return d }
  t.deepEqual(shape(x), shape(v8))
  t.deepEqual(Object.keys(x), ['add'])
})

test('a wasm function\'s hidden link to its wasm function cannot be replaced, removed or copied onto another function', (t) => {
  const store = new Store()
  const x = new Instance(store, new Module(`(module (table (export "t") 1 funcref)
    (func (export "seven") (result i32) i32.const 7) (func (export "eight") (result i32) i32.const 8))`)).exports
  const keys = Object.getOwnPropertySymbols(x.seven)
  t.true(keys.length > 0)
  for (const k of keys) {
    t.throws(() => { x.seven[k] = x.eight[k] }, { instanceOf: TypeError })
    t.throws(() => { delete x.seven[k] }, { instanceOf: TypeError })
    t.throws(() => Object.defineProperty(x.seven, k, { value: {} }), { instanceOf: TypeError })
  }
  x.t.set(0, x.seven)
  t.is(x.t.get(0)(), 7)
  // A plain function, a bound copy or a Proxy carrying the same properties is
  // not a wasm function.
  const fake = () => 0
  for (const k of keys) Object.defineProperty(fake, k, { value: x.seven[k] })
  for (const f of [fake, x.seven.bind(null), new Proxy(x.seven, {})]) {
    t.throws(() => x.t.set(0, f), { instanceOf: TypeError })
  }
  t.is(x.t.get(0)(), 7)
})

test('a constructed Table keeps its store\'s host functions alive, like handles from exports', async (t) => {
  const setup = () => {
    const store = new Store()
    const table = new Table(store, { element: 'funcref', minimum: 1 })
    const global = new Global(store, { value: 'funcref', mutable: true }, null)
    const wat = `(module (import "env" "h" (func $h (result i32))) (table (import "env" "t") 1 funcref)
      (global (import "env" "g") (mut funcref)) (elem (i32.const 0) $h) (elem declare func $h)
      (func (export "init") ref.func $h global.set 0))`
    new Instance(store, new Module(wat), { env: { h: () => 42, t: table, g: global } }).exports.init()
    return { table, global }
  }
  const { table, global } = setup()
  await settle(30)
  t.is(table.get(0)(), 42)
  t.is(global.value(), 42)
})

test('a Store object alone keeps its host functions alive, like handles taken from it', async (t) => {
  const store = new Store()
  const linker = new Linker()
  // Only the store and the linker's definition (a wasmtime value, not a
  // JavaScript one) lead to the host function once this returns.
  ;(() => {
    const a = new Instance(store, new Module('(module (import "h" "f" (func $f (result i32))) (func (export "g") (result i32) call $f))'), { h: { f: () => 42 } })
    linker.defineInstance(store, 'a', a)
  })()
  await settle(30)
  const b = linker.instantiate(store, new Module('(module (import "a" "g" (func $g (result i32))) (func (export "run") (result i32) call $g))'))
  t.is(b.exports.run(), 42)
})

test('an Instance alone keeps its store and host functions alive; another store\'s instance and a number no store gave are coded errors', async (t) => {
  // The native side names an instance by its store and a number
  // (src-rs/instance.rs): the Instance object must hold the store itself.
  const instance = (() => new Instance(new Store(), new Module('(module (import "h" "f" (func $f (result i32))) (func (export "g") (result i32) call $f))'), { h: { f: () => 42 } }))()
  await settle(30)
  t.is(instance.getExport('g')(), 42)
  t.is(instance.exports.g(), 42)
  const err = t.throws(() => new Linker().defineInstance(new Store(), 'a', instance), { instanceOf: TypeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  t.regex(err.message, /another Store/)
  for (const fake of [Object.create(Instance.prototype), {}, null]) {
    t.throws(() => new Linker().defineInstance(new Store(), 'a', fake), { instanceOf: TypeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /expects an Instance/ })
  }
  // Through the binding, as only a caller bypassing the facade could.
  const store = new Store()
  const lib = new Linker().instantiate(store, new Module('(module (func (export "seven") (result i32) i32.const 7))'))
  t.is(binding.instanceGetExport(store, 0, 'seven')(), 7)
  for (const [s, n] of [[store, 1], [store, 2 ** 32 - 1], [new Store(), 0]]) {
    t.throws(() => binding.instanceGetExport(s, n, 'seven'), { instanceOf: RangeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /no instance with this number/ })
    t.throws(() => binding.instanceExports(s, n), { instanceOf: RangeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  }
  t.throws(() => binding.instanceGetExport({}, 0, 'seven'), { instanceOf: TypeError })
  t.is(lib.exports.seven(), 7)
  store.dispose()
  t.throws(() => lib.getExport('seven'), { code: 'ERR_WASMTIME_STORE_DISPOSED' })
})

test('new Engine({ pooling }) instantiates from reserved slots: data segments land, memories start fresh, its limits give coded errors', (t) => {
  const engine = new Engine({ pooling: { totalCoreInstances: 2, totalMemories: 2, totalTables: 2, maxMemorySize: 1 << 20 } })
  const module = new Module('(module (memory (export "m") 1) (data (i32.const 0) "hi") (func (export "poke") (i32.store8 (i32.const 8) (i32.const 7))))', engine)
  for (let round = 0; round < 5; round++) {
    const store = new Store(engine)
    const x = new Instance(store, module).exports
    t.deepEqual([...x.m.read(0, 2)], [104, 105])
    t.is(x.m.read(8, 1)[0], 0, 'a slot reused is reset')
    x.poke()
    store.dispose()
  }
  const store = new Store(engine)
  new Instance(store, module)
  new Instance(store, module)
  t.throws(() => new Instance(store, module), { code: 'ERR_WASMTIME_INSTANTIATE', message: /pooling limits/ })
  t.throws(() => new Module('(module (memory 32))', engine), { code: 'ERR_WASMTIME_COMPILE', message: /pooling allocator/ })
  t.throws(() => new Engine({ pooling: { totalInstances: 2 } }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /unknown option 'totalInstances'/ })
  t.throws(() => new Engine({ pooling: { maxMemorySize: -1 } }), { code: 'ERR_WASMTIME_CONFIG', message: /maxMemorySize/ })
  // Counts are checked, not wrapped to 32 bits (-1 was 4294967295, 2^32 was 0).
  for (const name of ['totalCoreInstances', 'totalMemories', 'totalTables']) {
    for (const bad of [-1, 2 ** 32, 1.5, NaN]) {
      t.throws(() => new Engine({ pooling: { [name]: bad } }), { code: 'ERR_WASMTIME_CONFIG', message: new RegExp(`pooling\\.${name} must be a whole number from 0 to 4294967295, got ${bad}`) })
    }
  }
  t.throws(() => new Engine({ pooling: { tableKeepResident: 1e300 } }), { code: 'ERR_WASMTIME_CONFIG', message: /got 1e\+300$/ })
})

test('pooling per-module limits: modules past them fail to compile with wasmtime\'s reason; raising them admits the module', (t) => {
  const cases = [
    ['maxTablesPerModule', 2, '(module (table (export "a") 1 funcref) (table (export "b") 1 funcref))', /defined tables count of 2 exceeds the per-instance limit of 1/],
    ['maxMemoriesPerModule', 2, '(module (memory (export "a") 1) (memory (export "b") 1))', /defined memories count of 2 exceeds the per-instance limit of 1/],
    ['tableElements', 30000, '(module (table (export "a") 30000 funcref) (table (export "b") 0 funcref))', /minimum element size of 30000 which exceeds the limit of 20000/],
  ]
  for (const [name, value, wat, reason] of cases) {
    // tableElements' module has two tables as well: allowed on both sides.
    const base = name === 'tableElements' ? { maxTablesPerModule: 2 } : {}
    t.throws(() => new Module(wat, new Engine({ pooling: base })), { code: 'ERR_WASMTIME_COMPILE', message: reason }, name)
    const engine = new Engine({ pooling: { ...base, [name]: value } })
    const x = new Instance(new Store(engine), new Module(wat, engine)).exports
    t.deepEqual(Object.keys(x), ['a', 'b'], name)
    if (name === 'tableElements') t.is(x.a.size(), 30000)
  }
  const small = new Engine({ pooling: { maxCoreInstanceSize: 64 } })
  t.throws(() => new Module('(module (global (mut i32) (i32.const 0)))', small), { code: 'ERR_WASMTIME_COMPILE', message: /instance allocation for this module requires \d+ bytes which exceeds the configured maximum of 64 bytes/ })
  for (const name of ['totalStacks', 'maxMemoriesPerModule', 'maxTablesPerModule', 'tableElements']) {
    t.throws(() => new Engine({ pooling: { [name]: -1 } }), { code: 'ERR_WASMTIME_CONFIG', message: new RegExp(`pooling\\.${name} must be a whole number from 0 to 4294967295, got -1`) })
  }
  t.throws(() => new Engine({ pooling: { maxCoreInstanceSize: 0.5 } }), { code: 'ERR_WASMTIME_CONFIG', message: /pooling\.maxCoreInstanceSize must be a whole number of bytes/ })
})

test('pooling with memoryKeepResident and tableKeepResident resets reused slots by copying: data segments come back, written pages read as zero again', (t) => {
  const engine = new Engine({ pooling: { totalCoreInstances: 2, totalMemories: 2, totalTables: 2, maxMemorySize: 4 << 20, memoryKeepResident: 64 << 10, tableKeepResident: 4096 } })
  // Writes inside the resident part (offsets 8 and 0) and past it (at 100000).
  const module = new Module(`(module (memory (export "m") 2) (data (i32.const 0) "hi") (table (export "t") 4 funcref) (func $f) (elem declare func $f)
    (func (export "poke") (i32.store8 (i32.const 8) (i32.const 7)) (i32.store8 (i32.const 0) (i32.const 1)) (i32.store8 (i32.const 100000) (i32.const 9))
      (table.set (i32.const 1) (ref.func $f))))`, engine)
  for (let round = 0; round < 6; round++) {
    const store = new Store(engine)
    const x = new Instance(store, module).exports
    t.deepEqual([...x.m.read(0, 2)], [104, 105], 'the data segment is back')
    t.deepEqual([x.m.read(8, 1)[0], x.m.read(100000, 1)[0]], [0, 0], 'written bytes are reset, resident or not')
    t.is(x.t.get(1), null, 'the table slot is reset')
    x.poke()
    t.is(x.m.read(0, 1)[0], 1)
    store.dispose()
  }
  t.throws(() => new Engine({ pooling: { memoryKeepResident: 1.5 } }), { code: 'ERR_WASMTIME_CONFIG', message: /memoryKeepResident/ })
  t.throws(() => new Engine({ pooling: { tableKeepResident: -1 } }), { code: 'ERR_WASMTIME_CONFIG', message: /tableKeepResident/ })
})

/** How many of the `len` bytes from `address` are in RAM (Linux: /proc/self/pagemap, bit 63). */
const residentPages = (address, len) => pagemap(address, len / binding.pageSize()).reduce((n, e) => n + Number(e >> 63n), 0)

linuxOnly('memoryKeepResident keeps that many bytes of a freed memory in RAM, and without it every page is given back', async (t) => {
  const page = binding.pageSize()
  for (const keep of [0, 256 << 10]) {
    const engine = new Engine({ pooling: { totalCoreInstances: 1, totalMemories: 1, maxMemorySize: 4 << 20, memoryKeepResident: keep } })
    // Writes one byte into each of the first 512 KiB's pages of a 1 MiB memory.
    const module = new Module(`(module (memory (export "m") 16) (func (export "touch") (local $i i32)
      (loop $l (i32.store8 (local.get $i) (i32.const 1)) (local.set $i (i32.add (local.get $i) (i32.const ${page})))
        (br_if $l (i32.lt_u (local.get $i) (i32.const ${512 << 10}))))))`, engine)
    const store = new Store(engine)
    const x = new Instance(store, module).exports
    const address = binding.addressOf(new Uint8Array(x.m.buffer))
    x.touch()
    const touched = residentPages(address, 1 << 20)
    t.true(touched >= (512 << 10) / page, `keep ${keep}: the written pages are in RAM (${touched})`)
    store.dispose()
    // The memory is freed once the buffer taken above is collected.
    t.true(await gcUntil(() => residentPages(address, 1 << 20) < touched), `keep ${keep}: the memory was freed`)
    t.is(residentPages(address, 1 << 20), keep / page, `keep ${keep}: resident pages after the free`)
  }
})

test('an engine may give wasm more than 2 MiB of stack (above wasmtime\'s default async stack)', (t) => {
  const engine = new Engine({ maxWasmStack: 4 << 20 })
  t.is(engine.maxWasmStack, 4 << 20)
  const x = new Instance(new Store(engine), new Module('(module (func $r (export "r") (param i32) (result i32) (if (result i32) (local.get 0) (then (call $r (i32.sub (local.get 0) (i32.const 1)))) (else (i32.const 7)))))', engine)).exports
  t.is(x.r(1000), 7)
})
