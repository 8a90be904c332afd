// The main job, end to end, on a real module: hash-wasm's SHA-256 (C compiled
// to wasm by the hash-wasm authors, shipped in their npm package).
//
//   1. precompile it, as a CI pipeline would, to a .cwasm artifact on disk;
//   2. read the artifact into a page-aligned buffer and load it with
//      Module.deserializeRaw: no copy, the code runs from that buffer;
//   3. run it on 8 MiB of data and check the digest against node:crypto;
//   4. print what happened, with the load time next to V8's compile time.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { Engine, Module, Store, Instance, readPrecompiled, stats, wasmtimeVersion } from '../index.mjs'

const require = createRequire(import.meta.url)
const { addressOf } = require('../binding.js')

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6
const now = () => process.hrtime.bigint()
const fmt = (x) => (x < 1 ? `${(x * 1000).toFixed(1)} µs` : `${x.toFixed(2)} ms`)

// The real module, as its package ships it (base64 inside the UMD bundle).
const bundle = readFileSync(require.resolve('hash-wasm/dist/sha256.umd.min.js'), 'utf8')
const wasm = Buffer.from(/data:"([A-Za-z0-9+/=]+)"/.exec(bundle)[1], 'base64')
const { version } = JSON.parse(readFileSync(require.resolve('hash-wasm/package.json'), 'utf8'))
console.log(`module      hash-wasm@${version} sha256 (${wasm.length} bytes of wasm)`)
console.log(`runtime     wasmtime ${wasmtimeVersion} via wasmtime-napi, Node ${process.version}, ${cpus()[0].model.trim()}`)

// 1. Precompile (what `wasmtime-napi precompile` does in CI).
let t0 = now()
const artifact = Engine.default.precompileModule(wasm)
const compileMs = ms(t0)
const dir = join(tmpdir(), 'wasmtime-napi-demo')
mkdirSync(dir, { recursive: true })
const path = join(dir, 'sha256.cwasm')
writeFileSync(path, artifact)
console.log(`precompile  ${fmt(compileMs)} with Cranelift -> ${path} (${artifact.length} bytes)`)

// 2. Load without a copy. The first load in a process also pays a one-time
// runtime set-up, so a second artifact buffer shows the steady-state cost.
const buffer = await readPrecompiled(path)
// The module takes the buffer's memory over (the Buffer reads as empty after).
const base = addressOf(buffer)
const size = buffer.length
t0 = now()
const module = Module.deserializeRaw(buffer)
const firstMs = ms(t0)
const again = await readPrecompiled(path)
t0 = now()
Module.deserializeRaw(again)
const rawMs = ms(t0)
t0 = now()
new WebAssembly.Module(wasm)
const v8Ms = ms(t0)
t0 = now()
Module.deserialize(artifact)
const copyMs = ms(t0)
const [codeStart, codeEnd] = module.imageRange()
const inPlace = codeStart >= base && codeEnd <= base + size
console.log(`load        deserializeRaw ${fmt(rawMs)} (first in process ${fmt(firstMs)}) | deserialize (copy) ${fmt(copyMs)} | V8 new WebAssembly.Module ${fmt(v8Ms)} (lazy)`)
console.log(`no copy     code image 0x${codeStart.toString(16)}..0x${codeEnd.toString(16)} lies ${inPlace ? 'inside' : 'OUTSIDE'} the buffer 0x${base.toString(16)}..0x${(base + size).toString(16)}; pinned ${stats().pinnedBytes} bytes`)

// 3. Run it.
const { exports: x } = new Instance(new Store(), module)
const data = randomBytes(8 << 20)
t0 = now()
const io = x.Hash_GetBuffer()
const view = new Uint8Array(x.memory.buffer, io, 16 * 1024)
x.Hash_Init(256)
for (let off = 0; off < data.length; off += view.length) {
  const chunk = data.subarray(off, off + view.length)
  view.set(chunk)
  x.Hash_Update(chunk.length)
}
x.Hash_Final()
const digest = Buffer.from(view.subarray(0, 32)).toString('hex')
const runMs = ms(t0)
const expected = createHash('sha256').update(data).digest('hex')
console.log(`run         sha256 of 8 MiB in ${fmt(runMs)}: ${digest}`)
console.log(`check       node:crypto says      ${expected} -> ${digest === expected ? 'MATCH' : 'MISMATCH'}`)
if (digest !== expected || !inPlace) process.exit(1)
