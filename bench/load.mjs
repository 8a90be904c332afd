// npm run bench: load time of the real modules >= 1 MB, V8 against the three
// loaders, in fresh processes. Prints figures, ratios and the machine.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync, statSync } from 'node:fs'
import { cpus, totalmem, release } from 'node:os'
import { join } from 'node:path'
import { Engine, wasmtimeVersion } from '../index.mjs'
import { renderChart } from './chart.mjs'
import { RUNS, corpus, here, median } from './common.mjs'

const METHODS = ['v8', 'deserialize', 'deserializeFile', 'deserializeRaw', 'deserializeRaw4k', 'readRaw', 'readRaw4k', 'mapRaw']
// The `4k` rows are the same as the row without, with the package's huge
// pages turned off (WASMTIME_NAPI_HUGE_PAGES=0): the route that lost.
const child = (m) => (m.endsWith('4k') ? { method: m.slice(0, -2), env: { ...process.env, WASMTIME_NAPI_HUGE_PAGES: '0' } } : { method: m, env: process.env })
const ids = ['nextpnr-ice40', 'esbuild', 'swc', 'yosys', 'ffmpeg', 'biome'].filter((id) => {
  const p = join(corpus, 'modules', `${id}.wasm`)
  return existsSync(p) && statSync(p).size >= 1 << 20
})
if (ids.length === 0) {
  console.log(`bench: no corpus modules in ${corpus}; run npm run corpus`)
  process.exit(0)
}

const mb = (b) => (b / 1048576).toFixed(1)
const t = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`)

console.log(`machine: ${cpus()[0].model.trim()}, ${cpus().length} cores, ${mb(totalmem())} MiB RAM, Linux ${release()}`)
console.log(`versions: Node ${process.version} (V8 ${process.versions.v8}), wasmtime ${wasmtimeVersion}`)
console.log(`method: median of ${RUNS} fresh processes per cell; each warms both runtimes on a tiny module first; RSS is measured around the load call only\n`)

// Artifacts are cached by compatibility hash; compile time is from the run that made them.
const engine = Engine.default
const cacheDir = join(corpus, 'artifacts', engine.precompileCompatibilityHash())
mkdirSync(cacheDir, { recursive: true })
const results = []
for (const id of ids) {
  const wasmPath = join(corpus, 'modules', `${id}.wasm`)
  const art = join(cacheDir, `${id}.cwasm`)
  const meta = join(cacheDir, `${id}.json`)
  if (!existsSync(art) || !existsSync(meta)) {
    process.stdout.write(`precompiling ${id} ... `)
    const t0 = process.hrtime.bigint()
    const bytes = engine.precompileModule(readFileSync(wasmPath))
    const compileMs = Number(process.hrtime.bigint() - t0) / 1e6
    writeFileSync(art, bytes)
    writeFileSync(meta, JSON.stringify({ compileMs }))
    console.log(t(compileMs))
  }
  const { compileMs } = JSON.parse(readFileSync(meta, 'utf8'))
  const row = { id, wasmBytes: statSync(wasmPath).size, artifactBytes: statSync(art).size, compileMs }
  for (const m of METHODS) {
    const samples = []
    for (let i = 0; i < RUNS; i++) {
      const { method, env } = child(m)
      const out = execFileSync(process.execPath, ['--expose-gc', join(here, 'child.mjs'), method, m === 'v8' ? wasmPath : art], { encoding: 'utf8', env })
      samples.push(JSON.parse(out))
    }
    row[m] = { ms: median(samples.map((s) => s.ms)), rssAdded: median(samples.map((s) => s.rssAdded)) }
  }
  results.push(row)
  const r = row
  console.log(`${id}: wasm ${mb(r.wasmBytes)} MB, artifact ${mb(r.artifactBytes)} MB, Cranelift compile ${t(r.compileMs)}`)
  console.log(`  ${'method'.padEnd(28)}${'time'.padStart(10)}${'RSS added'.padStart(14)}${'vs V8'.padStart(10)}${'vs copy'.padStart(10)}`)
  const label = {
    v8: 'V8 new WebAssembly.Module',
    deserialize: 'deserialize (copy)',
    deserializeFile: 'deserializeFile (mmap)',
    deserializeRaw: 'deserializeRaw (in place)',
    deserializeRaw4k: '  the same, 4 KiB pages',
    readRaw: 'read (copy) + raw load',
    readRaw4k: '  the same, 4 KiB pages',
    mapRaw: 'read { map } + raw load',
  }
  for (const m of METHODS) {
    const c = r[m]
    // The read rows include reading the file, which the others do before the
    // clock starts: they are compared with deserializeFile below instead.
    const ratio = (base) => (m.startsWith('read') || m === 'mapRaw' ? '' : `${(base / c.ms).toFixed(1)}x`).padStart(10)
    console.log(`  ${label[m].padEnd(28)}${t(c.ms).padStart(10)}${`${mb(c.rssAdded)} MB`.padStart(14)}${ratio(r.v8.ms)}${ratio(r.deserialize.ms)}`)
  }
  console.log(`  deserializeRaw RSS added: ${((100 * Math.max(0, r.deserializeRaw.rssAdded)) / r.artifactBytes).toFixed(2)}% of the artifact; raw vs mmap: ${(r.deserializeFile.ms / r.deserializeRaw.ms).toFixed(2)}x`)
  console.log(`  read + load against deserializeFile: copying reader ${(r.readRaw.ms / r.deserializeFile.ms).toFixed(2)}x (${(r.readRaw4k.ms / r.deserializeFile.ms).toFixed(2)}x on 4 KiB pages), mapping reader ${(r.mapRaw.ms / r.deserializeFile.ms).toFixed(2)}x the time (target: within 1.5x)\n`)
}
const run = { date: new Date().toISOString(), node: process.version, v8: process.versions.v8, wasmtime: wasmtimeVersion, cpu: cpus()[0].model.trim(), cores: cpus().length, runs: RUNS, results }
writeFileSync(join(here, 'results.json'), JSON.stringify(run, null, 2) + '\n')
writeFileSync(join(here, 'chart.svg'), renderChart(run))
console.log('figures written to bench/results.json, chart to bench/chart.svg')
