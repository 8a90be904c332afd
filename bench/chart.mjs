// Renders bench/results.json as an SVG: load time per module, log scale, one
// bar per method. `node bench/chart.mjs` rewrites bench/chart.svg.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const METHODS = [
  ['v8', 'V8 compile (lazy)', '#9e9e9e'],
  ['deserialize', 'deserialize (copy)', '#f4a261'],
  ['deserializeFile', 'deserializeFile (mmap)', '#2a9d8f'],
  ['deserializeRaw', 'deserializeRaw (in place)', '#264653'],
  ['readRaw4k', 'read + raw load, 4 KiB pages', '#e9c46a'],
  ['readRaw', 'read + raw load, huge pages', '#8ab17d'],
  ['mapRaw', 'read { map } + raw load', '#6d597a'],
]

export function renderChart(run) {
  const rows = run.results
  const left = 130
  const width = 860
  const plot = width - left - 30
  const bar = 11
  const group = METHODS.length * bar + 16
  const top = 58
  const legendRows = Math.ceil(METHODS.length / 4)
  const height = top + rows.length * group + 34 + 16 * legendRows
  const all = rows.flatMap((r) => METHODS.map(([m]) => r[m].ms))
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all))))
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all))))
  const x = (ms) => left + (plot * (Math.log10(ms) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo))
  const fmt = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(1)} s`)
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  out.push(`<rect width="100%" height="100%" fill="white"/>`)
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">Loading real modules: time to a usable module (log scale, lower is better)</text>`)
  out.push(`<text x="${left}" y="38" fill="#555">${run.cpu}, ${run.cores} cores, Node ${run.node}, wasmtime ${run.wasmtime}; median of ${run.runs} fresh processes</text>`)
  for (let d = lo; d <= hi; d *= 10) {
    out.push(`<line x1="${x(d)}" x2="${x(d)}" y1="${top - 6}" y2="${height - 24 - 16 * legendRows}" stroke="#ddd"/>`)
    out.push(`<text x="${x(d)}" y="${height - 10 - 16 * legendRows}" text-anchor="middle" fill="#555">${fmt(d)}</text>`)
  }
  rows.forEach((r, i) => {
    const y0 = top + i * group
    out.push(`<text x="${left - 8}" y="${y0 + (METHODS.length * bar) / 2 + 4}" text-anchor="end">${r.id}</text>`)
    out.push(`<text x="${left - 8}" y="${y0 + (METHODS.length * bar) / 2 + 17}" text-anchor="end" fill="#777" font-size="10">${(r.artifactBytes / 1048576).toFixed(0)} MB artifact</text>`)
    METHODS.forEach(([m, , color], j) => {
      const y = y0 + j * bar
      const w = Math.max(1, x(r[m].ms) - left)
      out.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${color}"/>`)
      out.push(`<text x="${(left + w + 4).toFixed(1)}" y="${y + bar - 3}" font-size="9" fill="#333">${fmt(r[m].ms)}</text>`)
    })
  })
  METHODS.forEach(([, label, color], j) => {
    const lx = left + (j % 4) * 175
    const ly = height - 16 * (legendRows - Math.floor(j / 4))
    out.push(`<rect x="${lx}" y="${ly}" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="${ly + 9}">${label}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url))
  const run = JSON.parse(readFileSync(join(here, 'results.json'), 'utf8'))
  writeFileSync(join(here, 'chart.svg'), renderChart(run))
}
