// One WASI command in a fresh process (bench/common.mjs `wasiRun`): `ours*`
// loads a precompiled artifact raw (`-map`: with the mapping reader;
// `-noepoch`: on an engine without epoch checks, whose artifact it must be)
// and runs it; `node-wasi` compiles the wasm with V8 and runs it with
// node:wasi. Prints JSON: exit code, ms (load and run), loadMs, runMs.
const [how, file, preopensJson, ...args] = process.argv.slice(2)
// Only our side loads the package, before the clock starts, as a server
// would at start-up: node:wasi's side must not pay for it.
const { Engine, Module, readPrecompiledSync, runWasiCommand } = how.startsWith('ours') ? await import('../index.mjs') : {}
const preopens = JSON.parse(preopensJson)
const t0 = process.hrtime.bigint()
let exit
let loaded
if (how.startsWith('ours')) {
  const engine = how.endsWith('-noepoch') ? new Engine({ epochInterruption: false }) : Engine.default
  const module = Module.deserializeRaw(readPrecompiledSync(file, { map: how.startsWith('ours-map') }), engine)
  loaded = process.hrtime.bigint()
  exit = runWasiCommand(module, { args, preopens, stdout: 'ignore', stderr: 'ignore' }).exitCode
} else {
  // Imported here, so the other side does not pay for it.
  const { WASI } = await import('node:wasi')
  const { openSync, readFileSync } = await import('node:fs')
  const devnull = openSync('/dev/null', 'w')
  const wasi = new WASI({ version: 'preview1', args, env: {}, preopens, returnOnExit: true, stdout: devnull, stderr: devnull })
  const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), wasi.getImportObject())
  loaded = process.hrtime.bigint()
  exit = wasi.start(instance)
}
const end = process.hrtime.bigint()
process.stdout.write(JSON.stringify({ exit, ms: Number(end - t0) / 1e6, loadMs: Number(loaded - t0) / 1e6, runMs: Number(end - loaded) / 1e6 }))
