// npm run bench (second part): call overheads across the JS/wasm boundary,
// instantiation of a module with a large data segment, and yosys end to end.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { Engine, Module, Store, Instance, Linker } from '../index.mjs'
import { RUNS, cachedArtifact, corpus, corpusTask, median, wasiRun } from './common.mjs'

const require = createRequire(import.meta.url)
const { noop } = require('../binding.js')
const time = (f) => {
  const t0 = process.hrtime.bigint()
  f()
  return Number(process.hrtime.bigint() - t0)
}
/** Median ns per iteration of `f(n)` over several rounds. */
const perCall = (n, f, rounds = 7) => {
  f(n / 10) // warm up
  return median(Array.from({ length: rounds }, () => time(() => f(n)) / n))
}

// --- JS -> wasm
const WAT = `(module
  (import "env" "f" (func $f (param i32) (result i32)))
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "loop") (param i32) (result i32) (local i32)
    (block (loop (br_if 1 (i32.eqz (local.get 0)))
      (local.set 1 (call $f (local.get 1)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br 0)))
    local.get 1))`
const env = { f: (x) => x + 1 }
const ours = new Instance(new Store(), new Module(WAT), { env }).exports
const N = 2_000_000
const jsToWasm = perCall(N, (n) => { for (let i = 0; i < n; i++) ours.add(i, 1) })
const floor = perCall(N, (n) => { for (let i = 0; i < n; i++) noop(i, 1) })
const hostCall = perCall(N / 4, (n) => ours.loop(n))
// The same add in V8's own WebAssembly: the price of a native boundary.
const v8Add = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from('0061736d0100000001070160027f7f017f030201000707010361646400000a09010700200020016a0b', 'hex'))).exports.add
const v8Call = perCall(N, (n) => { for (let i = 0; i < n; i++) v8Add(i, 1) })
console.log('calls (ns per call, median of 7 rounds):')
console.log(`  JS -> wasm add(i32, i32)      ${jsToWasm.toFixed(1)} ns   napi-rs no-op(i32, i32) ${floor.toFixed(1)} ns   ratio ${(jsToWasm / floor).toFixed(2)}x (target <= 1.2x)`)
console.log(`  wasm -> JS host call          ${hostCall.toFixed(1)} ns   vs the napi-rs no-op floor ${(hostCall / floor).toFixed(2)}x (target <= 1.5x)`)
console.log(`  the same add in V8's own wasm ${v8Call.toFixed(1)} ns   ours is ${(jsToWasm / v8Call).toFixed(1)}x that: the price of a native boundary`)

// --- instantiation with a large data segment
/**
 * A module with a memory exported as "mem" and an active data segment of
 * `bytes` bytes of 0xab at address 0; with `get`, also an export "get" that
 * returns the first word of memory.
 */
function dataModule(bytes, { get = false } = {}) {
  const leb = (v) => { const o = []; do { let b = v & 0x7f; v >>>= 7; if (v) b |= 0x80; o.push(b) } while (v); return o }
  const section = (id, body) => [id, ...leb(body.length), ...body]
  const name = (s) => [s.length, ...Buffer.from(s)]
  const pages = Math.ceil((bytes + 65536) / 65536)
  const exportsList = [[...name('mem'), 2, 0], ...(get ? [[...name('get'), 0, 0]] : [])]
  const head = [
    ...(get ? section(1, [1, 0x60, 0, 1, 0x7f]) : []), // type: () -> i32
    ...(get ? section(3, [1, 0]) : []), // function 0 of type 0
    ...section(5, [1, 0, ...leb(pages)]), // memory
    ...section(7, [exportsList.length, ...exportsList.flat()]),
    ...(get ? section(10, [1, 7, 0, 0x41, 0, 0x28, 2, 0, 0x0b]) : []), // i32.load of address 0
  ]
  const seg = [1, 0x00, 0x41, 0x00, 0x0b, ...leb(bytes)] // one active segment, memory 0, offset i32.const 0
  return Buffer.concat([
    Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...head, 11, ...leb(seg.length + bytes), ...seg]),
    Buffer.alloc(bytes, 0xab),
  ])
}
const DATA = 16 << 20
const bin = dataModule(DATA)
const ourModule = Module.deserializeRaw(Engine.default.precompileModule(bin))
const v8Module = new WebAssembly.Module(bin)
const store = new Store()
const instOurs = median(Array.from({ length: 21 }, () => time(() => new Instance(store, ourModule)))) / 1e6
const instV8 = median(Array.from({ length: 21 }, () => time(() => new WebAssembly.Instance(v8Module)))) / 1e6
console.log(`instantiate a module with a ${DATA >> 20} MiB data segment (median of 21):`)
console.log(`  new Instance ${instOurs.toFixed(3)} ms   new WebAssembly.Instance ${instV8.toFixed(3)} ms   ${(instV8 / instOurs).toFixed(1)}x faster (target >= 10x)`)

