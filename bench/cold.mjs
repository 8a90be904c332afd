// npm run bench (fourth part): cold start of real WASI tasks, whole process,
// against node:wasi on the same wasm. Each side is a fresh `node` process
// timed from spawn to exit; inside, the child reports its load and run time,
// and the rest is Node's own start-up (plus `require`) and exit, which the
// floor measures for a process that loads the package and does nothing.
// Writes bench/cold-start.svg: stacked Node start, load, run, per task.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Engine } from '../index.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const corpus = process.env.CORPUS || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wasmtime-napi-corpus')
const RUNS = Number(process.env.BENCH_RUNS || 5)
// Tasks that only read their inputs, so every run starts from the same state.
const TASKS = ['icepll', 'nextpnr-version', 'yosys-V', 'yosys-synth-noabc']
if (!existsSync(join(corpus, 'tests.json'))) {
  console.log('cold start: no corpus; run npm run corpus')
  process.exit(0)
}
const specs = JSON.parse(readFileSync(join(corpus, 'tests.json'), 'utf8')).tests
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const cache = join(corpus, 'artifacts', Engine.default.precompileCompatibilityHash())
mkdirSync(cache, { recursive: true })

/** Wall time of a fresh process, spawn to exit, and what it printed. */
function timed(args) {
  const t0 = process.hrtime.bigint()
  const out = execFileSync(process.execPath, args, { encoding: 'utf8' })
  return { wall: Number(process.hrtime.bigint() - t0) / 1e6, out }
}
const floor = median(Array.from({ length: RUNS }, () => timed(['-e', `require(${JSON.stringify(join(here, '..'))})`]).wall))

const rows = []
const noEpoch = new Engine({ epochInterruption: false })
for (const id of TASKS) {
  const spec = specs.find((t) => t.id === id)
  if (!spec || !existsSync(join(corpus, spec.modulePath))) continue
  const name = spec.modulePath.replace(/^modules\//, '').replace(/\.wasm$/, '')
  const artifact = join(cache, `${name}.cwasm`)
  if (!existsSync(artifact)) writeFileSync(artifact, Engine.default.precompileModule(readFileSync(join(corpus, spec.modulePath))))
  const side = (how, art = artifact) => {
    const samples = Array.from({ length: RUNS }, () => {
      const { wall, out } = timed(['--no-warnings', join(here, 'e2e-child.mjs'), how, corpus, art, id])
      return { wall, ...JSON.parse(out) }
    })
    const wall = median(samples.map((s) => s.wall))
    const load = median(samples.map((s) => s.loadMs))
    const run = median(samples.map((s) => s.runMs))
    return { wall, load, run, start: Math.max(0, wall - load - run) }
  }
  const row = { id, ours: side('ours'), mapped: side('ours-map'), wasi: side('node-wasi') }
  // What the leash costs: the same mapped run on an engine without epoch
  // checks (no deadlines, no interrupt), for the yosys tasks.
  if (name === 'yosys') {
    const art = join(corpus, 'artifacts', noEpoch.precompileCompatibilityHash(), 'yosys.cwasm')
    if (!existsSync(art)) {
      mkdirSync(dirname(art), { recursive: true })
      writeFileSync(art, noEpoch.precompileModule(readFileSync(join(corpus, spec.modulePath))))
    }
    row.noEpoch = side('ours-map-noepoch', art)
  }
  rows.push(row)
}

const ms = (x) => `${x.toFixed(0)} ms`
console.log(`cold start, whole process (median of ${RUNS}; ${cpus().length} cores): Node start-up and exit + load + run`)
console.log(`  floor: node -e "require('wasmtime-napi')" ${ms(floor)}`)
for (const r of rows) {
  const f = (s) => `${ms(s.wall)} (start ${ms(s.start)}, load ${s.load.toFixed(1)} ms, run ${ms(s.run)})`
  console.log(`  ${r.id.padEnd(18)} ours ${f(r.ours)}   mapped reader ${ms(r.mapped.wall)}   node:wasi ${f(r.wasi)}`)
  console.log(`  ${''.padEnd(18)} ${(r.wasi.wall / r.ours.wall).toFixed(1)}x faster (${(r.wasi.wall / r.mapped.wall).toFixed(1)}x mapped); the floor plus our in-process time is ${ms(floor + r.ours.load + r.ours.run)}, so ${(r.ours.wall / (floor + r.ours.load + r.ours.run)).toFixed(2)}x the floor`)
  if (r.noEpoch) console.log(`  ${''.padEnd(18)} mapped, epochInterruption: false: ${ms(r.noEpoch.wall)} (run ${ms(r.noEpoch.run)} against ${ms(r.mapped.run)}), ${(r.wasi.wall / r.noEpoch.wall).toFixed(1)}x faster: what the epoch checks cost`)
}
writeFileSync(join(here, 'cold-start.svg'), chart(rows, floor))
console.log('chart written to bench/cold-start.svg')

function chart(rows, floor) {
  const left = 150
  const width = 860
  const plot = width - left - 90
  const bar = 14
  const group = 2 * bar + 18
  const top = 58
  const height = top + rows.length * group + 44
  const max = Math.max(...rows.map((r) => r.wasi.wall), ...rows.map((r) => r.ours.wall))
  const x = (v) => (plot * v) / max
  const parts = [['start', 'Node start-up and exit', '#bdbdbd'], ['load', 'load (read + load / compile + instantiate)', '#2a9d8f'], ['run', 'run', '#264653']]
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`, '<rect width="100%" height="100%" fill="white"/>']
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">Cold start of real WASI tasks, whole process (lower is better)</text>`)
  out.push(`<text x="${left}" y="38" fill="#555">${cpus()[0].model.trim()}, ${cpus().length} cores, Node ${process.version}; median of ${RUNS}; dashed: node -e "require('wasmtime-napi')" = ${floor.toFixed(0)} ms</text>`)
  out.push(`<line x1="${left + x(floor)}" x2="${left + x(floor)}" y1="${top - 6}" y2="${height - 36}" stroke="#999" stroke-dasharray="4 3"/>`)
  rows.forEach((r, i) => {
    const y0 = top + i * group
    out.push(`<text x="${left - 8}" y="${y0 + bar + 4}" text-anchor="end">${r.id}</text>`)
    ;[['wasmtime-napi', r.ours], ['node:wasi', r.wasi]].forEach(([label, s], j) => {
      const y = y0 + j * bar
      let at = left
      for (const [key, , color] of parts) {
        const w = Math.max(0.5, x(s[key]))
        out.push(`<rect x="${at.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${color}"/>`)
        at += w
      }
      out.push(`<text x="${(at + 4).toFixed(1)}" y="${y + bar - 3}" font-size="10" fill="#333">${label} ${s.wall.toFixed(0)} ms</text>`)
    })
  })
  parts.forEach(([, label, color], j) => {
    const lx = left + j * 190
    out.push(`<rect x="${lx}" y="${height - 18}" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="${height - 9}">${label}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
