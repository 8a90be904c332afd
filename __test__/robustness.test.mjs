// Nothing ordinary JavaScript does can crash, hang or leak the process. Each
// case runs in a child process (it could crash it): the test asserts the child
// exited 0, by no signal, within its time, printed `ok`, and printed no panic.
import test from 'ava'
import { childModule, entry } from './helpers.mjs'

const prelude = `
import assert from 'node:assert/strict'
const { Engine, Module, Store, Instance, Linker, Memory, Table, Global, WasiContext, WasmTrap, alignedBuffer, stats } = wn
const gcs = async (n = 20) => { for (let i = 0; i < n; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 1)) } }
const coded = (fn, code, Ctor = Error) => assert.throws(fn, (e) => e instanceof Ctor && e.code === code && e.message.length > 20, String(fn))
`

function robust(title, body, options) {
  test(title, async (t) => {
    const r = await childModule(prelude + body, options)
    t.is(r.signal, null, `no signal (stderr: ${r.stderr.slice(-2000)})`)
    t.is(r.code, 0, `exit 0 (stderr: ${r.stderr.slice(-2000)})`)
    t.regex(r.stdout, /^ok$/m)
    t.notRegex(r.stderr, /panicked/)
  })
}

robust('raw: writes, transfers, BYOB reads, resizes and GC of the loaded buffer leave the code intact', `
const art = Engine.default.precompileModule('(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))')
const ab = art.buffer
const m = Module.deserializeRaw(art)
const x = new Instance(new Store(), m).exports
const tries = [() => art.fill(0), () => new Uint8Array(ab).fill(1), () => ab.transfer?.(), () => ab.transferToFixedLength?.(),
  () => structuredClone(ab, { transfer: [ab] }), () => new MessageChannel().port1.postMessage(0, [ab]), () => ab.resize?.(0)]
for (const f of tries) { try { f() } catch {} ; assert.equal(x.add(2, 3), 5) }
try { await new ReadableStream({ type: 'bytes', pull(c) { c.byobRequest?.respond(0) } }).getReader({ mode: 'byob' }).read(art) } catch {}
await gcs()
assert.equal(art.byteLength, 0)
assert.equal(x.add(20, 22), 42)
console.log('ok')
`)

robust('an exported function outlives every other handle of its store, and its hidden links cannot free the store under it', `
// A function taken from an Instance holds its store (src-rs/func.rs
// js_function): the store must live as long as any of them, whatever else is
// collected or tampered with.
const wat = '(module (memory (export "m") 1) (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add) (func (export "load") (result i32) i32.const 0 i32.load))'
const module = new Module(wat)
const make = () => { const i = new Instance(new Store(), module); return [i.exports.add, i.getExport('add'), i.getExport('load')] }
let fns = []
for (let k = 0; k < 200; k++) fns.push(...make())
await gcs()
for (let k = 0; k < fns.length; k += 3) {
  assert.equal(fns[k](k, 1), k + 1)
  assert.equal(fns[k + 1](2, 3), 5)
  assert.equal(fns[k + 2](), 0)
}
// The same wasm function gotten many times from one store: distinct
// functions, the last working after the others are gone.
const one = new Instance(new Store(), module)
let last
for (let k = 0; k < 100000; k++) last = one.getExport('add')
await gcs()
assert.equal(last(40, 2), 42)
assert.notEqual(one.getExport('add'), one.getExport('add'))
// Its hidden properties cannot be replaced or removed, and none of them, nor
// anything they hold, is the Store object: disposing is for the store's owner.
let store = new Store()
const f = new Instance(store, module).exports.add
for (const k of Object.getOwnPropertySymbols(f)) {
  const v = f[k]
  for (const w of [v, ...(Object(v) === v ? Object.getOwnPropertySymbols(v).map((j) => v[j]) : [])]) assert.ok(!(w instanceof Store))
  assert.throws(() => { f[k] = {} }, TypeError)
  assert.throws(() => { delete f[k] }, TypeError)
}
assert.equal(f(1, 2), 3)
store.dispose()
store = null
coded(() => f(1, 2), 'ERR_WASMTIME_STORE_DISPOSED')
await f.callAsync(1, 2).then(() => assert.fail('resolved'), (e) => assert.equal(e.code, 'ERR_WASMTIME_STORE_DISPOSED'))
fns = []
await gcs()
coded(() => f(1, 2), 'ERR_WASMTIME_STORE_DISPOSED')
console.log('ok')
`)

robust('raw: shared, resizable (any realm), WebAssembly.Memory and plain buffers are refused with coded TypeErrors', `
import vm from 'node:vm'
const art = Engine.default.precompileModule('(module)')
const copyInto = (ab) => { const v = new Uint8Array(ab, 0, art.length); v.set(art); return v }
coded(() => Module.deserializeRaw(copyInto(new SharedArrayBuffer(art.length))), 'ERR_WASMTIME_SHARED_BUFFER', TypeError)
coded(() => Module.deserializeRaw(copyInto(new ArrayBuffer(art.length, { maxByteLength: art.length * 2 }))), 'ERR_WASMTIME_FOREIGN_BUFFER', TypeError)
const other = vm.runInNewContext('new ArrayBuffer(' + art.length + ', { maxByteLength: ' + art.length * 4 + ' })')
const v = copyInto(other)
coded(() => Module.deserializeRaw(v), 'ERR_WASMTIME_FOREIGN_BUFFER', TypeError)
other.resize?.(0)
const mem = new WebAssembly.Memory({ initial: 1 })
coded(() => Module.deserializeRaw(copyInto(mem.buffer)), 'ERR_WASMTIME_FOREIGN_BUFFER', TypeError)
mem.grow(1)
coded(() => Module.deserializeRaw(Buffer.from(art)), 'ERR_WASMTIME_FOREIGN_BUFFER', TypeError)
console.log('ok')
`)

