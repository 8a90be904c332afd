// Real modules that others wrote (../shared/corpus, fetched by `npm run corpus`):
// precompiled, loaded raw, and checked against V8 on the same bytes.
import test from 'ava'
import { Engine, Module, Store, Instance } from '../index.mjs'
import { withCorpus } from './helpers.mjs'

const SMALL = ['fac', 'llhttp', 'md4w-small', 'md4w-fast', 'icepll', 'icebram', 'icemulti', 'icepack']
const kind = { function: 'func', memory: 'memory', table: 'table', global: 'global', tag: 'tag' }

for (const id of SMALL) {
  withCorpus(test, `${id}: raw-loaded module shows the imports and exports V8 sees`, [id], (t, wasm) => {
    const m = Module.deserializeRaw(Engine.default.precompileModule(wasm))
    t.true(m.isRaw)
    const v8 = new WebAssembly.Module(wasm)
    t.deepEqual(
      m.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind })),
      WebAssembly.Module.imports(v8).map((i) => ({ module: i.module, name: i.name, kind: kind[i.kind] })),
    )
    t.deepEqual(
      m.exports.map((e) => ({ name: e.name, kind: e.kind })),
      WebAssembly.Module.exports(v8).map((e) => ({ name: e.name, kind: kind[e.kind] })),
    )
    for (const i of m.imports.filter((i) => i.kind === 'func')) {
      t.true(Array.isArray(i.params) && Array.isArray(i.results), `${i.module}.${i.name} has a full type`)
    }
    const inst = new Instance(new Store(), m, undefined, { defineUnknownImportsAsTraps: true })
    const funcs = Object.keys(inst.exports).filter((k) => typeof inst.exports[k] === 'function')
    t.is(funcs.length, WebAssembly.Module.exports(v8).filter((e) => e.kind === 'function').length)
  })
}

withCorpus(test, 'fac computes 10! as V8 does', ['fac'], (t, wasm) => {
  const ours = new Instance(new Store(), Module.deserializeRaw(Engine.default.precompileModule(wasm))).exports
  const v8 = new WebAssembly.Instance(new WebAssembly.Module(wasm)).exports
  t.is(ours.fac(10), 3628800)
  for (const n of [0, 1, 5, 12]) t.is(ours.fac(n), v8.fac(n))
})

withCorpus(test, 'llhttp: the same calls give the same results as in V8, and an undefined import traps cleanly', ['llhttp'], (t, wasm) => {
  const ours = new Instance(new Store(), Module.deserializeRaw(Engine.default.precompileModule(wasm)), undefined, { defineUnknownImportsAsTraps: true }).exports
  const calls = []
  const v8 = new WebAssembly.Instance(new WebAssembly.Module(wasm), {
    env: new Proxy({}, { get: (_, name) => (...args) => (calls.push(name), 0) }),
  }).exports
  const script = (x) => {
    x._initialize()
    const p = x.llhttp_alloc(0)
    const req = Buffer.from('GET /hello HTTP/1.1\r\nHost: example\r\n\r\n')
    const ptr = x.malloc(req.length)
    new Uint8Array(x.memory.buffer).set(req, ptr)
    return { p, ptr, type: x.llhttp_get_type(p), major: x.llhttp_get_http_major(p), errno: x.llhttp_get_errno(p), len: req.length }
  }
  const a = script(ours)
  const b = script(v8)
  t.deepEqual(a, b)
  v8.llhttp_execute(b.p, b.ptr, b.len)
  t.true(calls.includes('wasm_on_message_begin'), 'V8 run called back into the host')
  const err = t.throws(() => ours.llhttp_execute(a.p, a.ptr, a.len), { code: 'ERR_WASMTIME_HOST' })
  t.regex(err.message, /wasm_on_message_begin/)
  t.regex(err.message, /wasm backtrace/)
  t.is(ours.llhttp_get_type(a.p), b.type, 'the instance still answers after the trap')
})
