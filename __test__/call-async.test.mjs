// fn.callAsync: calls into wasm on the native thread pool, host functions
// that return Promises, busy stores, interrupts, fiber stacks.
import test from 'ava'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Engine, Instance, Linker, Module, Store, WasmTrap, stats } from '../index.mjs'
import { childModule, linuxOnly, runNode, tempDir } from './helpers.mjs'

const WAT = `(module
  (import "host" "get" (func $get (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "swap") (param i32 i64) (result i64 i32) local.get 1 local.get 0)
  (func (export "id") (param externref) (result externref) local.get 0)
  (func (export "viaHost") (param i32) (result i32) local.get 0 call $get i32.const 1 i32.add)
  (func (export "twice") (param i32) (result i32) local.get 0 call $get local.get 0 call $get i32.add)
  (func $rec (export "recurse") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $rec)
  (func (export "spin") (loop br 0)))`

/** A store with WAT instantiated; `host.get` is whatever `get` says. */
function setup(engine = new Engine(), get = (x) => x * 2) {
  const module = new Module(WAT, engine)
  const store = new Store(engine)
  const linker = new Linker(engine)
  const box = { get }
  linker.func('host', 'get', { params: ['i32'], results: ['i32'] }, (x) => box.get(x))
  const inst = linker.instantiate(store, module)
  return { store, box, ...inst.exports }
}

test('callAsync gives what the synchronous call gives: numbers, BigInts, several results, externrefs', async (t) => {
  const { add, swap, id, viaHost } = setup()
  t.is(await add.callAsync(2, 3), add(2, 3))
  t.deepEqual(await swap.callAsync(7, 9n), swap(7, 9n))
  const o = { any: 'object' }
  t.is(await id.callAsync(o), o)
  t.is(await id.callAsync(null), null)
  t.is(await viaHost.callAsync(5), 11)
  const p = add.callAsync(1, 2)
  t.true(p instanceof Promise)
  await p
  // Argument errors reject, coded, like the synchronous call's throws.
  await t.throwsAsync(add.callAsync(1), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /takes 2 argument/ })
  await t.throwsAsync(add.callAsync('x', 1), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /argument 0/ })
  t.throws(() => id.callAsync.call({}, 1), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /wasm function/ })
})

test('the JavaScript thread runs while the guest does, and store.interrupt() stops it', async (t) => {
  const { spin, add, store } = setup()
  // Were the guest on this thread, no timer would fire and the test would
  // time out. At the 20th tick the guest must still hold its store.
  let ticks = 0
  let busyAt20
  const timer = setInterval(() => {
    if (++ticks !== 20) return
    busyAt20 = t.throws(() => add(1, 1))?.code
    store.interrupt()
  }, 1)
  const e = await t.throwsAsync(spin.callAsync(), { instanceOf: WasmTrap })
  clearInterval(timer)
  t.is(e.trapCode, 'interrupt')
  t.is(busyAt20, 'ERR_WASMTIME_STORE_BUSY', 'timers fired while the guest ran')
  // The store works again, synchronously and not.
  t.is(add(1, 1), 2)
  t.is(await add.callAsync(2, 2), 4)
})

test('store.setDeadline applies to async calls, also when a host function sets it while the guest waits', async (t) => {
  const { spin, store, viaHost, box } = setup()
  store.setDeadline(50)
  const e = await t.throwsAsync(spin.callAsync(), { instanceOf: WasmTrap })
  t.is(e.trapCode, 'interrupt')
  store.setDeadline(null)
  box.get = () => {
    store.setDeadline(30)
    return new Promise(() => {})
  }
  t.is((await viaHost.callAsync(1).catch((e) => e)).trapCode, 'interrupt')
})

test('a host function may return a Promise: the guest waits for its value', async (t) => {
  const { viaHost, twice, box } = setup()
  const order = []
  box.get = async (x) => {
    order.push(`host ${x}`)
    await new Promise((r) => setTimeout(r, 5))
    order.push(`settled ${x}`)
    return x * 10
  }
  t.is(await viaHost.callAsync(4), 41)
  t.is(await twice.callAsync(3), 60)
  t.deepEqual(order, ['host 4', 'settled 4', 'host 3', 'settled 3', 'host 3', 'settled 3'])
  // Synchronous host functions serve async calls too, on the JavaScript thread.
  box.get = (x) => x + 100
  t.is(await twice.callAsync(1), 202)
})

