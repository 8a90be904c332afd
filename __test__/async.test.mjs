// Off the event loop: runWasiCommandAsync runs the guest on a native thread
// while JavaScript keeps running; output streams as the guest writes it.
import test from 'ava'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Engine, Module, WasmTrap, readPrecompiledSync, runWasiCommand, runWasiCommandAsync, stats } from '../index.mjs'
import { childModule, corpusDir, precompiledPath, tempDir } from './helpers.mjs'

const sha256 = (b) => createHash('sha256').update(b).digest('hex')
const SPIN = '(module (func (export "_start") (loop (br 0))))'
const hello = new Module(readFileSync(fileURLToPath(new URL('./fixtures/readme/hello.wat', import.meta.url)), 'utf8'))
const echoStdin = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 1024))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`
const exit7 = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 7))))`

test('the event loop runs while a guest spins; timeout and AbortSignal stop it', async (t) => {
  const spin = new Module(SPIN)
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  const e = await t.throwsAsync(runWasiCommandAsync(spin, { timeout: 200 }), { instanceOf: WasmTrap, code: 'ERR_WASMTIME_TRAP' })
  clearInterval(timer)
  t.is(e.trapCode, 'interrupt')
  t.true(ticks > 0, 'timers fired while the guest ran')
  const controller = new AbortController()
  const running = runWasiCommandAsync(spin, { signal: controller.signal })
  setTimeout(() => controller.abort(), 50)
  const aborted = await running.then(() => 'resolved', (e) => e)
  t.is(aborted, controller.signal.reason)
  t.is(aborted.name, 'AbortError')
  const early = await runWasiCommandAsync(spin, { signal: AbortSignal.abort() }).then(() => 'resolved', (e) => e)
  t.is(early.name, 'AbortError')
})