// --- per-request instances: a fresh store, a 1 MiB memory with a data
// segment, instantiate through an InstancePre, one call, dispose
const small = dataModule(960 << 10, { get: true })
const rate = (make, n = 20000) => {
  for (let i = 0; i < 2000; i++) make()
  return n / (time(() => { for (let i = 0; i < n; i++) make() }) / 1e9)
}
const requestPre = (engine) => new Linker(engine).instantiatePre(Module.deserializeRaw(engine.precompileModule(small), engine))
const check = (v) => {
  if (v !== (0xabababab | 0)) throw new Error(`wrong result ${v}`)
}
const perRequest = (engine) => {
  const pre = requestPre(engine)
  return () => {
    const s = new Store(engine)
    check(pre.instantiate(s).exports.get())
    s.dispose()
  }
}
const v8Small = new WebAssembly.Module(small)
const plain = median([0, 1, 2].map(() => rate(perRequest(Engine.default))))
const pooled = median([0, 1, 2].map(() => rate(perRequest(new Engine({ pooling: true })))))
// The first page of each memory slot kept resident: no page fault on the
// call's first load, no TLB shootdown when the store is freed.
const resident = median([0, 1, 2].map(() => rate(perRequest(new Engine({ pooling: { memoryKeepResident: 64 << 10 } })))))
const v8Rate = median([0, 1, 2].map(() => rate(() => new WebAssembly.Instance(v8Small).exports.get())))
// The same with the call made by callAsync, four requests in flight at once.
const asyncRate = async (engine, n = 8000) => {
  const pre = requestPre(engine)
  const one = async () => {
    const s = new Store(engine)
    check(await pre.instantiate(s).exports.get.callAsync())
    s.dispose()
  }
  const batch = async (k) => { for (let i = 0; i < k; i += 4) await Promise.all([one(), one(), one(), one()]) }
  await batch(800)
  const t0 = process.hrtime.bigint()
  await batch(n)
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}
const pooledEngine = new Engine({ pooling: true })
const pooledAsync = median([await asyncRate(pooledEngine), await asyncRate(pooledEngine), await asyncRate(pooledEngine)])
console.log('per-request instances (1 MiB memory with a data segment; store, instantiate, one call, dispose; median of 3):')
console.log(`  default engine ${Math.round(plain)}/s   new Engine({ pooling: true }) ${Math.round(pooled)}/s   new WebAssembly.Instance ${Math.round(v8Rate)}/s   pooling ${(pooled / v8Rate).toFixed(1)}x V8 (target >= 8x), ${(pooled / plain).toFixed(1)}x default`)
console.log(`  pooling: { memoryKeepResident: 64 KiB } ${Math.round(resident)}/s, ${(resident / v8Rate).toFixed(1)}x V8, ${(resident / pooled).toFixed(2)}x pooling: true`)
console.log(`  the call by callAsync, 4 requests in flight (pooling engine): ${Math.round(pooledAsync)}/s, ${(pooledAsync / v8Rate).toFixed(1)}x V8's synchronous loop; the thread hop is most of it (bench/async.mjs)`)

// --- yosys end to end, fresh processes
const artifact = join(corpus, 'artifacts', Engine.default.precompileCompatibilityHash(), 'yosys.cwasm')
if (existsSync(artifact) && existsSync(join(corpus, 'tests.json'))) {
  const e2e1 = (how, art, id = 'yosys-synth-noabc') => {
    const task = corpusTask(id)
    return wasiRun(how, how === 'node-wasi' ? task.wasm : art, task.preopens, task.argv).ms
  }
  const e2e = (how) => median(Array.from({ length: RUNS }, () => e2e1(how, artifact)))
  const a = e2e('ours')
  const b = e2e('node-wasi')
  console.log(`yosys-synth-noabc end to end (median of ${RUNS} fresh processes):`)
  console.log(`  precompiled + deserializeRaw + run ${a.toFixed(0)} ms   node:wasi on the same bytes ${b.toFixed(0)} ms   ${(b / a).toFixed(1)}x faster (target >= 5x)`)

  // What the default epoch checks cost (they make deadlines and worker
  // termination work): the same run with an engine that compiles none,
  // alternating the two so drift in the machine hits both alike.
  const noEpochArtifact = cachedArtifact(new Engine({ epochInterruption: false }), corpus, 'yosys', join(corpus, 'modules', 'yosys.wasm'))
  for (const id of ['yosys-synth-noabc', 'yosys-synth-ice40']) {
    const withChecks = []
    const without = []
    for (let i = 0; i < RUNS; i++) {
      withChecks.push(e2e1('ours', artifact, id))
      without.push(e2e1('ours-noepoch', noEpochArtifact, id))
    }
    const on = median(withChecks)
    const off = median(without)
    console.log(`${id} with and without epoch interruption checks (median of ${RUNS} fresh processes each, alternating):`)
    console.log(`  default (checks on) ${on.toFixed(0)} ms   epochInterruption: false ${off.toFixed(0)} ms   the checks cost ${(((on - off) / off) * 100).toFixed(0)}%`)
  }
} else {
  console.log('yosys end to end: run the load bench first (it precompiles yosys) and npm run corpus')
}
