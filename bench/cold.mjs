// npm run bench (fourth part): cold start of real WASI tasks, whole process,
// against node:wasi on the same wasm. Each side is a fresh `node` process
// timed from spawn to exit; inside, the child reports its load and run time,
// and the rest is Node's own start-up (plus `require`) and exit, which the
// floor measures for a process that loads the package and does nothing.
// Writes bench/cold-start.svg: stacked Node start, load, run, per task.
import { existsSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { Engine } from '../index.mjs'
import { RUNS, cachedArtifact, corpus, corpusTask, floorMs, here, wasiSide } from './common.mjs'

// Tasks that only read their inputs, so every run starts from the same state.
const TASKS = ['icepll', 'nextpnr-version', 'yosys-V', 'yosys-synth-noabc']
if (!existsSync(join(corpus, 'tests.json'))) {
  console.log('cold start: no corpus; run npm run corpus')
  process.exit(0)
}
const floor = floorMs()

const rows = []
const noEpoch = new Engine({ epochInterruption: false })
for (const id of TASKS) {
  const task = corpusTask(id)
  if (!task || !existsSync(task.wasm)) continue
  const name = task.modulePath.replace(/^modules\//, '').replace(/\.wasm$/, '')
  const artifact = cachedArtifact(Engine.default, corpus, name, task.wasm)
  const side = (how, file) => wasiSide(how, file, task.preopens, task.argv)
  const row = { id, ours: side('ours', artifact), mapped: side('ours-map', artifact), wasi: side('node-wasi', task.wasm) }
  // What the leash costs: the same mapped run on an engine without epoch
  // checks (no deadlines, no interrupt), for the yosys tasks.
  if (name === 'yosys') row.noEpoch = side('ours-map-noepoch', cachedArtifact(noEpoch, corpus, name, task.wasm))
  rows.push(row)
}

const ms = (x) => `${x.toFixed(0)} ms`
console.log(`cold start, whole process (median of ${RUNS}; ${cpus().length} cores): Node start-up and exit + load + run`)
console.log(`  floor: node -e "require('wasmtime-napi')" ${ms(floor)}`)
for (const r of rows) {
  const f = (s) => `${ms(s.wall)} (start ${ms(s.start)}, load ${s.load.toFixed(1)} ms, run ${ms(s.run)})`
  console.log(`  ${r.id.padEnd(18)} ours ${f(r.ours)}   mapped reader ${ms(r.mapped.wall)}   node:wasi ${f(r.wasi)}`)
  console.log(`  ${''.padEnd(18)} ${(r.wasi.wall / r.ours.wall).toFixed(1)}x faster (${(r.wasi.wall / r.mapped.wall).toFixed(1)}x mapped); the floor plus our in-process time is ${ms(floor + r.ours.load + r.ours.run)}, so ${(r.ours.wall / (floor + r.ours.load + r.ours.run)).toFixed(2)}x the floor`)
  if (r.noEpoch) {
    const cost = ((r.mapped.wall - r.noEpoch.wall) / r.noEpoch.wall) * 100
    console.log(`  ${''.padEnd(18)} mapped, epochInterruption: false: ${ms(r.noEpoch.wall)} (run ${ms(r.noEpoch.run)} against ${ms(r.mapped.run)}), ${(r.wasi.wall / r.noEpoch.wall).toFixed(1)}x faster than node:wasi; the epoch checks cost the mapped process ${cost.toFixed(0)}%`)
  }
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
