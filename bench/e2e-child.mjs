// One end-to-end run in a fresh process: yosys synthesizing the counter
// (tests.json's yosys-synth-noabc), either precompiled and loaded raw here, or
// compiled and run by V8 with node:wasi. Prints JSON with the wall time.
import { openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { WASI } from 'node:wasi'
import { Module, readPrecompiledSync, runWasiCommand } from '../index.mjs'

const [how, corpus, artifact] = process.argv.slice(2)
const spec = JSON.parse(readFileSync(join(corpus, 'tests.json'), 'utf8')).tests.find((t) => t.id === 'yosys-synth-noabc')
const preopens = { '/': join(corpus, spec.preopens['/']) }
const t0 = process.hrtime.bigint()
let exit
if (how === 'ours') {
  const module = Module.deserializeRaw(readPrecompiledSync(artifact))
  exit = runWasiCommand(module, { args: spec.argv, preopens }).exitCode
} else {
  const devnull = openSync('/dev/null', 'w')
  const wasi = new WASI({ version: 'preview1', args: spec.argv, env: {}, preopens, returnOnExit: true, stdout: devnull, stderr: devnull })
  const module = new WebAssembly.Module(readFileSync(join(corpus, spec.modulePath)))
  const instance = new WebAssembly.Instance(module, wasi.getImportObject())
  exit = wasi.start(instance)
}
process.stdout.write(JSON.stringify({ ms: Number(process.hrtime.bigint() - t0) / 1e6, exit }))
