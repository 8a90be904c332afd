// One run of the large tool in a fresh process (bench/large.mjs): `ours` or
// `ours-map` loads the artifact raw (copying or mapping reader) and runs it,
// `node-wasi` compiles the wasm with V8 and runs it with node:wasi. The guest
// sees the work directory as /work. Prints JSON: exit code, load and run time.
import { Module, readPrecompiledSync, runWasiCommand } from '../index.mjs'

const [how, file, work, ...args] = process.argv.slice(2)
const t0 = process.hrtime.bigint()
let exit
let loaded
if (how === 'ours' || how === 'ours-map') {
  const module = Module.deserializeRaw(readPrecompiledSync(file, { map: how === 'ours-map' }))
  loaded = process.hrtime.bigint()
  exit = runWasiCommand(module, { args, preopens: { '/work': work }, stdout: 'ignore', stderr: 'ignore' }).exitCode
} else {
  const { WASI } = await import('node:wasi')
  const { openSync, readFileSync } = await import('node:fs')
  const devnull = openSync('/dev/null', 'w')
  const wasi = new WASI({ version: 'preview1', args, env: {}, preopens: { '/work': work }, returnOnExit: true, stdout: devnull, stderr: devnull })
  const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), wasi.getImportObject())
  loaded = process.hrtime.bigint()
  exit = wasi.start(instance)
}
const end = process.hrtime.bigint()
process.stdout.write(JSON.stringify({ exit, loadMs: Number(loaded - t0) / 1e6, runMs: Number(end - loaded) / 1e6 }))