test('a rejection unwinds the guest and rejects callAsync with that very value; so does a throw', async (t) => {
  const { viaHost, box, add } = setup()
  const err = new Error('from the host')
  box.get = () => Promise.reject(err)
  t.is(await viaHost.callAsync(1).catch((e) => e), err)
  const thrown = { not: 'an Error' }
  box.get = () => {
    throw thrown
  }
  t.is(await viaHost.callAsync(1).catch((e) => e), thrown)
  box.get = async () => 'not a number'
  await t.throwsAsync(viaHost.callAsync(1), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /result of host function host\.get/ })
  t.is(add(1, 2), 3)
})

test('a synchronous call that fails still throws its own error when a callAsync it queued cannot start', async (t) => {
  const { add, viaHost, box } = setup()
  const boom = new Error('boom')
  let queued
  box.get = () => {
    queued = add.callAsync('x', 1) // queued behind this call; its argument is wrong
    throw boom
  }
  t.is(t.throws(() => viaHost(1)), boom)
  await t.throwsAsync(queued, { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /argument 0/ })
})

test('in a synchronous call, a host function that returns a Promise is a coded error (and its rejection is not left unhandled)', async (t) => {
  const { viaHost, box } = setup()
  box.get = () => Promise.reject(new Error('nobody waits for this'))
  t.throws(() => viaHost(1), { code: 'ERR_WASMTIME_HOST_PROMISE', message: /callAsync/ })
  box.get = async (x) => x
  t.throws(() => viaHost(1), { code: 'ERR_WASMTIME_HOST_PROMISE' })
  // A host function without results is caught too, though nothing reads its value.
  const engine = new Engine()
  const { run } = new Instance(new Store(engine), new Module('(module (import "h" "f" (func $f)) (func (export "run") call $f))', engine), {
    h: { f: () => Promise.reject(new Error('nobody waits for this either')) },
  }).exports
  t.throws(() => run(), { code: 'ERR_WASMTIME_HOST_PROMISE' })
  t.is(await run.callAsync().catch((e) => e.message), 'nobody waits for this either')
  // And one with several results, whose Promise is not the array they need.
  const { sum } = new Instance(new Store(engine), new Module('(module (import "h" "two" (func $t (result i32 i32))) (func (export "sum") (result i32) call $t i32.add))', engine), {
    h: { two: () => Promise.reject(new Error('nor this')) },
  }).exports
  t.throws(() => sum(), { code: 'ERR_WASMTIME_HOST_PROMISE' })
  // A rejection left unhandled would fail this test (ava reports it).
  await new Promise((r) => setTimeout(r, 20))
  t.pass()
})

test('host functions of import objects may return Promises too', async (t) => {
  const engine = new Engine()
  const module = new Module(WAT, engine)
  const store = new Store(engine)
  const inst = new Instance(store, module, { host: { get: async (x) => x * 3 } })
  t.is(await inst.exports.viaHost.callAsync(2), 7)
})

test('a host function that awaits fs.promises.readFile feeds the guest through its memory', async (t) => {
  const dir = tempDir('call-async')
  const file = join(dir, 'input.txt')
  await writeFile(file, 'read by an async host function')
  const wat = `(module
    (import "fs" "read" (func $read (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    ;; reads the file into memory at 64 and returns the sum of its bytes
    (func (export "sum") (result i32) (local $n i32) (local $i i32) (local $s i32)
      (local.set $n (call $read (i32.const 64) (i32.const 1024)))
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s) (i32.load8_u offset=64 (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      (local.get $s)))`
  const engine = new Engine()
  const store = new Store(engine)
  const linker = new Linker(engine)
  linker.func('fs', 'read', { params: ['i32', 'i32'], results: ['i32'] }, async (caller, ptr, max) => {
    const data = await readFile(file)
    // After the await: the guest still waits, and its memory is reachable.
    const n = Math.min(data.length, max)
    new Uint8Array(caller.getExport('memory').buffer, ptr, n).set(data.subarray(0, n))
    return n
  }, { caller: true })
  const { sum, memory } = linker.instantiate(store, new Module(wat, engine)).exports
  const expected = [...Buffer.from('read by an async host function')].reduce((a, b) => a + b, 0)
  t.is(await sum.callAsync(), expected)
  t.is(Buffer.from(memory.buffer, 64, 30).toString(), 'read by an async host function')
  t.throws(() => sum(), { code: 'ERR_WASMTIME_HOST_PROMISE' })
})