robust('memory views held by the thread pool, moved by a stream or cloned outlive dispose() and GC safely', `
import { randomFill } from 'node:crypto'
import { openSync, read } from 'node:fs'
const wat = '(module (memory (export "memory") 16))'
const fills = []
for (let i = 0; i < 20; i++) {
  let store = new Store()
  const mem = new Instance(store, new Module(wat)).exports.memory
  const view = new Uint8Array(mem.buffer)
  fills.push(new Promise((r) => randomFill(view, () => r())))
  const fd = openSync('/dev/urandom', 'r')
  fills.push(new Promise((r) => read(fd, new Uint8Array(mem.buffer), 0, 1 << 20, null, () => r())))
  if (i % 2) store.dispose()
  store = null
  globalThis.gc()
}
await Promise.all(fills)
await gcs()
const store = new Store()
const mem = new Instance(store, new Module(wat)).exports.memory
const stream = new ReadableStream({ type: 'bytes', pull(c) { const r = c.byobRequest; if (r) { r.view.fill(7); r.respond(r.view.byteLength) } } })
const { value } = await stream.getReader({ mode: 'byob' }).read(new Uint8Array(mem.buffer, 0, 4096))
const cloned = structuredClone(value)
store.dispose()
await gcs()
assert.equal(value[100], 7)
assert.equal(cloned[100], 7)
value.fill(9)
await gcs()
assert.equal(value[4095], 9)
console.log('ok')
`)

// Node runs the finalizer of an ArrayBuffer over native memory when the
// thread that made it exits, even if the buffer lives on in another thread.
// Node 20 has no ArrayBuffer.prototype.transfer, and copies these buffers
// when they are posted.
const robustIf = (holds) => (holds ? robust : (title) => test.skip(title, () => {}))
const robustAcrossThreads = robustIf(typeof ArrayBuffer.prototype.transfer === 'function')
robustAcrossThreads('a memory.buffer view and an alignedBuffer moved out of a worker with transfer() stay valid after the worker exits, and that memory is never handed to another instance', `
import { Worker } from 'node:worker_threads'
const engine = new Engine({ pooling: { totalMemories: 1, totalCoreInstances: 4 } })
const wat = '(module (memory (export "mem") 1) (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0))))'
const src = ${JSON.stringify(`import { Engine, Module, Store, Instance, alignedBuffer } from ${entry}; import { parentPort, workerData } from 'node:worker_threads'
const engine = Engine.fromShared(workerData)
const x = new Instance(new Store(engine), new Module('(module (memory (export "mem") 1))', engine)).exports
new Uint8Array(x.mem.buffer).fill(7)
const a = alignedBuffer(65536).fill(9)
const view = x.mem.buffer.transfer(), aligned = a.buffer.transfer()
parentPort.postMessage({ view, aligned }, [view, aligned])`)}
const w = new Worker(src, { eval: true, workerData: engine.share() })
const exited = new Promise((r) => w.once('exit', r))
const { view, aligned } = await new Promise((r, j) => { w.once('message', r); w.once('error', j) })
await exited
await gcs()
const v = new Uint8Array(view), a = new Uint8Array(aligned)
assert.deepEqual([v[0], v[65535], a[0], a[65535]], [7, 7, 9, 9])
v.fill(1)
a.fill(2)
// The view still holds the worker's memory: a new instance gets no memory
// (the pool's only one is taken) or another one, never that one.
let x
try { x = new Instance(new Store(engine), new Module(wat, engine)).exports } catch (e) { assert.equal(e.code, 'ERR_WASMTIME_INSTANTIATE') }
if (x) assert.equal(x.peek(0), 0)
console.log('ok')
`)

robust('memory growth never leaves a reachable view over unmapped memory', `
const store = new Store()
const mem = new Memory(store, { minimum: 1, maximum: 100 })
const views = []
for (let i = 0; i < 50; i++) { views.push(new Uint8Array(mem.buffer)); mem.grow(1) }
for (const v of views) v.fill(1)
assert.equal(mem.buffer.byteLength, 51 * 65536)
console.log('ok')
`)

const recurse = `'(module (func $r (export "r") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $r))'`

robust('deep recursion is a stack_overflow trap in a worker with stackSizeMb 0.5', `
import { Worker } from 'node:worker_threads'
const src = ${JSON.stringify(`import { Module, Store, Instance } from ${entry}; import { parentPort } from 'node:worker_threads'
const x = new Instance(new Store(), new Module(${recurse})).exports
try { x.r(0); parentPort.postMessage('returned') } catch (e) { parentPort.postMessage(e.trapCode ?? e.message) }`)}
const w = new Worker(src, { eval: true, resourceLimits: { stackSizeMb: 0.5 } })
const answer = await new Promise((r, j) => { w.once('message', r); w.once('error', j) })
assert.equal(answer, 'stack_overflow')
await w.terminate()
console.log('ok')
`)

