// What the bench scripts share: where the corpus is, the median, whole-process
// timing, the start-up floor, artifacts cached per engine, and one WASI run
// in a fresh process (wasi-child.mjs).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const here = dirname(fileURLToPath(import.meta.url))
export const corpus = process.env.CORPUS || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wasmtime-napi-corpus')
export const RUNS = Number(process.env.BENCH_RUNS || 5)

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Wall time of a fresh `node` process with `args`, spawn to exit, and what it printed. */
function timed(args) {
  const t0 = process.hrtime.bigint()
  const out = execFileSync(process.execPath, args, { encoding: 'utf8' })
  return { wall: Number(process.hrtime.bigint() - t0) / 1e6, out }
}

/** The floor the issue names: `node -e "require('wasmtime-napi')"`, median of RUNS. */
export function floorMs() {
  return median(Array.from({ length: RUNS }, () => timed(['-e', `require(${JSON.stringify(join(here, '..'))})`]).wall))
}

/** `<cacheRoot>/artifacts/<engine's compatibility hash>/<name>.cwasm`, precompiled from `wasmPath` if missing. */
export function cachedArtifact(engine, cacheRoot, name, wasmPath) {
  const file = join(cacheRoot, 'artifacts', engine.precompileCompatibilityHash(), `${name}.cwasm`)
  if (!existsSync(file)) {
    process.stdout.write(`precompiling ${name} ... `)
    const t0 = process.hrtime.bigint()
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(`${file}.tmp`, engine.precompileModule(readFileSync(wasmPath)))
    renameSync(`${file}.tmp`, file)
    console.log(`${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`)
  }
  return file
}

/**
 * One WASI command in a fresh process (wasi-child.mjs): `how` is `ours`,
 * `ours-map`, `ours-noepoch`, `ours-map-noepoch` (an artifact) or `node-wasi`
 * (the wasm). Returns the wall time and the child's exit code, load and run.
 */
export function wasiRun(how, file, preopens, args) {
  const { wall, out } = timed(['--no-warnings', join(here, 'wasi-child.mjs'), how, file, JSON.stringify(preopens), ...args])
  return { wall, ...JSON.parse(out) }
}

/** argv and host preopens of a tests.json task. */
export function corpusTask(id) {
  const spec = JSON.parse(readFileSync(join(corpus, 'tests.json'), 'utf8')).tests.find((t) => t.id === id)
  if (!spec) return null
  const preopens = Object.fromEntries(Object.entries(spec.preopens ?? {}).map(([guest, dir]) => [guest, join(corpus, dir)]))
  return { ...spec, preopens, wasm: join(corpus, spec.modulePath) }
}

/**
 * `wasiRun` RUNS times: medians of the wall time, load, run, and of each
 * sample's rest (start-up and exit); `before` runs ahead of each sample.
 */
export function wasiSide(how, file, preopens, args, before = () => {}) {
  const samples = Array.from({ length: RUNS }, () => {
    before()
    const s = wasiRun(how, file, preopens, args)
    if (s.exit !== 0) throw new Error(`${how} ${args.join(' ')}: exit ${s.exit}`)
    return s
  })
  return {
    wall: median(samples.map((s) => s.wall)),
    load: median(samples.map((s) => s.loadMs)),
    run: median(samples.map((s) => s.runMs)),
    start: median(samples.map((s) => Math.max(0, s.wall - s.loadMs - s.runMs))),
  }
}
