// Off the event loop: runWasiCommandAsync runs the guest on a native thread
// while JavaScript keeps running; output streams as the guest writes it.
import test from 'ava'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Engine, Module, WasmTrap, readPrecompiledSync, runWasiCommand, runWasiCommandAsync, stats } from '../index.mjs'
import { corpusDir, precompiledPath, runNode } from './helpers.mjs'

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
  const noEpochs = new Engine({ epochInterruption: false })
  await t.throwsAsync(runWasiCommandAsync(new Module(SPIN, noEpochs), { timeout: 10 }), { code: 'ERR_WASMTIME_CONFIG' })
  await t.throwsAsync(runWasiCommandAsync(hello, { stdot: 'capture' }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  await t.throwsAsync(runWasiCommandAsync(hello, { stdout: 'capure' }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
  await t.throwsAsync(runWasiCommandAsync(hello, { timeout: -1 }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
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
    const copy = mkdtempSync(join(tmpdir(), `wasmtime-napi-async-${id}-`))
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

/** Runs `body` as an ES module in a child process (it could crash it). */
function child(body, env = {}) {
  const entry = JSON.stringify(fileURLToPath(new URL('../index.mjs', import.meta.url)))
  return runNode(['--input-type=module', '-e', `import * as wn from ${entry}\n${body}`], { env, timeout: 60_000 })
}

test('worker.terminate() stops a run it started, freeing the pool thread; a disposed raw module keeps running until its run ends', async (t) => {
  const r = await child(`
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
`, { WASMTIME_NAPI_THREADS: '1' })
  t.is(r.signal, null, r.stderr)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'interrupt')
  t.notRegex(r.stderr, /panicked/)
})