robust('deep recursion is a stack_overflow trap when JavaScript has used most of the stack, on the main thread and in a worker', `
import { Worker } from 'node:worker_threads'
const body = ${JSON.stringify(`
const x = new Instance(new Store(), new Module(${recurse})).exports
const results = []
let deepest = 0
const call = () => { try { x.r(0); return 'returned' } catch (e) { return e.trapCode ?? e.message } }
// Descend to \'target\' frames, or as deep as JavaScript can go, then call into wasm there.
function at(n, target) {
  deepest = Math.max(deepest, n)
  if (n < target) { try { return at(n + 1, target) } catch {} }
  return call()
}
results.push(at(0, Infinity))
for (const f of [0.5, 0.9]) results.push(at(0, Math.floor(deepest * f)))
`)}
const results = eval(body + ';results')
// At the very deepest, V8 itself may refuse the call (RangeError) before it reaches wasm.
const check = (r) => { assert.match(r[0], /^(stack_overflow|Maximum call stack size exceeded)$/); assert.deepEqual(r.slice(1), ['stack_overflow', 'stack_overflow']) }
check(results)
const src = 'import { Module, Store, Instance } from ' + ${JSON.stringify(entry)} + '; import { parentPort } from "node:worker_threads";' + body + 'parentPort.postMessage(results)'
const w = new Worker(src, { eval: true })
check(await new Promise((r, j) => { w.once('message', r); w.once('error', j) }))
await w.terminate()
console.log('ok')
`)

robust('setDeadline on Engine.default interrupts a call that blocks the JavaScript thread', `
const store = new Store()
const y = new Instance(store, new Module('(module (func (export "spin") (loop (br 0))))')).exports
store.setDeadline(100)
const e = (() => { try { y.spin() } catch (e) { return e } })()
assert.ok(e instanceof WasmTrap)
assert.equal(e.trapCode, 'interrupt')
store.setDeadline(null)
// A deadline belongs to its store: a long call in another store runs to its end.
const other = new Store()
const z = new Instance(other, new Module('(module (func (export "count") (param i64) (result i64) (local i64) (loop (local.set 1 (i64.add (local.get 1) (i64.const 1))) (br_if 0 (i64.lt_u (local.get 1) (local.get 0)))) local.get 1))')).exports
store.setDeadline(50)
assert.equal(z.count(300_000_000n), 300_000_000n)
console.log('ok')
`)

robust('worker.terminate() and process.exit() stop a worker spinning in wasm', `
import { Worker } from 'node:worker_threads'
const src = ${JSON.stringify(`import { Module, Store, Instance } from ${entry}; import { parentPort } from 'node:worker_threads'
const x = new Instance(new Store(), new Module('(module (func (export "spin") (loop (br 0))))')).exports
parentPort.postMessage('spinning'); x.spin()`)}
const spinning = () => { const w = new Worker(src, { eval: true }); return new Promise((r) => w.once('message', () => r(w))) }
const w = await spinning()
assert.equal(await w.terminate(), 1)
await spinning()
setTimeout(() => { console.log('ok'); process.exit(0) }, 50)
`, { timeout: 30_000 })

// WASI preview1's subscription record (48 bytes): userdata, then a tagged
// union: 0, a clock { id u32 @16, timeout u64 @24, flags u16 @40 }; 1, fd_read { fd u32 @16 }.
function subscription({ userdata = 0n, clock = 1, timeout = 0n, flags = 0, fd }) {
  const b = Buffer.alloc(48)
  const v = new DataView(b.buffer, b.byteOffset, 48)
  v.setBigUint64(0, userdata, true)
  if (fd === undefined) {
    v.setUint32(16, clock, true)
    v.setBigUint64(24, timeout, true)
    v.setUint16(40, flags, true)
  } else {
    b[8] = 1
    v.setUint32(16, fd, true)
  }
  return b
}
const FOREVER = 2n ** 64n - 1n
/** A WASI command that polls `subs`: `poll()` returns the errno (events at 1024, their count at 2048); `_start` exits with it. */
function poller(subs) {
  const data = [...Buffer.concat(subs.map(subscription))].map((x) => '\\' + x.toString(16).padStart(2, '0')).join('')
  return `(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "${data}")
  (func (export "poll") (result i32) (call $poll (i32.const 0) (i32.const 1024) (i32.const ${subs.length}) (i32.const 2048)))
  (func (export "_start") (call $exit (call $poll (i32.const 0) (i32.const 1024) (i32.const ${subs.length}) (i32.const 2048)))))`
}
const interrupted = `(e) => e instanceof WasmTrap && e.trapCode === 'interrupt'`
const wasiStore = `(wat, options = {}) => { const l = new Linker(); l.defineWasi(new WasiContext(options)); const store = new Store(); return { store, x: l.instantiate(store, new Module(wat)).exports } }`

