// npm run bench (third part): off the event loop. Event-loop delay while
// yosys synthesizes, sync against async; throughput of 8 yosys jobs through
// runWasiCommandAsync against node:wasi in a pool of worker_threads of the
// same size; RSS of workers sharing one module against each loading its own.
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { cpus } from 'node:os'
import { randomFill } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'

process.removeAllListeners('warning') // node:wasi's ExperimentalWarning, once per worker
import { Engine, Linker, Module, Store, readPrecompiledSync, runWasiCommand, runWasiCommandAsync, stats } from '../index.mjs'
import { corpus, corpusTask, median } from './common.mjs'

// --- the price of going off the thread: callAsync against a synchronous call,
// and a host call from an async call against one from a synchronous call
{
  const engine = new Engine()
  const linker = new Linker(engine)
  linker.func('h', 'sync', { params: ['i32'], results: ['i32'] }, (x) => x + 1)
  linker.func('h', 'promise', { params: ['i32'], results: ['i32'] }, async (x) => x + 1)
  const module = new Module(`(module
    (import "h" "sync" (func $s (param i32) (result i32)))
    (import "h" "promise" (func $p (param i32) (result i32)))
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "loopSync") (param $n i32) (result i32) (local $a i32)
      (block $d (loop $l (br_if $d (i32.eqz (local.get $n)))
        (local.set $a (call $s (local.get $a))) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))
      local.get $a)
    (func (export "loopPromise") (param $n i32) (result i32) (local $a i32)
      (block $d (loop $l (br_if $d (i32.eqz (local.get $n)))
        (local.set $a (call $p (local.get $a))) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))
      local.get $a))`, engine)
  const stores = [0, 1].map(() => linker.instantiate(new Store(engine), module).exports)
  const { add, loopSync, loopPromise } = stores[0]
  const per = (t0, n) => Number(process.hrtime.bigint() - t0) / n
  const fmt = (ns) => (ns >= 1000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`)
  const best = async (f) => Math.min(await f(), await f(), await f())
  const SYNC_N = 1_000_000
  const syncCall = await best(async () => {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < SYNC_N; i++) add(i, 1)
    return per(t0, SYNC_N)
  })
  const ASYNC_N = 20_000
  const asyncCall = await best(async () => {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < ASYNC_N; i++) await add.callAsync(i, 1)
    return per(t0, ASYNC_N)
  })
  // The floor of any trip to another thread and back: libuv's pool.
  const one = Buffer.alloc(1)
  const libuvTrip = await best(async () => {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < ASYNC_N; i++) await new Promise((r) => randomFill(one, r))
    return per(t0, ASYNC_N)
  })
  // Many in flight: 2 stores, 64 calls queued on each.
  const flight = await best(async () => {
    const t0 = process.hrtime.bigint()
    const rounds = Math.floor(ASYNC_N / 128)
    for (let round = 0; round < rounds; round++) {
      await Promise.all(stores.flatMap((s) => Array.from({ length: 64 }, (_, i) => s.add.callAsync(i, 1))))
    }
    return per(t0, rounds * 128)
  })
  const HOST_N = 200_000
  const hostSync = await best(async () => {
    const t0 = process.hrtime.bigint()
    loopSync(HOST_N)
    return per(t0, HOST_N)
  })
  const hostFromAsync = await best(async () => {
    const t0 = process.hrtime.bigint()
    await loopSync.callAsync(HOST_N / 10)
    return per(t0, HOST_N / 10)
  })
  const hostPromise = await best(async () => {
    const t0 = process.hrtime.bigint()
    await loopPromise.callAsync(HOST_N / 10)
    return per(t0, HOST_N / 10)
  })
  console.log(`the price of going off the thread (best of 3; ${cpus().length} cores):`)
  console.log(`  add(i32, i32): sync ${fmt(syncCall)}   await callAsync, one at a time ${fmt(asyncCall)} (${(asyncCall / syncCall).toFixed(0)}x the sync call, ${(asyncCall / libuvTrip).toFixed(2)}x a libuv pool round trip, crypto.randomFill of 1 byte: ${fmt(libuvTrip)})`)
  console.log(`  64 callAsync in flight on each of 2 stores: ${fmt(flight)} per call (${(flight / syncCall).toFixed(0)}x the sync call)`)
  console.log(`  host call from wasm: in a sync call ${fmt(hostSync)}   in callAsync, sync host function ${fmt(hostFromAsync)} (${(hostFromAsync / hostSync).toFixed(0)}x)   returning a Promise ${fmt(hostPromise)} (${(hostPromise / hostSync).toFixed(0)}x)`)
}

const artifact = join(corpus, 'artifacts', Engine.default.precompileCompatibilityHash(), 'yosys.cwasm')
if (!existsSync(artifact)) {
  console.log('off the event loop: run the load bench first (it precompiles yosys) and npm run corpus')
  process.exit(0)
}
const spec = corpusTask('yosys-synth-noabc')
const options = { args: spec.argv, preopens: spec.preopens, stdout: 'ignore', stderr: 'ignore' }
const yosys = Module.deserializeRaw(readPrecompiledSync(artifact))
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6

// --- event-loop delay while yosys synthesizes
async function loopDelay(run) {
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  await new Promise((r) => setTimeout(r, 20))
  await run()
  await new Promise((r) => setTimeout(r, 20))
  h.disable()
  return h.percentile(99) / 1e6
}
runWasiCommand(yosys, options) // warm
const syncDelay = median(await Promise.all([0, 1, 2].map(() => loopDelay(async () => runWasiCommand(yosys, options)))))
const asyncDelay = median([await loopDelay(() => runWasiCommandAsync(yosys, options)), await loopDelay(() => runWasiCommandAsync(yosys, options)), await loopDelay(() => runWasiCommandAsync(yosys, options))])
console.log(`event-loop delay (p99, monitorEventLoopDelay) while yosys-synth-noabc runs, median of 3:`)
console.log(`  runWasiCommand (sync) ${syncDelay.toFixed(1)} ms   runWasiCommandAsync ${asyncDelay.toFixed(1)} ms`)

// --- throughput of 8 jobs
const JOBS = 8
const pool = stats().threads
let t0 = process.hrtime.bigint()
await Promise.all(Array.from({ length: JOBS }, () => runWasiCommandAsync(yosys, options)))
const ours = ms(t0)
const wasm = readFileSync(spec.wasm)
const v8Module = new WebAssembly.Module(wasm) // compiled once (lazily), posted to the workers
// One job per worker, at most `pool` at once: node:wasi (Node 20.20.2) crashes
// with SIGSEGV when one worker runs yosys a second time.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { WASI } = require('node:wasi')
const fs = require('node:fs')
const devnull = fs.openSync('/dev/null', 'w')
const wasi = new WASI({ version: 'preview1', args: workerData.args, env: {}, preopens: workerData.preopens, returnOnExit: true, stdout: devnull, stderr: devnull })
wasi.start(new WebAssembly.Instance(workerData.module, wasi.getImportObject()))
parentPort.postMessage('done')`
t0 = process.hrtime.bigint()
let next = 0
await Promise.all(Array.from({ length: pool }, async () => {
  while (next < JOBS) {
    next++
    const w = new Worker(workerSource, { eval: true, workerData: { module: v8Module, args: spec.argv, preopens: options.preopens } })
    await new Promise((r, j) => { w.once('message', r); w.once('error', j) })
    await w.terminate()
  }
}))
const theirs = ms(t0)
console.log(`throughput, ${JOBS} yosys-synth-noabc jobs (pool of ${pool} = one per core, on both sides):`)
console.log(`  runWasiCommandAsync ${ours.toFixed(0)} ms   node:wasi in worker_threads, ${pool} at once (module compiled once, posted) ${theirs.toFixed(0)} ms   ${(theirs / ours).toFixed(1)}x`)

// --- RSS of N workers: one shared module against a load each
const N = 4
async function rssWith(makeSource, data) {
  const before = process.memoryUsage.rss()
  const ws = Array.from({ length: N }, () => new Worker(makeSource, { eval: true, workerData: data }))
  await Promise.all(ws.map((w) => new Promise((r, j) => { w.once('message', r); w.once('error', j) })))
  const grown = process.memoryUsage.rss() - before
  await Promise.all(ws.map((w) => w.terminate()))
  return grown
}
const entry = JSON.stringify(fileURLToPath(new URL('../index.mjs', import.meta.url)))
const run = `const { exitCode } = wn.runWasiCommand(m, { args: workerData.args, preopens: workerData.preopens, stdout: 'ignore', stderr: 'ignore' }); parentPort.postMessage(exitCode)`
const sharedSrc = `import * as wn from ${entry}; import { parentPort, workerData } from 'node:worker_threads'; const m = wn.Module.fromShared(workerData.handle); ${run}`
const ownSrc = `import * as wn from ${entry}; import { parentPort, workerData } from 'node:worker_threads'; const m = wn.Module.deserializeRaw(wn.readPrecompiledSync(workerData.artifact)); ${run}`
const data = { args: spec.argv, preopens: options.preopens }
const shared = await rssWith(sharedSrc, { ...data, handle: yosys.share() })
const own = await rssWith(ownSrc, { ...data, artifact })
console.log(`RSS added by ${N} workers running yosys once each (artifact ${(readFileSync(artifact).length / 2 ** 20).toFixed(0)} MB):`)
console.log(`  sharing one module (module.share) ${(shared / 2 ** 20).toFixed(0)} MB   each loading its own ${(own / 2 ** 20).toFixed(0)} MB   ${(own / shared).toFixed(1)}x`)
console.log(`machine: ${cpus()[0].model}, ${cpus().length} cores, Node ${process.version}`)
