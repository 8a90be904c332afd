// One end-to-end run in a fresh process: yosys synthesizing the counter
// (tests.json's yosys-synth-noabc, or the id given), either precompiled and loaded raw here, or
// compiled and run by V8 with node:wasi. Prints JSON with the wall time.
// `ours` loads with Engine.default (epoch checks on), `ours-map` the same
// through the mapping reader; `ours-noepoch` and `ours-map-noepoch` with an
// engine that has them off (its artifact must be made by such an engine).
import { openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Engine, Module, readPrecompiledSync, runWasiCommand } from '../index.mjs'

const [how, corpus, artifact, id = 'yosys-synth-noabc'] = process.argv.slice(2)
const spec = JSON.parse(readFileSync(join(corpus, 'tests.json'), 'utf8')).tests.find((t) => t.id === id)
const preopens = Object.fromEntries(Object.entries(spec.preopens ?? {}).map(([guest, dir]) => [guest, join(corpus, dir)]))
const t0 = process.hrtime.bigint()
let exit
let loaded
if (how.startsWith('ours')) {
  const engine = how.endsWith('-noepoch') ? new Engine({ epochInterruption: false }) : Engine.default
  const module = Module.deserializeRaw(readPrecompiledSync(artifact, { map: how.startsWith('ours-map') }), engine)
  loaded = process.hrtime.bigint()
  exit = runWasiCommand(module, { args: spec.argv, preopens, stdout: 'ignore', stderr: 'ignore' }).exitCode
} else {
  // Imported here, so the other side does not pay for it.
  const { WASI } = await import('node:wasi')
  const devnull = openSync('/dev/null', 'w')
  const wasi = new WASI({ version: 'preview1', args: spec.argv, env: {}, preopens, returnOnExit: true, stdout: devnull, stderr: devnull })
  const module = new WebAssembly.Module(readFileSync(join(corpus, spec.modulePath)))
  const instance = new WebAssembly.Instance(module, wasi.getImportObject())
  loaded = process.hrtime.bigint()
  exit = wasi.start(instance)
}
const end = process.hrtime.bigint()
// ms: load and run; loadMs: read and load (compile and instantiate for V8); runMs: the run.
process.stdout.write(JSON.stringify({ ms: Number(end - t0) / 1e6, loadMs: Number(loaded - t0) / 1e6, runMs: Number(end - loaded) / 1e6, exit }))