// Each linear memory reserves GiBs of address space; a capped space runs out
// after a few dozen stores instead of tens of thousands.
// (`ulimit -v` is honoured on Linux; macOS refuses it.)
const robustLinux = robustIf(process.platform === 'linux')
// Up to `n` times: a store, an instance, a write through a view of its memory
// (byte 1, past the data segment's byte), dispose; the error that stopped it.
const keepViewsPastDispose = `((mod, n) => {
  for (let i = 0; i < n; i++) {
    try {
      const s = new Store()
      new Uint8Array(new Instance(s, mod).exports.mem.buffer)[1] = 1
      s.dispose()
    } catch (e) { return e }
  }
})`
robustLinux('a synchronous loop that keeps memory.buffer views past dispose() gets a coded error saying to yield, and recovers once it does', `
const mod = new Module('(module (memory (export "mem") 1))')
// Made before the loop: a memory of 0 pages, which wasmtime's limiter is
// asked about like a new memory when it first grows.
const s0 = new Store()
const zero = new Instance(s0, new Module('(module (memory (export "mem") 0) (func (export "grow") (result i32) (memory.grow (i32.const 1))))')).exports
const err = ${keepViewsPastDispose}(mod, 100_000)
assert.equal(err?.code, 'ERR_WASMTIME_INSTANTIATE', String(err))
assert.match(err.message, /no room left for another linear memory.*address space.*memory\\.buffer. view.*event loop turns/)
// At the limit, wasm's memory.grow fails as wasm says it may: -1, no trap.
assert.equal(zero.grow(), -1)
for (const refused of [() => zero.mem.grow(1), () => new Memory(s0, { minimum: 1 })]) {
  assert.throws(refused, (e) => e instanceof RangeError && e.code === 'ERR_WASMTIME_OUT_OF_MEMORY' && /no room left for another linear memory.*event loop turns/.test(e.message))
}
// The loop yields: the views are collected, their stores freed.
await gcs()
const s = new Store()
assert.equal(new Uint8Array(new Instance(s, mod).exports.mem.buffer)[1], 0)
assert.equal(zero.grow(), 0)
console.log('ok')
`, { addressSpaceGiB: 200 })

// A memory with a data segment adds three mappings (its copy-on-write image
// among them): about 21,000 such stores kept by views reach the kernel's
// 65,530 (vm.max_map_count), where Node aborted the process (std::bad_alloc)
// before any error reached JavaScript.
robustLinux('the same loop on a real-size address space stops with a coded error before the process runs out of memory mappings', `
const mod = new Module('(module (memory (export "mem") 1) (data (i32.const 0) "x"))')
const err = ${keepViewsPastDispose}(mod, 200_000)
assert.equal(err?.code, 'ERR_WASMTIME_INSTANTIATE', String(err))
assert.match(err.message, /no room left for another linear memory: .* (memory mappings|address space).*event loop turns/)
await gcs()
const s = new Store()
assert.deepEqual([...new Uint8Array(new Instance(s, mod).exports.mem.buffer, 0, 2)], [120, 0])
console.log('ok')
`, { timeout: 300_000 })

robust('poll_oneoff sleeps as long as asked and reports its event: one clock, the first of two, none', `
const wasi = ${wasiStore}
const events = (x) => { const v = new DataView(x.memory.buffer); return { n: v.getUint32(2048, true), userdata: v.getBigUint64(1024, true), error: v.getUint16(1032, true), type: v.getUint8(1034) } }
const one = wasi(${JSON.stringify(poller([{ userdata: 7n, timeout: 30_000_000n }]))}).x
const t0 = performance.now()
assert.equal(one.poll(), 0)
// Never less than asked (the clock's 30 ms; a late wakeup is the system's).
assert.ok(performance.now() - t0 >= 29, 'slept the time asked')
assert.deepEqual(events(one), { n: 1, userdata: 7n, error: 0, type: 0 })
const two = wasi(${JSON.stringify(poller([{ userdata: 1n, timeout: FOREVER }, { userdata: 2n, timeout: 10_000_000n }]))}).x
assert.equal(two.poll(), 0)
assert.deepEqual(events(two), { n: 1, userdata: 2n, error: 0, type: 0 })
// No subscription at all: EINVAL (28), as wasmtime-wasi answers.
assert.equal(wasi(${JSON.stringify(poller([]))}).x.poll(), 28)
console.log('ok')
`)

// Epochs are checked only while wasm runs: a guest asleep in the host must be
// stopped there. Each forever-asleep guest below must end, or the child never
// exits (a pending run keeps it alive) and is killed.
robust('a WASI guest asleep in poll_oneoff stops at setDeadline, interrupt(), a timeout, an AbortSignal and worker.terminate()', `
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
const { runWasiCommandAsync } = wn
const wasi = ${wasiStore}
const interrupted = ${interrupted}
// One relative clock (a plain sleep), and a relative and an absolute clock (a poll).
for (const wat of ${JSON.stringify([poller([{ timeout: FOREVER }]), poller([{ timeout: FOREVER }, { timeout: FOREVER, flags: 1 }])])}) {
  const { store, x } = wasi(wat)
  store.setDeadline(50)
  assert.throws(() => x.poll(), interrupted)
  store.setDeadline(null)
  const call = x.poll.callAsync()
  setTimeout(() => store.interrupt(), 50)
  await assert.rejects(call, interrupted)
  await assert.rejects(runWasiCommandAsync(new Module(wat), { timeout: 50 }), interrupted)
  const ac = new AbortController()
  setTimeout(() => ac.abort(), 50)
  await assert.rejects(runWasiCommandAsync(new Module(wat), { signal: ac.signal }), { name: 'AbortError' })
  const src = ${JSON.stringify(`import { Module, Store, Linker, WasiContext } from ${entry}; import { parentPort, workerData } from 'node:worker_threads'
const l = new Linker(); l.defineWasi(new WasiContext({})); const x = l.instantiate(new Store(), new Module(workerData)).exports
parentPort.postMessage('asleep'); x.poll()`)}
  const w = new Worker(src, { eval: true, workerData: wat })
  await once(w, 'message')
  assert.equal(await w.terminate(), 1)
}
console.log('ok')
`, { timeout: 30_000 })

