/**
 * The commands behind `bin/wasmtime-napi.mjs`, shaped like wasmtime's CLI:
 * `run`, `compile` (alias `precompile`), `inspect`, `compat-hash`, `help`
 * and `--version`. `main(argv)` returns the exit code; bad usage exits 2
 * with a one-line message that says what to do.
 */
import { readFileSync, statSync, mkdirSync, openSync, readSync, closeSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { basename, dirname, extname, join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import { Engine, Module, Store, Linker, WasiContext, readPrecompiledSync, WasmTrap, wasmtimeVersion, type EngineOptions } from './index'
import { inspectArtifact } from './artifact'
import { UsageError, USAGE, VALIDATE, parseVerb, parseRun, engineOptions, type Values } from './cli-args'
import { parseParam, formatResult } from './cli-invoke'

const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d])
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46])

type Kind = 'wasm' | 'wat' | 'artifact' | 'other'

/** What a file is, from its first bytes. */
function kindOf(head: Buffer): Kind {
  if (head.subarray(0, 4).equals(WASM_MAGIC)) return 'wasm'
  if (head.subarray(0, 4).equals(ELF_MAGIC)) return 'artifact'
  // WAT: after any BOM and white space, a `(` (a form or a `(;` comment) or a `;;` comment.
  const text = head.toString('utf8').replace(/^\uFEFF/, '').trimStart()
  if (text.startsWith('(') || text.startsWith(';;')) return 'wat'
  return 'other'
}

/** The first bytes of a regular file (refusing devices and pipes, which could be read forever). */
function readHead(path: string): Buffer {
  try {
    if (!statSync(path).isFile()) throw new Error('not a regular file (a device or pipe could be read forever)')
    const fd = openSync(path, 'r')
    try {
      const head = Buffer.alloc(512)
      return head.subarray(0, readSync(fd, head, 0, head.length, 0))
    } finally {
      closeSync(fd)
    }
  } catch (e) {
    throw new UsageError(`cannot read '${path}': ${(e as Error).message}`)
  }
}

/** Loads a module file: wasm or WAT is compiled, an artifact (ELF) is loaded raw. */
function loadModule(path: string, engine: Engine): Module {
  const kind = kindOf(readHead(path))
  if (kind === 'wasm' || kind === 'wat') return new Module(readFileSync(path), engine)
  if (kind === 'artifact') return Module.deserializeRaw(readPrecompiledSync(path), engine)
  throw new UsageError(
    `'${path}' is neither a WebAssembly module (\\0asm), WebAssembly text nor a wasmtime artifact (ELF); run takes .wasm, .wat or .cwasm files`,
  )
}

function help(verb: string, values: Values): boolean {
  if (!values.help) return false
  process.stdout.write(USAGE[verb])
  return true
}

/**
 * `run [options] <module> [args...]`, like `wasmtime run`: stdio is the
 * process's own, the exit code the guest's; a trap exits 134.
 */
