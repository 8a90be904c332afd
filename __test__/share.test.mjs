// Modules and engines shared with workers: `module.share()` / `engine.share()`
// give a plain handle to post to a worker; `Module.fromShared` /
// `Engine.fromShared` there give the same compiled code and the same engine,
// with no compile, copy or second load. Cases where threads could free code
// another thread runs run in a child process (fixtures/share-child.mjs) and
// must exit 0, by no signal.
import test from 'ava'
import { fileURLToPath } from 'node:url'
import { Engine, Module, Store, Instance, stats } from '../index.mjs'
import { binding, gcUntil, runNode } from './helpers.mjs'

const ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'
const coded = (t, fn, code, Ctor) =>
  t.throws(fn, { instanceOf: Ctor, code, message: (m) => m.length > 40 })

test('a shared module is a plain, cloneable handle; fromShared gives the same code and the same Engine object', (t) => {
  const engine = new Engine()
  for (const m of [new Module(ADD, engine), Module.deserialize(engine.precompileModule(ADD), engine), Module.deserializeRaw(engine.precompileModule(ADD), engine)]) {
    const handle = m.share()
    t.deepEqual(Object.keys(handle), ['wasmtimeNapi', 'id'])
    t.is(handle.wasmtimeNapi, 'module')
    t.is(typeof handle.id, 'string')
    t.deepEqual(m.share(), handle, 'sharing again gives an equal handle')
    const copy = Module.fromShared(structuredClone(handle))
    t.not(copy, m)
    t.is(copy.engine, engine, 'on the thread that shared it, the Engine object that shared it')
    t.deepEqual(copy.imageRange(), m.imageRange(), 'the same code, not a copy')
    t.is(copy.isRaw, m.isRaw)
    t.deepEqual(copy.exports, m.exports)
    t.is(new Instance(new Store(copy.engine), copy).exports.add(40, 2), 42)
  }
  t.is(Engine.fromShared(structuredClone(engine.share())), engine)
  t.deepEqual(engine.share(), engine.share())
  t.is(engine.share().wasmtimeNapi, 'engine')
})

test.serial('a raw-loaded module shared and disposed keeps running where it was taken, with one region', async (t) => {
  const before = stats().pinnedRegions
  let m = Module.deserializeRaw(Engine.default.precompileModule(ADD))
  const copy = Module.fromShared(m.share())
  t.is(stats().pinnedRegions, before + 1, 'fromShared does not load again')
  m[Symbol.dispose]()
  m = null
  await gcUntil(() => false, 5)
  t.is(new Instance(new Store(copy.engine), copy).exports.add(1, 2), 3)
  t.is(stats().pinnedRegions, before + 1)
})

test('wrong values, the other kind of handle and stale handles throw coded errors that say what to do', async (t) => {
  const engine = new Engine()
  const m = new Module(ADD, engine)
  const mh = m.share()
  const eh = engine.share()
  for (const bad of [undefined, null, 42, 'x', {}, { wasmtimeNapi: 'module' }, { wasmtimeNapi: 'module', id: 5 }, m, engine]) {
    coded(t, () => Module.fromShared(bad), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
    coded(t, () => Engine.fromShared(bad), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
  }
  coded(t, () => Engine.fromShared(mh), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
  coded(t, () => Module.fromShared(eh), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
  // Forged: the tag of one kind over the id of the other, ids that are not ids, another process's.
  coded(t, () => Module.fromShared({ wasmtimeNapi: 'module', id: eh.id }), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
  coded(t, () => Engine.fromShared({ wasmtimeNapi: 'engine', id: mh.id }), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
  for (const id of ['', '1', 'zz-1', '-', `${mh.id}x`]) coded(t, () => Module.fromShared({ wasmtimeNapi: 'module', id }), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
  const other = mh.id.replace(/^(.)/, (c) => (c === '0' ? '1' : '0'))
  const e = t.throws(() => Module.fromShared({ wasmtimeNapi: 'module', id: other }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  t.regex(e.message, /another process/)

  // Stale: the module that shared was disposed.
  m[Symbol.dispose]()
  const stale = t.throws(() => Module.fromShared(mh), { instanceOf: Error, code: 'ERR_WASMTIME_MODULE_DISPOSED' })
  t.regex(stale.message, /outlived its module.*Keep that Module alive/)
  coded(t, () => m.share(), 'ERR_WASMTIME_MODULE_DISPOSED', Error)

  // Stale: the engine that shared was collected.
  const engineHandle = (() => new Engine().share())()
  t.true(await gcUntil(() => {
    try {
      Engine.fromShared(engineHandle)
      return false
    } catch (err) {
      return err.code === 'ERR_WASMTIME_INVALID_ARGUMENT' && /outlived its engine/.test(err.message)
    }
  }), 'a collected engine\'s handle is refused')
})

test('share() in a loop does not leak: one entry per module, removed when it is released or collected', async (t) => {
  await gcUntil(() => false, 5)
  const start = binding.sharedHandles()
  const base = new Module(ADD)
  for (let i = 0; i < 10_000; i++) base.share()
  t.is(binding.sharedHandles(), start + 1, 'sharing one module 10,000 times makes one entry')
  const reported = stats().reportedBytes
  for (let i = 0; i < 10_000; i++) {
    const shortLived = Module.fromShared(base.share())
    shortLived.share()
    if (i % 3 === 0) shortLived[Symbol.dispose]()
  }
  t.true(binding.sharedHandles() > start + 1000, `the short-lived modules made entries (${binding.sharedHandles()})`)
  t.true(await gcUntil(() => binding.sharedHandles() <= start + 1), `the registry returned near its start (${binding.sharedHandles()} entries, ${start} at the start)`)
  t.true(await gcUntil(() => stats().reportedBytes <= reported), 'external memory reports were returned')
  base[Symbol.dispose]()
  t.is(binding.sharedHandles(), start)
  const engines = binding.sharedHandles()
  for (let i = 0; i < 200; i++) new Engine({ epochInterruption: false }).share()
  t.true(await gcUntil(() => binding.sharedHandles() <= engines), 'collected engines leave the registry')
})

const child = fileURLToPath(new URL('./fixtures/share-child.mjs', import.meta.url))
const run = (scenario) => runNode([child, scenario])

for (const [scenario, title] of [
  ['raw-main-first', 'raw-loaded code shared with 4 workers: main disposes and drops its module while they run, then they are terminated one by one; one region throughout'],
  ['raw-worker-first', 'a worker that raw-loaded and shared code exits first while main keeps running it'],
  ['engines', 'one Engine object per thread per engine: modules shared from one engine land on it, in both directions'],
  ['terminate', 'workers spinning in shared code stop on terminate(); the code still runs on main'],
]) {
  test(`(child process) ${title}`, async (t) => {
    const r = await run(scenario)
    t.is(r.signal, null, `no signal (stderr: ${r.stderr.slice(-2000)})`)
    t.is(r.code, 0, `exit 0 (stderr: ${r.stderr.slice(-2000)})`)
    t.regex(r.stdout, /^ok$/m)
    t.notRegex(r.stderr, /panicked/)
  })
}