robust('a WASI guest waiting on an inherited stdin that never delivers stops at setDeadline and a timeout', `
const { runWasiCommandAsync } = wn
const wasi = ${wasiStore}
const interrupted = ${interrupted}
const read = '(module (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 1)' +
  ' (func (export "_start") (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 64)) (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))))'
const { store, x } = wasi(read, { stdin: 'inherit' })
store.setDeadline(50)
assert.throws(() => x._start(), interrupted)
await assert.rejects(runWasiCommandAsync(new Module(read), { stdin: 'inherit', timeout: 50 }), interrupted)
// Polled for (an fd_read subscription), beside a clock that never fires.
await assert.rejects(runWasiCommandAsync(new Module(${JSON.stringify(poller([{ fd: 0 }, { timeout: FOREVER }]))}), { stdin: 'inherit', timeout: 50 }), interrupted)
console.log('ok')
`, { timeout: 30_000, stdin: 'pipe' })

robust('stores whose host functions close over their own exports are collected without dispose()', `
await gcs()
const base = stats().stores
const m = new Module('(module (import "env" "f" (func $f (result i32))) (memory (export "memory") 16) (func (export "run") (result i32) call $f))')
for (let i = 0; i < 300; i++) {
  let x
  x = new Instance(new Store(), m, { env: { f: () => x.memory.buffer.byteLength } }).exports
  new Uint8Array(x.memory.buffer).fill(1, 0, 1 << 20)
  assert.equal(x.run(), 16 * 65536)
  const l = new Linker(); const s = new Store()
  let y
  l.func('env', 'f', { params: [], results: ['i32'] }, (caller) => caller.getExport('memory').buffer.byteLength + (y ? 0 : 0), { caller: true })
  y = l.instantiate(s, m).exports
  assert.equal(y.run(), 16 * 65536)
}
for (let i = 0; i < 50 && stats().stores > base + 10; i++) await gcs(2)
assert.ok(stats().stores <= base + 10, 'stores left: ' + (stats().stores - base))
console.log('ok')
`)

robust('stores holding externrefs that reach back to them are collected without dispose()', `
await gcs()
const base = stats().stores
const m = new Module('(module (table (export "t") 4 externref) (global (export "g") (mut externref) (ref.null extern)) (func (export "id") (param externref) (result externref) local.get 0))')
for (let i = 0; i < 300; i++) {
  const store = new Store()
  const x = new Instance(store, m).exports
  const cycle = { store, x, big: new Uint8Array(1 << 16) }
  x.t.set(0, cycle)
  x.t.set(1, 'a string')
  x.g.value = () => x
  assert.equal(x.id(cycle), cycle)
  assert.equal(x.t.get(1), 'a string')
}
for (let i = 0; i < 50 && stats().stores > base + 10; i++) await gcs(2)
assert.ok(stats().stores <= base + 10, 'stores left: ' + (stats().stores - base))
// Rooted from JavaScript, values stay exactly themselves while wasm holds them.
const store = new Store()
const x = new Instance(store, m).exports
const values = [{ a: 1 }, 'text', 42, 7n, Symbol('s'), false]
values.forEach((v, i) => (i < 4 ? x.t.set(i, v) : (x.g.value = v)))
await gcs()
values.slice(0, 4).forEach((v, i) => assert.equal(x.t.get(i), v))
assert.equal(x.g.value, values[5])
console.log('ok')
`)

robust('one store per request without dispose() runs 40k times (linear memory is reported to V8)', `
const m = new Module('(module (memory (export "memory") 16) (func (export "run") (result i32) i32.const 7))')
for (let i = 0; i < 40000; i++) {
  assert.equal(new Instance(new Store(), m).exports.run(), 7)
  if (i % 500 === 0) await new Promise((r) => setImmediate(r))
}
console.log('ok')
`, { timeout: 240_000 })

// On Node 24, errors made while a napi_create_function function is on the
// stack survive young collections: this loop grew RSS by about 130 MB there
// until wasm functions were bound from a template-made trampoline (func.rs).
robust('100k traps and 100k argument errors keep RSS flat', `
const x = new Instance(new Store(), new Module('(module (func (export "boom") unreachable) (func (export "id") (param i32) (result i32) local.get 0))')).exports
const round = () => {
  for (let i = 0; i < 50000; i++) { try { x.boom() } catch {} }
  for (let i = 0; i < 50000; i++) { try { x.id('not a number') } catch {} }
}
round(); await gcs()
const before = process.memoryUsage().rss
round(); round(); await gcs()
const grown = process.memoryUsage().rss - before
assert.ok(grown < 40 << 20, 'RSS grew by ' + (grown >> 20) + ' MiB')
console.log('ok')
`, { timeout: 120_000 })