function run(args: string[]): number {
  const { values, module: path, guestArgs } = parseRun(args)
  if (help('run', values)) return 0
  if (!path) throw new UsageError("run needs a module: wasmtime-napi run [options] <module.wasm|.wat|.cwasm> [args...]; see 'wasmtime-napi help run'")
  const preopens: Record<string, string> = {}
  for (const d of (values.dir as string[] | undefined) ?? []) {
    const sep = d.indexOf('::')
    const [host, guest] = sep >= 0 ? [d.slice(0, sep), d.slice(sep + 2)] : [d, d]
    if (!host || !guest) throw new UsageError(`--dir '${d}': give HOST::GUEST, or one directory for both`)
    preopens[guest] = host
  }
  const env: Record<string, string> = {}
  for (const e of (values.env as string[] | undefined) ?? []) {
    const eq = e.indexOf('=')
    if (eq === 0) throw new UsageError(`--env '${e}': give NAME=VALUE, or NAME to pass the host's value`)
    if (eq < 0) {
      if (process.env[e] !== undefined) env[e] = process.env[e]!
    } else env[e.slice(0, eq)] = e.slice(eq + 1)
  }
  const fuel = typeof values.fuel === 'string' ? (VALIDATE.fuel(values.fuel) as bigint) : undefined
  const timeout = typeof values.timeout === 'string' ? (VALIDATE.timeout(values.timeout) as number) : undefined
  const invoke = values.invoke as string | undefined

  const options: EngineOptions = {}
  if (values.pulley) options.target = 'pulley64'
  if (fuel !== undefined) options.consumeFuel = true
  const engine = Object.keys(options).length ? new Engine(options) : Engine.default
  const module = loadModule(path, engine)

  let params: (number | bigint)[] = []
  let results: string[] = []
  if (invoke !== undefined) {
    const funcs = module.exports.filter((e) => e.kind === 'func')
    const f = funcs.find((e) => e.name === invoke)
    if (!f) {
      throw new UsageError(`--invoke: the module exports no function '${invoke}' (its functions: ${funcs.map((e) => e.name).join(', ') || 'none'})`)
    }
    const types = f.params ?? []
    if (guestArgs.length !== types.length) {
      throw new UsageError(`--invoke ${invoke} takes ${types.length} argument(s) (${types.join(', ') || 'none'}), got ${guestArgs.length}`)
    }
    params = types.map((type, i) => parseParam(type, guestArgs[i], invoke))
    results = f.results ?? []
  } else if (!module.exports.some((e) => e.kind === 'func' && e.name === '_start')) {
    const funcs = module.exports.filter((e) => e.kind === 'func').map((e) => e.name)
    throw new UsageError(`'${path}' has no _start export, so it is not a WASI command; call a function with --invoke NAME (its functions: ${funcs.join(', ') || 'none'})`)
  }

  const store = new Store(engine)
  try {
    if (fuel !== undefined) store.setFuel(fuel)
    if (timeout !== undefined) store.setDeadline(timeout)
    const wasi = new WasiContext({
      args: [(values.argv0 as string | undefined) ?? basename(path), ...guestArgs],
      env,
      preopens,
      stdin: 'inherit',
      stdout: 'inherit',
      stderr: 'inherit',
    })
    const linker = new Linker(engine)
    linker.defineWasi(wasi)
    try {
      const instance = linker.instantiate(store, module)
      if (invoke === undefined) {
        ;(instance.exports._start as () => void)()
        return 0
      }
      const init = instance.exports._initialize
      if (typeof init === 'function' && invoke !== '_initialize') init()
      const out = (instance.exports[invoke] as (...a: unknown[]) => unknown)(...params)
      const outs = results.length === 1 ? [out] : results.length ? (out as unknown[]) : []
      process.stdout.write(outs.map((v, i) => formatResult(results[i], v) + '\n').join(''))
      return 0
    } catch (e) {
      const err = e as { code?: string; exitCode?: number }
      if (err?.code === 'ERR_WASMTIME_EXIT') return err.exitCode ?? 1
      if (!(e instanceof WasmTrap)) throw e
      const what = invoke === undefined ? `failed to run main module \`${path}\`` : `failed to invoke \`${invoke}\` in \`${path}\``
      let note = ''
      if (e.trapCode === 'interrupt' && timeout !== undefined) note = `\nnote: the guest ran longer than --timeout ${timeout} ms and was stopped\n`
      if (e.trapCode === 'out_of_fuel') note = `\nnote: the guest used up its --fuel ${fuel}\n`
      process.stderr.write(`Error: ${what}\n\nCaused by:\n    ${e.message.replace(/\n/g, '\n    ')}\n${note}`)
      return 134 // as wasmtime's CLI on unix: 128 + SIGABRT
    }
  } finally {
    store.dispose()
  }
}