test('a busy store: sync calls throw ERR_WASMTIME_STORE_BUSY, a second callAsync waits its turn', async (t) => {
  const { viaHost, add, store, memory, box } = setup()
  let release, entered
  const gate = new Promise((r) => (release = r))
  const inFirst = new Promise((r) => (entered = r))
  const order = []
  box.get = async (x) => {
    order.push(`in ${x}`)
    if (x === 1) {
      entered()
      await gate
    }
    return x
  }
  const first = viaHost.callAsync(1).then((v) => order.push(`first ${v}`))
  const second = viaHost.callAsync(2).then((v) => order.push(`second ${v}`))
  const third = add.callAsync(5, 5).then((v) => order.push(`third ${v}`))
  await inFirst
  await new Promise((r) => setTimeout(r, 20))
  t.deepEqual(order, ['in 1'], 'the second call waits while the first runs')
  t.throws(() => add(1, 2), { code: 'ERR_WASMTIME_STORE_BUSY', message: /callAsync/ })
  t.throws(() => store.dispose(), { code: 'ERR_WASMTIME_STORE_BUSY' })
  // While the guest waits for a host function, its memory is reachable.
  t.true(memory.buffer instanceof ArrayBuffer)
  release()
  await Promise.all([first, second, third])
  t.deepEqual(order, ['in 1', 'first 2', 'in 2', 'second 3', 'third 10'])
  t.is(add(1, 2), 3)
})

test('a pooling engine has totalStacks callAsync stacks: a store holds one from its first callAsync until disposed; past that, calls reject with a coded error and the store stays usable', async (t) => {
  const engine = new Engine({ pooling: { totalStacks: 1 } })
  const a = setup(engine)
  const b = setup(engine)
  let release, entered
  const gate = new Promise((r) => (release = r))
  const inA = new Promise((r) => (entered = r))
  a.box.get = async (x) => {
    entered()
    await gate
    return x
  }
  const first = a.viaHost.callAsync(1)
  await inA
  await t.throwsAsync(b.add.callAsync(1, 2), { code: 'ERR_WASMTIME_HOST', message: /callAsync.*dispose stores.*totalStacks/ }, 'a call in flight holds the stack')
  t.is(b.add(1, 2), 3, 'the refused store still runs synchronous calls')
  release()
  t.is(await first, 2)
  t.is(await a.add.callAsync(1, 1), 2, 'a store reuses the stack it keeps')
  await t.throwsAsync(b.add.callAsync(1, 2), { code: 'ERR_WASMTIME_HOST' }, 'a store keeps its stack after its call')
  a.store.dispose()
  t.is(await b.add.callAsync(2, 3), 5, 'disposing the store gives its stack back')
})

test('while a guest computes off the thread, its store cannot be used at all', async (t) => {
  const { spin, memory, store } = setup()
  const running = spin.callAsync()
  t.throws(() => memory.buffer, { code: 'ERR_WASMTIME_STORE_BUSY', message: /store\.interrupt\(\)/ })
  t.throws(() => store.setFuel(1), { code: 'ERR_WASMTIME_STORE_BUSY' })
  store.interrupt()
  t.is((await running.catch((e) => e)).trapCode, 'interrupt')
  t.true(memory.buffer instanceof ArrayBuffer)
})

test('a host function of an async call cannot call back into its store synchronously', async (t) => {
  const { viaHost, add, box } = setup()
  box.get = () => add(1, 2)
  await t.throwsAsync(viaHost.callAsync(1), { code: 'ERR_WASMTIME_STORE_BUSY', message: /not even from a host function/ })
  box.get = (x) => x
  t.is(await viaHost.callAsync(1), 2)
})

test('store.interrupt() stops a guest that waits for a Promise that never settles, and the calls queued behind it', async (t) => {
  const { viaHost, add, store, box } = setup()
  box.get = () => new Promise(() => {})
  const waiting = viaHost.callAsync(1)
  const queued = add.callAsync(1, 2)
  await new Promise((r) => setTimeout(r, 20))
  store.interrupt()
  t.is((await waiting.catch((e) => e)).trapCode, 'interrupt')
  t.is((await queued.catch((e) => e)).trapCode, 'interrupt')
  // Calls made after the interrupt run.
  t.is(await add.callAsync(2, 3), 5)
  t.is(add(2, 3), 5)
})

