// npm run bench (second part): call overheads across the JS/wasm boundary,
// instantiation of a module with a large data segment, and yosys end to end.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { Engine, Module, Store, Instance, Linker } from '../index.mjs'

const require = createRequire(import.meta.url)
const { noop } = require('../binding.js')
const here = dirname(fileURLToPath(import.meta.url))
const corpus = process.env.CORPUS || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wasmtime-napi-corpus')
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
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
function dataModule(bytes) {
  const leb = (v) => { const o = []; do { let b = v & 0x7f; v >>>= 7; if (v) b |= 0x80; o.push(b) } while (v); return o }
  const pages = Math.ceil((bytes + 65536) / 65536)
  const seg = [0x00, 0x41, 0x00, 0x0b, ...leb(bytes)] // active, memory 0, offset i32.const 0
  const dataSection = [0x01, ...seg]
  const head = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, ...leb(1 + leb(pages).length + 1), 1, 0, ...leb(pages), 7, 7, 1, 3, 0x6d, 0x65, 0x6d, 2, 0])
  const payload = Buffer.alloc(bytes, 0xab)
  const sectionLen = dataSection.length + bytes
  return Buffer.concat([head, Buffer.from([11, ...leb(sectionLen), ...dataSection]), payload])
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
/** dataModule(bytes) plus an export `get` that reads the first word of memory. */
function requestModule(bytes) {
  const base = dataModule(bytes)
  const memAt = 8 // the memory section follows the header
  const types = [1, 5, 1, 0x60, 0, 1, 0x7f] // type section: () -> i32
  const funcs = [3, 2, 1, 0]
  const exportsSec = [7, 13, 2, 3, 0x6d, 0x65, 0x6d, 2, 0, 3, 0x67, 0x65, 0x74, 0, 0] // "mem", "get"
  const code = [10, 9, 1, 7, 0, 0x41, 0, 0x28, 2, 0, 0x0b] // i32.load offset 0 of address 0
  const memLen = 2 + base[memAt + 1]
  const memory = base.subarray(memAt, memAt + memLen)
  const data = base.subarray(memAt + memLen + 9) // past the old export section (7, 7, ...)
  return Buffer.concat([base.subarray(0, memAt), Buffer.from(types), Buffer.from(funcs), memory, Buffer.from(exportsSec), Buffer.from(code), data])
}
const small = requestModule(960 << 10)
const rate = (make, n = 20000) => {
  for (let i = 0; i < 2000; i++) make()
  return n / (time(() => { for (let i = 0; i < n; i++) make() }) / 1e9)
}
const perRequest = (engine) => {
  const pre = new Linker(engine).instantiatePre(Module.deserializeRaw(engine.precompileModule(small), engine))
  return () => {
    const s = new Store(engine)
    if (pre.instantiate(s).exports.get() !== (0xabababab | 0)) throw new Error('wrong result')
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
  const pre = new Linker(engine).instantiatePre(Module.deserializeRaw(engine.precompileModule(small), engine))
  const one = async () => {
    const s = new Store(engine)
    if ((await pre.instantiate(s).exports.get.callAsync()) !== (0xabababab | 0)) throw new Error('wrong result')
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
  const runs = Number(process.env.BENCH_RUNS || 5)
  const e2e1 = (how, art, id = 'yosys-synth-noabc') => JSON.parse(execFileSync(process.execPath, ['--no-warnings', join(here, 'e2e-child.mjs'), how, corpus, art, id], { encoding: 'utf8' })).ms
  const e2e = (how) => median(Array.from({ length: runs }, () => e2e1(how, artifact)))
  const a = e2e('ours')
  const b = e2e('node-wasi')
  console.log(`yosys-synth-noabc end to end (median of ${runs} fresh processes):`)
  console.log(`  precompiled + deserializeRaw + run ${a.toFixed(0)} ms   node:wasi on the same bytes ${b.toFixed(0)} ms   ${(b / a).toFixed(1)}x faster (target >= 5x)`)

  // What the default epoch checks cost (they make deadlines and worker
  // termination work): the same run with an engine that compiles none,
  // alternating the two so drift in the machine hits both alike.
  const noEpoch = new Engine({ epochInterruption: false })
  const noEpochArtifact = join(corpus, 'artifacts', noEpoch.precompileCompatibilityHash(), 'yosys.cwasm')
  if (!existsSync(noEpochArtifact)) {
    mkdirSync(dirname(noEpochArtifact), { recursive: true })
    writeFileSync(noEpochArtifact, noEpoch.precompileModule(readFileSync(join(corpus, 'modules', 'yosys.wasm'))))
  }
  for (const id of ['yosys-synth-noabc', 'yosys-synth-ice40']) {
    const withChecks = []
    const without = []
    for (let i = 0; i < runs; i++) {
      withChecks.push(e2e1('ours', artifact, id))
      without.push(e2e1('ours-noepoch', noEpochArtifact, id))
    }
    const on = median(withChecks)
    const off = median(without)
    console.log(`${id} with and without epoch interruption checks (median of ${runs} fresh processes each, alternating):`)
    console.log(`  default (checks on) ${on.toFixed(0)} ms   epochInterruption: false ${off.toFixed(0)} ms   the checks cost ${(((on - off) / off) * 100).toFixed(0)}%`)
  }
} else {
  console.log('yosys end to end: run the load bench first (it precompiles yosys) and npm run corpus')
}