function makeEngine(options: EngineOptions): Engine {
  try {
    return new Engine(options)
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0])
  }
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`

/** wasmtime's default output name: the input with its extension replaced by `.cwasm`. */
const cwasmName = (file: string) => basename(file, extname(file)) + '.cwasm'

interface WorkerResult {
  input: string
  output: string
  bytes?: number
  ms?: number
  error?: string
}

/** Sends one job to a worker and waits for its answer (or its death). */
function ask(w: Worker, item: { input: string; output: string }): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const done = () => {
      w.off('message', onMessage)
      w.off('error', onError)
      w.off('exit', onExit)
    }
    const onMessage = (r: WorkerResult) => (done(), resolve(r))
    const onError = (e: Error) => (done(), reject(e))
    const onExit = (code: number) => (done(), reject(new Error(`a compile worker exited (code ${code}) while compiling ${item.input}`)))
    w.on('message', onMessage)
    w.on('error', onError)
    w.on('exit', onExit)
    w.postMessage(item)
  })
}

/**
 * `compile [options] <in.wasm...>`: compiles every input on a pool of
 * worker threads (all cores by default), showing progress on a terminal.
 */
async function compile(args: string[]): Promise<number> {
  const { values, positionals: inputs } = parseVerb('compile', args, true)
  if (help('compile', values)) return 0
  if (inputs.length === 0) throw new UsageError("compile needs input files: wasmtime-napi compile in.wasm [-o out.cwasm | --out-dir dir]; see 'wasmtime-napi help compile'")
  const single = values.output as string | undefined
  const dir = values['out-dir'] as string | undefined
  if (single && dir) throw new UsageError('give -o or --out-dir, not both')
  if (single && inputs.length > 1) throw new UsageError('-o takes one input; use --out-dir for several (or neither, to write each next to its input)')
  for (const i of inputs) {
    let ok = false
    try {
      ok = statSync(i).isFile()
    } catch {}
    if (!ok) throw new UsageError(`cannot read '${i}': not a regular file`)
  }
  const work = inputs.map((input) => ({ input, output: single ?? join(dir ?? dirname(input), cwasmName(input)) }))
  // Two inputs that would write the same file: refused before any work.
  const seen = new Map<string, string>()
  for (const { input, output } of work) {
    const key = resolve(output)
    if (resolve(input) === key) throw new UsageError(`'${input}' would be overwritten by its own output; give -o or --out-dir`)
    const other = seen.get(key)
    if (other !== undefined) throw new UsageError(`'${other}' and '${input}' would both be written to '${output}'; compile them into different --out-dir directories`)
    seen.set(key, input)
  }
  const engineOpts = engineOptions(values)
  makeEngine(engineOpts) // fail early, in this thread, on bad flags
  if (dir) mkdirSync(dir, { recursive: true })
  const jobs = Math.min(inputs.length, typeof values.jobs === 'string' ? (VALIDATE.jobs(values.jobs) as number) : availableParallelism())
  // With several workers, each compiles on one thread; alone, on all cores.
  const options: EngineOptions = { ...engineOpts, parallelCompilation: jobs === 1 }
  const total = work.length
  const tty = process.stderr.isTTY
  const started = new Map<string, number>()
  const t0 = Date.now()
  let next = 0
  let done = 0
  let failed = 0
  // `[finished/total]`, then the modules being compiled and for how long.
  const status = () => {
    if (!tty) return
    const now = Date.now()
    const running = [...started].map(([f, t]) => `${basename(f)} ${secs(now - t)}`).join(', ')
    process.stderr.write(`\r\x1b[K[${done}/${total}] ${secs(now - t0)} ${running}`)
  }
  const ticker = tty ? setInterval(status, 250) : undefined
  const workerFile = join(__dirname, 'precompile-worker.js')
  try {
    await Promise.all(
      Array.from({ length: jobs }, async () => {
        const w = new Worker(workerFile, { workerData: { options, digest: !!values.digest } })
        try {
          while (next < total) {
            const item = work[next++]
            started.set(item.input, Date.now())
            const r = await ask(w, item)
            started.delete(item.input)
            done++
            if (tty) process.stderr.write('\r\x1b[K')
            if (r.error) {
              failed++
              process.stderr.write(`error: ${r.input}: ${r.error}\n`)
            } else {
              process.stderr.write(`compiled ${r.input} -> ${r.output} (${mb(r.bytes!)}) in ${secs(r.ms!)}\n`)
            }
            status()
          }
        } finally {
          await w.terminate()
        }
      }),
    )
  } finally {
    if (ticker) clearInterval(ticker)
    if (tty) process.stderr.write('\r\x1b[K')
  }
  if (!engineOpts.target) process.stderr.write("note: compiled for this CPU's features; for other machines pass --target <triple> (a portable baseline) or --cpu-features\n")
  return failed ? 1 : 0
}

/** `inspect [options] <file.cwasm>`: what an artifact is, and whether this host loads it. */
function inspect(args: string[]): number {
  const { values, positionals } = parseVerb('inspect', args, true)
  if (help('inspect', values)) return 0
  const file = positionals[0]
  if (!file) throw new UsageError("inspect needs an artifact: wasmtime-napi inspect file.cwasm; see 'wasmtime-napi help inspect'")
  if (positionals.length > 1) throw new UsageError(`inspect takes one file (got ${positionals.length})`)
  const kind = kindOf(readHead(file))
  if (kind === 'wasm' || kind === 'wat') {
    const what = kind === 'wasm' ? 'a WebAssembly module' : 'WebAssembly text'
    throw Object.assign(new Error(`'${file}': this is ${what}, not a precompiled artifact: compile it first with \`wasmtime-napi compile ${file}\``), { exitCode: 3 })
  }
  const bytes = readFileSync(file)
  let info
  try {
    info = inspectArtifact(bytes)
  } catch (e) {
    throw Object.assign(new Error(`${file}: ${(e as Error).message}`), { exitCode: 1 })
  }
  const engineOpts = engineOptions(values)
  const engine = makeEngine(engineOpts)
  let host: { accepts: boolean; reason?: string }
  try {
    Module.deserialize(bytes, engine)
    host = { accepts: true }
  } catch (e) {
    host = { accepts: false, reason: (e as Error).message }
  }
  const hostEngine = { target: engine.target, compatHash: engine.precompileCompatibilityHash(), options: engineOpts }
  if (values.json) {
    process.stdout.write(JSON.stringify({ file, bytes: bytes.length, ...info, host: { ...host, engine: hostEngine } }, null, 2) + '\n')
  } else {
    const enabled = Object.entries(info.isaFlags).filter(([, v]) => v === true).map(([k]) => k)
    const lines = [
      `file:      ${file} (${bytes.length} bytes)`,
      `kind:      wasmtime ${info.kind} artifact`,
      `made by:   wasmtime ${info.wasmtimeVersion} (module version)`,
      `target:    ${info.target}`,
      `opt level: ${info.sharedFlags.opt_level ?? '?'}; unwind info: ${info.sharedFlags.unwind_info ?? '?'}`,
      `cpu:       ${enabled.length ? enabled.join(' ') : '(baseline)'}`,
      `sections:  ${info.sections.filter((s) => s.size > 0).map((s) => `${s.name} ${s.size}`).join(', ')}`,
      `this host: ${host.accepts ? 'accepts it' : `refuses it: ${host.reason}`}`,
    ]
    process.stdout.write(lines.join('\n') + '\n')
  }
  return host.accepts ? 0 : 3
}