test('async calls on different stores run in parallel, up to the engine pool size (asyncThreads)', async (t) => {
  for (const threads of [2, 1]) {
    const engine = new Engine({ asyncThreads: threads })
    t.is(engine.asyncThreads, threads)
    const a = setup(engine)
    const b = setup(engine)
    const order = []
    const spinning = a.spin.callAsync().catch((e) => order.push(`spin ${e.trapCode}`))
    // With two threads the quick call ends while the other guest spins; with
    // one it waits until that guest is interrupted (by the fallback below).
    const fallback = setTimeout(() => a.store.interrupt(), 300)
    await b.add.callAsync(1, 2).then((v) => order.push(`add ${v}`))
    a.store.interrupt()
    await spinning
    clearTimeout(fallback)
    t.deepEqual(order, threads === 2 ? ['add 3', 'spin interrupt'] : ['spin interrupt', 'add 3'], `asyncThreads: ${threads}`)
  }
  t.is(new Engine().asyncThreads, stats().threads)
  t.throws(() => new Engine({ asyncThreads: 0 }), { code: 'ERR_WASMTIME_CONFIG', message: /asyncThreads/ })
  t.throws(() => new Engine({ asyncThreads: 1000 }), { code: 'ERR_WASMTIME_CONFIG', message: /asyncThreads/ })
  // Checked, not wrapped to 32 bits (2^32 + 1 was one thread, 1.5 was one).
  for (const bad of [2 ** 32 + 1, 1.5, -1, NaN]) {
    t.throws(() => new Engine({ asyncThreads: bad }), { code: 'ERR_WASMTIME_CONFIG', message: new RegExp(`asyncThreads must be a whole number from 1 to 256, got ${bad}`) })
  }
})

test('async calls run on fiber stacks of asyncStackSize: deep recursion traps with stack_overflow there', async (t) => {
  const engine = new Engine({ maxWasmStack: 64 << 10, asyncStackSize: 320 << 10 })
  const { recurse, add } = setup(engine)
  const e = await t.throwsAsync(recurse.callAsync(0), { instanceOf: WasmTrap })
  t.is(e.trapCode, 'stack_overflow')
  t.is(await add.callAsync(1, 1), 2)
  const big = setup(new Engine({ maxWasmStack: 4 << 20, asyncStackSize: 5 << 20 }))
  t.is((await big.recurse.callAsync(0).catch((e) => e)).trapCode, 'stack_overflow')
  // Host functions run below the wasm frames on that stack: 256 KiB are kept for them.
  t.throws(() => new Engine({ maxWasmStack: 1 << 20, asyncStackSize: (1 << 20) + 4096 }), { code: 'ERR_WASMTIME_CONFIG', message: /asyncStackSize/ })
})

test('a worker terminated, or a process exiting, during callAsync goes cleanly (spinning or waiting for a host Promise)', async (t) => {
  const script = (mode) => `
    const { Worker, isMainThread } = require('node:worker_threads')
    const w = require(${JSON.stringify(new URL('../dist/index.js', import.meta.url).pathname)})
    const wat = ${JSON.stringify(WAT)}
    function start() {
      const engine = new w.Engine()
      const store = new w.Store(engine)
      const linker = new w.Linker(engine)
      linker.func('host', 'get', { params: ['i32'], results: ['i32'] }, () => new Promise(() => {}))
      const e = linker.instantiate(store, new w.Module(wat, engine)).exports
      e.spin.callAsync().catch(() => {})
      e.viaHost.callAsync(1).catch(() => {})
      const other = new w.Store(engine)
      const f = linker.instantiate(other, new w.Module(wat, engine)).exports
      f.viaHost.callAsync(1).catch(() => {})
    }
    if (${mode === 'exit'}) {
      start()
      setTimeout(() => process.exit(0), 50)
    } else if (isMainThread) {
      let left = 5
      const next = () => {
        const worker = new Worker(__filename)
        worker.on('message', () => setTimeout(() => worker.terminate().then(() => (--left ? next() : done())), 20))
      }
      // The stopped calls free their stores on their pool threads, soon after.
      const until = Date.now() + 10000
      const done = () => (w.stats().stores === 0 || Date.now() > until ? console.log('ok', 'stores', w.stats().stores) : setTimeout(done, 10))
      next()
    } else {
      start()
      require('node:worker_threads').parentPort.postMessage('started')
    }`
  for (const mode of ['worker', 'exit']) {
    const dir = tempDir('call-async')
    const file = join(dir, 'case.cjs')
    await writeFile(file, script(mode))
    const r = await runNode([file])
    t.is(r.signal, null, `${mode}: ${r.stderr}`)
    t.is(r.code, 0, `${mode}: ${r.stderr}`)
    // The stores of the terminated workers' calls are freed (and counted so).
    if (mode === 'worker') t.is(r.stdout.trim(), 'ok stores 0')
  }
})