robust('sizes, offsets and indices are checked before anything is allocated, never clamped', `
const store = new Store()
const x = new Instance(store, new Module('(module (memory (export "m") 1) (table (export "t") 2 externref))')).exports
coded(() => x.m.read(0, 2 ** 46), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
coded(() => x.m.read(0, Infinity), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
for (const bad of [-1, NaN, 0.5, 2 ** 60]) {
  coded(() => x.m.write(bad, Buffer.from([1])), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
  coded(() => x.t.set(bad, 'v'), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
  coded(() => x.t.get(bad), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
  coded(() => x.t.grow(bad), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
  coded(() => x.m.grow(bad), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
}
assert.equal(x.m.read(0, 1)[0], 0)
coded(() => new Memory(store, { minimum: 2, maximum: 1 }), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
coded(() => new Memory(store, { minimum: 65537 }), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
coded(() => new Table(store, { element: 'funcref', minimum: 3, maximum: 2 }), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
// Table storage is allocated and filled at once: like V8, a store refuses
// tables over 10,000,000 elements unless told otherwise.
coded(() => new Table(store, { element: 'externref', minimum: 2 ** 31 }, 'x'), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
coded(() => x.t.grow(2 ** 31), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
coded(() => new Instance(new Store(), new Module('(module (table 20000000 externref))')), 'ERR_WASMTIME_INSTANTIATE')
assert.equal(new Table(new Store(undefined, { tableElements: 2e7 }), { element: 'funcref', minimum: 2e7 }).size(), 2e7)
coded(() => alignedBuffer(-1), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
coded(() => alignedBuffer(2 ** 52), 'ERR_WASMTIME_OUT_OF_MEMORY', RangeError)
console.log('ok')
`)

robust('u64 arguments, count limits and items of another store give exact coded errors', `
const engine = new Engine({ consumeFuel: true })
const store = new Store(engine)
for (const bad of [-1n, 2n ** 70n, -1, 0.5, NaN, '5', null]) coded(() => store.setFuel(bad), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
store.setFuel(1000); assert.equal(store.getFuel(), 1000n)
store.setFuel(2n ** 64n - 1n); assert.equal(store.getFuel(), 2n ** 64n - 1n)
const m = new Module('(module (memory 1) (table 1 funcref))')
for (const [opt, n] of [['instances', 1], ['memories', 1], ['tables', 1]]) {
  const s = new Store(undefined, { [opt]: n })
  new Instance(s, m)
  coded(() => new Instance(s, m), 'ERR_WASMTIME_INSTANTIATE')
}
const a = new Store(), b = new Store()
const linker = new Linker()
linker.define(a, 'env', 'mem', new Memory(a, { minimum: 1 }))
coded(() => linker.instantiate(b, new Module('(module (import "env" "mem" (memory 1)))')), 'ERR_WASMTIME_LINK')
coded(() => new Instance(b, new Module('(module (import "env" "mem" (memory 1)))'), { env: { mem: new Memory(a, { minimum: 1 }) } }), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
console.log('ok')
`)

robust('wrong types and unknown options are refused with ERR_WASMTIME_ codes, never napi statuses', `
const store = new Store()
coded(() => new Memory(store), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => new Global(store, null, 1), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => new Global(store, { value: 'i33' }, 1), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => wn.inspectArtifact(new Uint8Array(10)), 'ERR_WASMTIME_DESERIALIZE')
coded(() => wn.inspectArtifact(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), 'ERR_WASMTIME_DESERIALIZE')
coded(() => new Engine({ simdd: true }), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => new Engine({ target: 'x86_64-nope' }), 'ERR_WASMTIME_CONFIG')
coded(() => new Engine({ optLevel: 3 }), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => new Store(undefined, { memroySize: 1 }), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => new WasiContext({ stdin: 'inhert' }), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => new WasiContext({ stdot: 'capture' }), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
// What a guest's NUL-terminated argv and NAME=VALUE environment would cut or split.
for (const o of [{ args: ['a', 'b\\0c'] }, { env: { 'A=B': '1' } }, { env: { 'A\\0': '1' } }, { env: { '': '1' } }, { env: { A: 'x\\0y' } }]) {
  coded(() => new WasiContext(o), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
  await assert.rejects(wn.runWasiCommandAsync(new Module('(module (func (export "_start")))'), o), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
}
assert.throws(() => new WasiContext({ args: ['a', 'b\\0c'] }), { message: /args\\[1\\] contains a NUL/ })
assert.doesNotThrow(() => new WasiContext({ args: ['a', 'b=c'], env: { A: 'x=y', B: '' } }))
coded(() => new Linker().func('env', 'f', { params: ['i33'], results: [] }, () => {}), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => Module.deserialize(42), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => store.setDeadline('soon'), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
coded(() => new Instance(store, new Module('(module)')).getFunc('nope'), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
console.log('ok')
`)

robust('a host function that throws a primitive rethrows that very value', `
const m = new Module('(module (import "env" "f" (func $f)) (func (export "run") call $f))')
const sym = Symbol('s')
for (const v of ['boom', 42, null, undefined, sym, 12n, false]) {
  const x = new Instance(new Store(), m, { env: { f: () => { throw v } } }).exports
  let caught = 'nothing thrown'
  try { x.run() } catch (e) { caught = e }
  assert.ok(Object.is(caught, v), 'got ' + String(caught))
}
console.log('ok')
`)