test('output streams to a function or a Writable; stdin takes bytes or a Readable; exit codes and errors are those of a sync run', async (t) => {
  const chunks = []
  const r = await runWasiCommandAsync(hello, { args: ['hello', 'async'], stdout: (c) => chunks.push(c) })
  t.deepEqual(r, { exitCode: 0, stdout: null, stderr: Buffer.alloc(0) })
  t.is(Buffer.concat(chunks).toString(), 'hello async\n')
  const sink = new PassThrough()
  const got = []
  sink.on('data', (c) => got.push(c))
  await runWasiCommandAsync(hello, { args: ['hello', 'stream'], stdout: sink })
  t.is(Buffer.concat(got).toString(), 'hello stream\n')
  const echo = new Module(echoStdin)
  t.is((await runWasiCommandAsync(echo, { stdin: Buffer.from('bytes in') })).stdout.toString(), 'bytes in')
  t.is((await runWasiCommandAsync(echo, { stdin: Readable.from(['from ', 'a Readable']) })).stdout.toString(), 'from a Readable')
  t.is((await runWasiCommandAsync(new Module(exit7))).exitCode, runWasiCommand(new Module(exit7)).exitCode)
  await t.throwsAsync(runWasiCommandAsync(new Module('(module)')), { code: 'ERR_WASMTIME_WASI', message: /no _start/ })
  await t.throwsAsync(runWasiCommandAsync(new Module('(module (func (export "_start") (param i32)))')), { code: 'ERR_WASMTIME_WASI', message: /takes and returns nothing/ })
  const noEpochs = new Engine({ epochInterruption: false })
  await t.throwsAsync(runWasiCommandAsync(new Module(SPIN, noEpochs), { timeout: 10 }), { code: 'ERR_WASMTIME_CONFIG' })
  await t.throwsAsync(runWasiCommandAsync(hello, { stdot: 'capture' }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  await t.throwsAsync(runWasiCommandAsync(hello, { stdout: 'capure' }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  await t.throwsAsync(runWasiCommandAsync(hello, { timeout: -1 }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  // Node's timers fire at once past 2^31 - 1 ms: such a timeout is refused, not cut short.
  await t.throwsAsync(runWasiCommandAsync(echo, { stdin: new PassThrough(), timeout: 2 ** 31 }), { instanceOf: RangeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /at most 2147483647 ms/ })
  // A stdin stream that fails is a coded error that carries the stream's.
  const broken = new Error('disk gone')
  const failed = await t.throwsAsync(runWasiCommandAsync(echo, { stdin: new Readable({ read() { this.destroy(broken) } }) }), { code: 'ERR_WASMTIME_WASI', message: /stdin stream failed: disk gone/ })
  t.is(failed.cause, broken)
  t.true(stats().threads >= 1)
})

const listPath = join(corpusDir, 'tests.json')
const list = existsSync(listPath) ? JSON.parse(readFileSync(listPath, 'utf8')).tests : null
const withCorpus = list ? test : test.skip

/** A spec of tests.json run asynchronously in a copy of its root, with what node:wasi gave. */
async function runSpec(t, id, extra = {}) {
  const spec = list.find((s) => s.id === id)
  const preopens = {}
  for (const [guest, host] of Object.entries(spec.preopens ?? {})) {
    const copy = tempDir(`async-${id}`)
    cpSync(join(corpusDir, host), copy, { recursive: true })
    preopens[guest] = copy
  }
  const module = Module.deserializeRaw(readPrecompiledSync(precompiledPath(spec.module, Engine.default)))
  const r = await runWasiCommandAsync(module, { args: spec.argv, env: spec.env, preopens, ...extra })
  t.is(r.exitCode, spec.expected.exit, `${id} exit code`)
  return { spec, r }
}

const expect = (t, what, got, exp = {}) => {
  if (exp.text !== undefined) t.is(got.toString(), exp.text, what)
  if (exp.bytes !== undefined) t.is(got.length, exp.bytes, `${what} length`)
  if (exp.sha256 !== undefined) t.is(sha256(got), exp.sha256, `${what} sha256`)
}

withCorpus(`yosys synthesizes through runWasiCommandAsync with stdout streamed to a callback, as node:wasi gives it${list ? '' : ' (corpus missing)'}`, async (t) => {
  const chunks = []
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  const { spec, r } = await runSpec(t, 'yosys-synth-noabc', { stdout: (c) => chunks.push(c) })
  clearInterval(timer)
  t.true(chunks.length > 1, 'output came in chunks, as written')
  expect(t, 'stdout', Buffer.concat(chunks), spec.expected.stdout)
  expect(t, 'stderr', r.stderr, spec.expected.stderr)
  t.is(r.stdout, null)
  t.true(ticks > 0, 'a setInterval kept ticking during the run')
})

withCorpus(`four WASI commands at once each give node:wasi's result${list ? '' : ' (corpus missing)'}`, async (t) => {
  const ids = ['icepll', 'yosys-V', 'nextpnr-version', 'yosys-synth-noabc']
  const results = await Promise.all(ids.map((id) => runSpec(t, id)))
  for (const { spec, r } of results) {
    expect(t, `${spec.id} stdout`, r.stdout, spec.expected.stdout)
    expect(t, `${spec.id} stderr`, r.stderr, spec.expected.stderr)
  }
})

test('worker.terminate() stops a run it started, freeing the pool thread; a disposed raw module keeps running until its run ends', async (t) => {
  const r = await childModule(`
import { Worker } from 'node:worker_threads'
const { Module, Engine, runWasiCommandAsync, WasmTrap } = wn
const w = new Worker(\`import * as wn from \${JSON.stringify(${JSON.stringify(fileURLToPath(new URL('../index.mjs', import.meta.url)))})}
  import { parentPort } from 'node:worker_threads'
  wn.runWasiCommandAsync(new wn.Module('${SPIN}')).catch(() => {})
  setTimeout(() => parentPort.postMessage('running'), 50)\`, { eval: true })
await new Promise((r) => w.once('message', r))
await w.terminate()
// One pool thread (WASMTIME_NAPI_THREADS=1): it is free again only if the
// worker's run was stopped.
const module = Module.deserializeRaw(Engine.default.precompileModule('${SPIN}'))
const running = runWasiCommandAsync(module, { timeout: 300 })
module[Symbol.dispose]()
for (let i = 0; i < 10; i++) globalThis.gc()
const e = await running.catch((e) => e)
console.log(e instanceof WasmTrap ? e.trapCode : String(e && (e.stack || e)))
`, { env: { WASMTIME_NAPI_THREADS: '1' } })
  t.is(r.signal, null, r.stderr)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'interrupt')
  t.notRegex(r.stderr, /panicked/)
})

// Writes 64 KiB to stdout, forever.
const FLOOD = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 65536))
    (loop (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) (br 0))))`

test('a sink that throws or fails stops the guest and the run rejects with its error; a flood of output waits for JavaScript', async (t) => {
  const flood = new Module(FLOOD)
  const boom = new Error('sink refused')
  t.is(await runWasiCommandAsync(flood, { stdout: () => { throw boom } }).catch((e) => e), boom)
  const ended = new PassThrough()
  ended.end()
  const e = await runWasiCommandAsync(hello, { args: ['hello', 'x'], stdout: ended }).catch((e) => e)
  t.is(e.code, 'ERR_WASMTIME_WASI')
  t.regex(e.message, /stdout stream failed/)
  // The guest waits while 8 MiB are on their way: memory stays bounded while
  // JavaScript takes its time with each chunk.
  const before = process.memoryUsage.rss()
  let bytes = 0
  const slow = (c) => {
    bytes += c.length
    const until = Date.now() + 1
    while (Date.now() < until);
  }
  const out = await runWasiCommandAsync(flood, { stdout: slow, timeout: 1500 }).catch((e) => e)
  t.is(out.trapCode, 'interrupt')
  t.true(bytes > 0)
  t.true(process.memoryUsage.rss() - before < 256 << 20, `RSS grew by ${(process.memoryUsage.rss() - before) >> 20} MiB`)
})

test('limits, fuel, signals and arguments: coded errors, and no run left hanging', async (t) => {
  const growing = new Module('(module (memory (export "memory") 4) (func (export "_start")))')
  await t.throwsAsync(runWasiCommandAsync(growing, { store: { memorySize: 65536 } }), { code: 'ERR_WASMTIME_INSTANTIATE' })
  const metered = new Engine({ consumeFuel: true })
  await t.throwsAsync(runWasiCommandAsync(new Module(SPIN, metered)), { code: 'ERR_WASMTIME_CONFIG', message: /pass \{ fuel \}/ })
  t.is((await runWasiCommandAsync(new Module(SPIN, metered), { fuel: 10_000n }).catch((e) => e)).trapCode, 'out_of_fuel')
  t.is((await runWasiCommandAsync(new Module('(module (func (export "_start")))', metered), { fuel: 10_000 })).exitCode, 0)
  await t.throwsAsync(runWasiCommandAsync(hello, { fuel: 5n }), { code: 'ERR_WASMTIME_CONFIG' })
  const noEpochs = new Engine({ epochInterruption: false })
  await t.throwsAsync(runWasiCommandAsync(new Module(SPIN, noEpochs), { signal: new AbortController().signal }), { code: 'ERR_WASMTIME_CONFIG' })
  const never = new Readable({ read() {} })
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 20)
  t.is((await runWasiCommandAsync(hello, { stdin: never, signal: controller.signal }).catch((e) => e)).name, 'AbortError')
  // A timeout while stdin is still being read is the interrupt trap a timeout
  // gives at any other point of the run.
  await t.throwsAsync(runWasiCommandAsync(hello, { stdin: new Readable({ read() {} }), timeout: 20 }), {
    instanceOf: WasmTrap,
    code: 'ERR_WASMTIME_TRAP',
    message: /interrupt: stdin was not read to its end within the timeout \(20 ms\)/,
  })
  await t.throwsAsync(runWasiCommandAsync(hello, { stdin: Readable.from([{ not: 'bytes' }]) }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  await t.throwsAsync(runWasiCommandAsync(null), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  await t.throwsAsync(runWasiCommandAsync(hello, { signal: {} }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
})

test('a run still waiting for a thread settles when its signal or timeout fires, and never starts; the pool size is capped', async (t) => {
  const r = await childModule(`
const { Module, runWasiCommandAsync, stats } = wn
const spin = new Module('${SPIN}')
const order = []
const busy = runWasiCommandAsync(spin, { timeout: 2000 }).catch((e) => order.push('busy ' + e.trapCode))
const controller = new AbortController()
const queued = runWasiCommandAsync(new Module('(module (func (export "_start")))'), { signal: controller.signal }).then(() => 'resolved', (e) => order.push('queued ' + e.name))
const late = runWasiCommandAsync(new Module('(module (func (export "_start")))'), { timeout: 50 }).then(() => 'resolved', (e) => order.push('late ' + e.trapCode))
setTimeout(() => controller.abort(), 50)
await Promise.all([busy, queued, late])
// The two that waited for the only thread settle when their signal or
// timeout fires, not when the spinning run ends.
console.log(order.join(), stats().threads)
`, { env: { WASMTIME_NAPI_THREADS: '1' } })
  t.is(r.signal, null, r.stderr)
  t.true(['late interrupt,queued AbortError,busy interrupt 1', 'queued AbortError,late interrupt,busy interrupt 1'].includes(r.stdout.trim()), r.stdout + r.stderr)
  const capped = await childModule("console.log(wn.stats().threads)", { env: { WASMTIME_NAPI_THREADS: '1000000' } })
  t.is(capped.stdout.trim(), '256')
})

test('workers that start short runs and are terminated at once never take the process down', async (t) => {
  const r = await childModule(`
import { Worker } from 'node:worker_threads'
const src = \`import { Module, runWasiCommandAsync } from \${JSON.stringify(${JSON.stringify(fileURLToPath(new URL('../index.mjs', import.meta.url)))})}
import { parentPort } from 'node:worker_threads'
const m = new Module('(module (func (export "_start")))')
const go = () => { for (let i = 0; i < 8; i++) runWasiCommandAsync(m).then(go, go) }
go()
parentPort.postMessage('go')\`
for (let round = 0; round < 60; round++) {
  const w = new Worker(src, { eval: true })
  await new Promise((r) => w.once('message', r))
  await new Promise((r) => setTimeout(r, round % 10))
  await w.terminate()
}
console.log('ok')
`)
  t.is(r.signal, null, r.stderr)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'ok')
})