test('a store whose handles are all dropped during callAsync still settles the call', async (t) => {
  const p = (() => {
    const { add } = setup()
    return add.callAsync(20, 22)
  })()
  globalThis.gc?.()
  t.is(await p, 42)
})

test('a call in flight keeps its store\'s host functions and externref values alive, whatever the GC does', async (t) => {
  const engine = new Engine()
  const module = new Module(`(module
    (import "host" "get" (func $get (param i32) (result i32)))
    (func (export "sum") (param i32) (result i32) (local $s i32)
      (block $d (loop $l (br_if $d (i32.eqz (local.get 0)))
        (local.set $s (i32.add (local.get $s) (call $get (local.get 0))))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br $l))) local.get $s)
    (func (export "slowId") (param externref i32) (result externref)
      (loop (br_if 0 (local.tee 1 (i32.sub (local.get 1) (i32.const 1)))))
      local.get 0))`, engine)
  // Nothing but the Promises holds the store, its instance or the host function.
  const [sum, same] = (() => {
    const { exports } = new Instance(new Store(engine), module, { host: { get: async (x) => (await new Promise((r) => setTimeout(r, 1)), x) } })
    return [exports.sum.callAsync(20), exports.slowId.callAsync({ hello: 'world' }, 20_000_000)]
  })()
  const gcs = setInterval(() => globalThis.gc(), 2)
  try {
    t.is(await sum, 210)
    t.deepEqual(await same, { hello: 'world' })
  } finally {
    clearInterval(gcs)
  }
})

test('host functions may await calls on other stores even when every pool thread waits for one', async (t) => {
  const wat = `(module (import "h" "f" (func $f (param i32) (result i32)))
    (func (export "outer") (param i32) (result i32) local.get 0 call $f)
    (func (export "add1") (param i32) (result i32) local.get 0 i32.const 1 i32.add))`
  const engine = new Engine({ asyncThreads: 1 })
  const inner = new Instance(new Store(engine), new Module(wat, engine), { h: { f: (x) => x } }).exports
  const outers = [0, 1, 2].map(() => new Instance(new Store(engine), new Module(wat, engine), { h: { f: (x) => inner.add1.callAsync(x) } }).exports)
  // With one thread blocked per outer call, the inner calls need threads the pool adds.
  t.deepEqual(await Promise.all(outers.map((o, i) => o.outer.callAsync(i))), [1, 2, 3])
})

test('store.interrupt() rejects at once a call that waits for a pool thread, and it never runs', async (t) => {
  const engine = new Engine({ asyncThreads: 1 })
  const a = setup(engine)
  const b = setup(engine)
  const order = []
  const spinning = a.spin.callAsync().catch((e) => order.push(`a ${e.trapCode}`))
  // b's call waits for the only thread, which a holds.
  const waiting = b.viaHost.callAsync(1).then(
    (v) => order.push(`b ${v}`),
    (e) => order.push(`b ${e.trapCode}`),
  )
  await new Promise((r) => setTimeout(r, 20))
  b.store.interrupt()
  const fallback = setTimeout(() => a.store.interrupt(), 3000)
  await waiting
  a.store.interrupt()
  await spinning
  clearTimeout(fallback)
  t.deepEqual(order, ['b interrupt', 'a interrupt'])
  // Both stores work again.
  t.is(await b.add.callAsync(1, 2), 3)
  t.is(await a.add.callAsync(2, 2), 4)
})

// The Promise's `then` keeps only the rejection handler, so V8 may collect
// the fulfilment one first (as it does for a Promise that rejects). Each
// handler must keep what it reads alive: this once read freed memory.
test('a host Promise whose then keeps only the rejection handler still rejects callAsync after garbage collection', async (t) => {
  const child = `
    const { Instance, Module, Store } = wn
    let reject
    class OnlyRejects extends Promise {
      then(_onOk, onErr) { reject = onErr }
    }
    const wat = '(module (import "h" "f" (func $f (result i32))) (func (export "g") (result i32) call $f))'
    const g = new Instance(new Store(), new Module(wat), { h: { f: () => new OnlyRejects(() => {}) } }).exports.g
    const err = new Error('late')
    const called = g.callAsync().then(() => 'fulfilled', (e) => (e === err ? 'rejected with its error' : 'rejected with ' + e))
    ;(async () => {
      while (!reject) await new Promise((r) => setTimeout(r, 1))
      for (let i = 0; i < 10; i++) {
        gc()
        // Finalizers run between turns; fill the freed memory meanwhile.
        Array.from({ length: 2000 }, () => ({ a: [1, 2, 3] }))
        await new Promise((r) => setImmediate(r))
      }
      reject(err)
      console.log(await called)
    })()`
  const r = await childModule(child)
  t.is(r.signal, null, r.stderr)
  t.is(r.stdout.trim(), 'rejected with its error', r.stderr)
})