robust('export names are kept exactly, __proto__ and NUL included', `
const x = new Instance(new Store(), new Module('(module (func (export "__proto__") (result i32) i32.const 1) (func (export "a\\\\00b") (result i32) i32.const 2) (func (export "constructor") (result i32) i32.const 3))')).exports
assert.deepEqual(Object.keys(x).sort(), ['__proto__', 'a\\u0000b', 'constructor'].sort())
assert.equal(x['__proto__'](), 1)
assert.equal(x['a\\u0000b'](), 2)
assert.equal(x.constructor(), 3)
console.log('ok')
`)

robust('a Function.prototype.bind replaced before the first wasm function cannot make the trampoline read another addon\'s external', `
import { createRequire } from 'node:module'
const binding = createRequire(${entry})('./binding.js')
// Each wasm function is the native trampoline bound to its own data, with the
// bind this thread finds at its first wasm function: this one sees both.
const bind = Function.prototype.bind
let seen = null
Function.prototype.bind = function (...args) { if (!seen && this.name === 'wasm') seen = { trampoline: this, own: args[0] }; return bind.apply(this, args) }
const x = new Instance(new Store(), new Module('(module (func (export "f") (result i32) i32.const 7))')).exports
assert.ok(seen, 'the replaced bind was handed the trampoline')
assert.equal(x.f(), 7)
for (let i = 0; i < 1000; i++) {
  coded(() => seen.trampoline.call(binding.testExternal()), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
}
for (const other of [{}, undefined, null, 1, x.f]) coded(() => seen.trampoline.call(other), 'ERR_WASMTIME_INVALID_ARGUMENT', TypeError)
// Its own data is the function it was made for, and calls it.
assert.equal(seen.trampoline.call(seen.own), 7)
console.log('ok')
`)

robust('a wasm function\'s external, kept alone and handed to the trampoline after its store\'s every other handle is collected, still calls that function', `
// JavaScript can reach both: the external under a symbol of the function, and
// the trampoline, through a replaced Function.prototype.bind or
// Object.setPrototypeOf at the thread's first wasm function. The external
// must keep alive what the trampoline reads through it.
const mod = new Module('(module (func (export "f") (param i32) (result i32) local.get 0))')
const seen = new Set()
const { bind } = Function.prototype
const { setPrototypeOf } = Object
Function.prototype.bind = function (...args) { if (this.name === 'wasm') seen.add(this); return bind.apply(this, args) }
Object.setPrototypeOf = (o, p) => { if (typeof o === 'function' && o.name === 'wasm') seen.add(o); return setPrototypeOf(o, p) }
new Instance(new Store(), mod).getExport('f')
Function.prototype.bind = bind
Object.setPrototypeOf = setPrototypeOf
assert.equal(seen.size, 1, 'both saw the one trampoline')
const [trampoline] = seen
const externals = []
for (let i = 0; i < 100; i++) {
  const instance = new Instance(new Store(), mod)
  for (const fn of [instance.exports.f, instance.getExport('f')]) {
    const key = Object.getOwnPropertySymbols(fn).find((s) => s.description === 'wasmtime-napi.func')
    externals.push(fn[key])
  }
}
await gcs()
const churn = []
for (let i = 0; i < 2000; i++) churn.push(new Instance(new Store(), mod).exports.f)
await gcs()
for (const [i, e] of externals.entries()) assert.equal(trampoline.call(e, i), i)
console.log('ok')
`)

robust('an Object.setPrototypeOf or Object replaced before a thread\'s first wasm function gives a coded error, and wasm functions work once they are restored', `
import { Worker } from 'node:worker_threads'
// Each case in its own thread: a thread's trampoline gets its prototype once.
const src = ${JSON.stringify(`import { Module, Store, Instance } from ${entry}; import { workerData } from 'node:worker_threads'; import assert from 'node:assert/strict'
const coded = (fn, code) => assert.throws(fn, (e) => e.code === code && e.message.length > 20, String(fn))
const original = Object.setPrototypeOf
const OriginalObject = Object
const instance = new Instance(new Store(), new Module('(module (func (export "f") (param i32) (result i32) local.get 0))'))
const sabotage = [
  // does nothing
  () => { Object.setPrototypeOf = (o) => o },
  // throws
  () => { Object.setPrototypeOf = () => { throw new RangeError('no') } },
  // sets only the trampoline's half, so that a retry reading the
  // trampoline's prototype as Function.prototype would make a cycle
  () => { Object.setPrototypeOf = (o, p) => (typeof o === 'function' ? original(o, p) : o) },
  // gives the trampoline another prototype
  () => { Object.setPrototypeOf = (o) => original(o, typeof o === 'function' ? new Proxy({}, {}) : null) },
  // no Object at all
  () => { globalThis.Object = undefined },
]
sabotage[workerData]()
coded(() => instance.getExport('f'), 'ERR_WASMTIME_INTERNAL')
// (The facade's exports object needs Object.freeze.)
if (globalThis.Object) coded(() => instance.exports, 'ERR_WASMTIME_INTERNAL')
globalThis.Object = OriginalObject
Object.setPrototypeOf = original
const f = instance.getExport('f')
assert.equal(f(5), 5)
assert.deepEqual([f.params, f.results], [['i32'], ['i32']])
assert.equal(typeof f.callAsync, 'function')
assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(f)), Function.prototype)
assert.equal(f.call(null, 6), 6)`)}
for (let mode = 0; mode < 5; mode++) {
  const w = new Worker(src, { eval: true, workerData: mode })
  const code = await new Promise((r, j) => { w.once('error', j); w.once('exit', r) })
  assert.equal(code, 0, 'mode ' + mode)
}
console.log('ok')
`)

