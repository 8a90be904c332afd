// One measurement in a fresh process: load `path` with `method`, print JSON.
// Both runtimes first load a tiny module with one function, so one-time
// process set-up is not counted against the module being measured: for
// wasmtime that includes the first registration of unwind information, which
// pages in about 28 KiB of libgcc's unwinder (a module without code does not).
import { readFileSync } from 'node:fs'
import { Engine, Module, readPrecompiledSync } from '../index.mjs'

const [method, path] = process.argv.slice(2)
const now = () => process.hrtime.bigint()
// Resident bytes. On Linux, from smaps_rollup, which walks the page tables:
// the RSS that process.memoryUsage.rss() reads from /proc/self/stat is kept in
// per-CPU counters that may lag by tens of pages, as much as a small
// artifact's whole load adds.
const rss = () => {
  try {
    return Number(/^Rss:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]) * 1024
  } catch {
    return process.memoryUsage.rss()
  }
}

// () -> i32.const 1: type, function, export "f", code.
const tiny = Buffer.from('0061736d010000000105016000017f03020100070501016600000a0601040041010b', 'hex')
new WebAssembly.Module(tiny)
Module.deserializeRaw(Engine.default.precompileModule(tiny))

let input
if (method === 'v8') input = readFileSync(path)
else if (method === 'deserialize') input = readFileSync(path)
else if (method === 'deserializeRaw') input = readPrecompiledSync(path)
globalThis.gc?.()
const rss0 = rss()
const t0 = now()
let keep
if (method === 'v8') keep = new WebAssembly.Module(input)
else if (method === 'deserialize') keep = Module.deserialize(input)
else if (method === 'deserializeFile') keep = Module.deserializeFile(path)
else if (method === 'deserializeRaw') keep = Module.deserializeRaw(input)
// Read and load together: the package's reader (a copy into its own pages,
// or a private mapping of the file) and then the raw load.
else if (method === 'readRaw') keep = Module.deserializeRaw(readPrecompiledSync(path))
else if (method === 'mapRaw') keep = Module.deserializeRaw(readPrecompiledSync(path, { map: true }))
else throw new Error(`unknown method ${method}`)
const ns = Number(now() - t0)
const rss1 = rss()
process.stdout.write(JSON.stringify({ ms: ns / 1e6, rssAdded: rss1 - rss0, ok: !!keep }))