test('a callAsync result whose then getter throws rejects the call, and leaves no exception behind in Node-API', async (t) => {
  // Node 20 left the getter's exception pending after resolving the Promise:
  // a DEP0168 warning, and a crash under --force-node-api-uncaught-exceptions-policy.
  const r = await childModule(`
    const { Instance, Module, Store } = wn
    const ext = new Instance(new Store(), new Module('(module (func (export "ext") (param externref) (result externref) (local.get 0)))')).exports.ext
    const boom = new Error('then getter')
    ext.callAsync({ get then() { throw boom } }).then(() => console.log('fulfilled'), (e) => console.log(e === boom ? 'rejected with the getter error' : 'rejected with ' + e))`)
  t.is(r.signal, null, r.stderr)
  t.is(r.stdout.trim(), 'rejected with the getter error', r.stderr)
  t.notRegex(r.stderr, /DEP0168|Uncaught N-API/)
})

test('a guest waiting for a host Promise keeps the process alive until the Promise settles, or until its store is interrupted; then the process exits', async (t) => {
  // Only unref'd timers settle the Promise or interrupt: were the call not
  // keeping the process alive, it would exit before they fire, printing nothing.
  const child = (settle) => `
    const { Instance, Module, Store } = wn
    const store = new Store()
    const wat = '(module (import "h" "f" (func $f (result i32))) (func (export "g") (result i32) call $f i32.const 1 i32.add))'
    const f = () => new Promise((resolve) => ${settle ? 'setTimeout(() => resolve(41), 200).unref()' : 'setTimeout(() => store.interrupt(), 200).unref()'})
    new Instance(store, new Module(wat), { h: { f } }).exports.g.callAsync().then((v) => console.log('settled', v), (e) => console.log('rejected', e.code, e.trapCode))`
  const settled = await childModule(child(true), { timeout: 30_000 })
  t.is(settled.signal, null, settled.stderr)
  t.is(settled.stdout.trim(), 'settled 42', settled.stderr)
  const interrupted = await childModule(child(false), { timeout: 30_000 })
  t.is(interrupted.signal, null, 'the process ends once the interrupted call has rejected: ' + interrupted.stderr)
  t.is(interrupted.stdout.trim(), 'rejected ERR_WASMTIME_TRAP interrupt', interrupted.stderr)
})

// Linux: threads are counted in /proc/self/task.
linuxOnly('a pool whose threads all wait for host Promises adds one, and the extra thread ends once idle', async (t) => {
  const child = `
    import { readdirSync } from 'node:fs'
    const { Engine, Instance, Module, Store } = wn
    const threads = () => readdirSync('/proc/self/task').length
    const engine = new Engine({ asyncThreads: 1 })
    const m = new Module('(module (import "h" "f" (func $f (result i32))) (func (export "g") (result i32) call $f) (func (export "one") (result i32) i32.const 1))', engine)
    let release
    const a = new Instance(new Store(engine), m, { h: { f: () => new Promise((r) => (release = r)) } }).exports
    const b = new Instance(new Store(engine), m, { h: { f: () => 0 } }).exports
    ;(async () => {
      await b.one.callAsync()
      const one = threads()
      const pa = a.g.callAsync()
      while (!release) await new Promise((r) => setTimeout(r, 1))
      // a's guest holds the pool's only thread while it waits; b's call needs another.
      const rb = await b.one.callAsync()
      const grown = threads()
      release(7)
      const ra = await pa
      const until = Date.now() + 30000
      while (threads() > one && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
      console.log(JSON.stringify({ ra, rb, one, grown, after: threads() }))
    })()`
  const r = await childModule(child)
  t.is(r.signal, null, r.stderr)
  const { ra, rb, one, grown, after } = JSON.parse(r.stdout)
  t.deepEqual([ra, rb], [7, 1])
  t.is(grown, one + 1, 'one thread added while the only one waits')
  t.is(after, one, 'the added thread ended when idle')
})
