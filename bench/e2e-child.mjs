// One end-to-end run in a fresh process: yosys synthesizing the counter
// (tests.json's yosys-synth-noabc, or the id given), either precompiled and loaded raw here, or
// compiled and run by V8 with node:wasi. Prints JSON with the wall time.
// `ours` loads with Engine.default (epoch checks on); `ours-noepoch` with an
// engine that has them off (its artifact must be made by such an engine).
import { openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { WASI } from 'node:wasi'
import { Engine, Module, readPrecompiledSync, runWasiCommand } from '../index.mjs'

const [how, corpus, artifact, id = 'yosys-synth-noabc'] = process.argv.slice(2)
const spec = JSON.parse(readFileSync(join(corpus, 'tests.json'), 'utf8')).tests.find((t) => t.id === id)
const preopens = { '/': join(corpus, spec.preopens['/']) }
const t0 = process.hrtime.bigint()
let exit
if (how === 'ours' || how === 'ours-noepoch') {
  const engine = how === 'ours' ? Engine.default : new Engine({ epochInterruption: false })
  const module = Module.deserializeRaw(readPrecompiledSync(artifact), engine)
  exit = runWasiCommand(module, { args: spec.argv, preopens, stdout: 'ignore', stderr: 'ignore' }).exitCode
} else {
  const devnull = openSync('/dev/null', 'w')
  const wasi = new WASI({ version: 'preview1', args: spec.argv, env: {}, preopens, returnOnExit: true, stdout: devnull, stderr: devnull })
  const module = new WebAssembly.Module(readFileSync(join(corpus, spec.modulePath)))
  const instance = new WebAssembly.Instance(module, wasi.getImportObject())
  exit = wasi.start(instance)
}
process.stdout.write(JSON.stringify({ ms: Number(process.hrtime.bigint() - t0) / 1e6, exit }))