/** `compat-hash [engine options]`: the key to cache artifacts by. */
function compatHash(args: string[]): number {
  const { values } = parseVerb('compat-hash', args, false)
  if (help('compat-hash', values)) return 0
  process.stdout.write(makeEngine(engineOptions(values)).precompileCompatibilityHash() + '\n')
  return 0
}

const VERBS: Record<string, (args: string[]) => number | Promise<number>> = {
  run,
  compile,
  precompile: compile,
  inspect,
  'compat-hash': compatHash,
}
const canonical = (verb: string) => (verb === 'precompile' ? 'compile' : verb)

function version(): string {
  let pkg = { name: 'wasmtime-napi', version: '?' }
  try {
    pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'))
  } catch {}
  return `${basename(pkg.name)} ${pkg.version} (wasmtime ${wasmtimeVersion})\n`
}

/** Runs the command line `argv` (without node and the script); returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv
  try {
    if (verb === undefined) {
      process.stderr.write(USAGE.general)
      return 2
    }
    if (verb === '--version' || verb === '-V' || verb === 'version') {
      process.stdout.write(version())
      return 0
    }
    if (verb === 'help' || verb === '--help' || verb === '-h') {
      const about = rest[0]
      if (about === undefined) process.stdout.write(USAGE.general)
      else if (VERBS[about]) process.stdout.write(USAGE[canonical(about)])
      else throw new UsageError(`no command '${about}'; the commands are run, compile, inspect, compat-hash`)
      return 0
    }
    const command = VERBS[verb]
    if (!command) throw new UsageError(`unknown command '${verb}'; the commands are run, compile, inspect, compat-hash (see 'wasmtime-napi help')`)
    return await command(rest)
  } catch (e) {
    const err = e as { message?: string; exitCode?: number }
    process.stderr.write(`error: ${err?.message ?? e}\n`)
    return typeof err?.exitCode === 'number' ? err.exitCode : 1
  }
}

export { UsageError, loadModule }