robust('a host Promise whose then answers twice, the second time from inside the first answer\'s conversion, does not let the guest resume while that conversion uses its caller', `
const m = new Module(\`(module
  (import "h" "f" (func $f (result i32 externref)))
  (func (export "run") (result i32) (local $i i32)
    (call $f) drop drop
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000))))
    (i32.const 7)))\`)
const store = new Store()
const linker = new Linker()
let answers = 0
linker.func('h', 'f', { params: [], results: ['i32', 'externref'] }, () => {
  const p = Promise.resolve()
  p.then = (fulfil) => {
    const results = [0, { an: 'object' }]
    // Converting results[0] fulfils again; results[1] is converted after it,
    // through the same caller.
    Object.defineProperty(results, 0, { get() {
      answers++
      fulfil([1, null])
      const t = Date.now(); while (Date.now() - t < 20) {}
      return 0
    } })
    fulfil(results)
  }
  return p
})
const { run } = linker.instantiate(store, m).exports
for (let r = 0; r < 5; r++) assert.equal(await run.callAsync(), 7)
assert.equal(answers, 5)
console.log('ok')
`)

robust('setters on Object.prototype and Array.prototype neither swallow the values a store roots nor change an externref', `
const m = new Module(\`(module (import "env" "f" (func $f (result i32))) (table $t 1 externref)
  (func (export "run") (result i32) call $f)
  (func (export "put") (param externref) (table.set $t (i32.const 0) (local.get 0)))
  (func (export "get") (result externref) (table.get $t (i32.const 0)))
  (func (export "id") (param externref) (result externref) local.get 0))\`)
const swallow = { set(v) {}, get() { return 'EVIL' }, configurable: true }
const tampered = (proto, key, f) => { Object.defineProperty(proto, key, swallow); try { return f() } finally { delete proto[key] } }
// The store roots its host functions under numbers from 1 and its externrefs
// under numbers from 0 (Array.prototype too: the host functions were once in
// an array), and a primitive externref in a holder object under 'v'.
const x = tampered(Array.prototype, 1, () => tampered(Object.prototype, 1, () => new Instance(new Store(), m, { env: { f: () => 42 } }).exports))
tampered(Object.prototype, 0, () => x.put({ keep: 'me' }))
const prim = tampered(Object.prototype, 'v', () => x.id('prim'))
await gcs()
const failed = []
try { x.run() } catch (e) { failed.push('host function: ' + e.message) }
if (x.get()?.keep !== 'me') failed.push('externref: ' + String(x.get()))
if (prim !== 'prim') failed.push('primitive: ' + String(prim))
assert.deepEqual(failed, [])
assert.equal(x.run(), 42)
console.log('ok')
`)

robust('a Linker lets go of a host function it no longer uses: one defined over with allowShadowing, and one whose definition was refused', `
const m = new Module('(module (import "env" "h" (func $h (result i32))) (func (export "f") (result i32) call $h))')
const ty = { params: [], results: ['i32'] }
const linker = new Linker()
linker.func('env', 'h', ty, () => 1)
// Refused (already defined): it must not be rooted in the stores this linker
// instantiates into.
let refused = () => 2
const refusedRef = new WeakRef(refused)
coded(() => linker.func('env', 'h', ty, refused), 'ERR_WASMTIME_LINK')
refused = null
const a = linker.instantiate(new Store(), m).exports
// Defined over: neither the linker nor later stores keep the old one.
linker.allowShadowing(true)
let old = () => 3
const oldRef = new WeakRef(old)
linker.func('env', 'h', ty, old)
old = null
linker.func('env', 'h', ty, () => 4)
const b = linker.instantiate(new Store(), m).exports
await gcs()
assert.equal(refusedRef.deref(), undefined, 'the refused function was collected')
assert.equal(oldRef.deref(), undefined, 'the replaced function was collected')
assert.equal(a.f(), 1)
assert.equal(b.f(), 4)
console.log('ok')
`)

robust('runWasiCommand (synchronous) stops a runaway guest at its timeout or when its fuel runs out, like runWasiCommandAsync', `
const { runWasiCommand } = wn
const spin = '(module (func (export "_start") (loop (br 0))))'
// A start function runs at instantiation, which the timeout covers too.
const spinAtStart = '(module (func $s (loop (br 0))) (start $s) (func (export "_start")))'
for (const wat of [spin, spinAtStart]) {
  assert.throws(() => runWasiCommand(new Module(wat), { timeout: 100 }), (e) => e instanceof WasmTrap && e.trapCode === 'interrupt')
}
const fuelled = new Engine({ consumeFuel: true })
assert.throws(() => runWasiCommand(new Module(spin, fuelled), { fuel: 100000 }), (e) => e instanceof WasmTrap && e.trapCode === 'out_of_fuel')
coded(() => runWasiCommand(new Module(spin), { timeout: -1 }), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
coded(() => runWasiCommand(new Module(spin), { timeout: 2 ** 31 }), 'ERR_WASMTIME_INVALID_ARGUMENT', RangeError)
assert.equal(stats().stores, 0, 'each run disposed its store')
console.log('ok')
`)
