/**
 * The commands behind `bin/wasmtime-napi.mjs`. Each takes its argv and
 * returns an exit code; errors carry `exitCode` and say what to do.
 */
import { readFileSync, statSync, mkdirSync, existsSync, openSync, readSync, closeSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { basename, join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { Engine, Module, runWasiCommand, readPrecompiledSync, WasmTrap, wasmtimeVersion, type EngineOptions } from './index'
import { inspectArtifact } from './artifact'

class UsageError extends Error {
  exitCode = 2
}

const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d])

/** `--flag value` / `--flag=value` options before the first positional. */
function takeOption(args: string[], i: number): [string, string | undefined, number] {
  const a = args[i]
  const eq = a.indexOf('=')
  if (eq > 0) return [a.slice(0, eq), a.slice(eq + 1), i]
  return [a, args[i + 1], i + 1]
}

/** Loads a module file: wasm (or WAT) is compiled, an artifact is loaded raw. */
function loadModule(path: string, engine: Engine): Module {
  const head = Buffer.alloc(4)
  try {
    if (!statSync(path).isFile()) throw new Error('not a regular file (a device or pipe could be read forever)')
    const fd = openSync(path, 'r')
    try {
      readSync(fd, head, 0, 4, 0)
    } finally {
      closeSync(fd)
    }
  } catch (e) {
    throw new UsageError(`cannot read '${path}': ${(e as Error).message}`)
  }
  if (head.equals(WASM_MAGIC) || path.endsWith('.wat')) return new Module(readFileSync(path), engine)
  return Module.deserializeRaw(readPrecompiledSync(path), engine)
}

/**
 * `run [--dir HOST::GUEST] [--env K=V] [--argv0 NAME] [--pulley] <module> [--] [args...]`,
 * like `wasmtime run`: stdio is the process's own, the exit code the guest's.
 */
function run(args: string[]): number {
  const preopens: Record<string, string> = {}
  const env: Record<string, string> = {}
  let pulley = false
  let argv0: string | undefined
  let i = 0
  for (; i < args.length && args[i].startsWith('-'); i++) {
    if (args[i] === '--') {
      i++
      break
    }
    const [flag, value, next] = takeOption(args, i)
    if (flag === '--pulley') {
      pulley = true
      continue
    }
    if (value === undefined) throw new UsageError(`${flag} needs a value`)
    i = next
    if (flag === '--dir') {
      const [host, guest] = value.includes('::') ? value.split('::') : [value, value]
      preopens[guest] = host
    } else if (flag === '--argv0') {
      argv0 = value
    } else if (flag === '--env') {
      const eq = value.indexOf('=')
      if (eq < 0) {
        if (process.env[value] !== undefined) env[value] = process.env[value]!
      } else env[value.slice(0, eq)] = value.slice(eq + 1)
    } else throw new UsageError(`unknown option ${flag}`)
  }
  const path = args[i]
  if (!path) throw new UsageError('run needs a module: wasmtime-napi run <module.wasm|.cwasm> [args...]')
  let guestArgs = args.slice(i + 1)
  if (guestArgs[0] === '--') guestArgs = guestArgs.slice(1)
  const engine = pulley ? new Engine({ target: 'pulley64' }) : Engine.default
  const module = loadModule(path, engine)
  try {
    const { exitCode } = runWasiCommand(module, {
      args: [argv0 ?? basename(path), ...guestArgs],
      env,
      preopens,
      stdin: 'inherit',
      stdout: 'inherit',
      stderr: 'inherit',
    })
    return exitCode
  } catch (e) {
    if (e instanceof WasmTrap) {
      process.stderr.write(`Error: failed to run main module \`${path}\`\n\nCaused by:\n    ${e.message.replace(/\n/g, '\n    ')}\n`)
      return 134 // as wasmtime's CLI: 128 + SIGABRT
    }
    throw e
  }
}

/** Engine flags shared by precompile, inspect and compat-hash. */
function engineFlag(flag: string, value: string | undefined, options: EngineOptions): boolean {
  switch (flag) {
    case '--pulley':
      options.target = 'pulley64'
      return false
    case '--no-unwind-info':
      options.nativeUnwindInfo = false
      return false
    case '--target':
    case '--cpu-features':
    case '--opt-level':
      if (value === undefined) throw new UsageError(`${flag} needs a value`)
      if (flag === '--target') options.target = value
      else if (flag === '--opt-level') options.optLevel = value as EngineOptions['optLevel']
      else options.cpuFeatures = value.split(',').map((f) => f.trim()).filter(Boolean)
      return true
    default:
      throw new UsageError(`unknown option ${flag}`)
  }
}

function makeEngine(options: EngineOptions): Engine {
  try {
    return new Engine(options)
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
}

interface Parsed {
  positionals: string[]
  engine: EngineOptions
  flags: Record<string, string | true>
}

/** Parses `args`: `own` lists the command's own options (name -> takes a value). */
function parse(args: string[], own: Record<string, boolean>): Parsed {
  const out: Parsed = { positionals: [], engine: {}, flags: {} }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (!a.startsWith('-') || a === '-') {
      out.positionals.push(a)
      continue
    }
    const [flag, value, next] = takeOption(args, i)
    if (flag in own) {
      if (own[flag]) {
        if (value === undefined) throw new UsageError(`${flag} needs a value`)
        out.flags[flag] = value
        i = next
      } else out.flags[flag] = true
    } else if (engineFlag(flag, value, out.engine) && !a.includes('=')) i = next
  }
  return out
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`

/**
 * `precompile <in.wasm...> (-o out.cwasm | --out-dir dir) [engine flags] [--digest] [--jobs N]`:
 * compiles every input on a pool of worker threads (all cores by default),
 * showing progress on a terminal.
 */
async function precompile(args: string[]): Promise<number> {
  const p = parse(args, { '-o': true, '--out-dir': true, '--digest': false, '--jobs': true })
  const inputs = p.positionals
  if (inputs.length === 0) throw new UsageError('precompile needs input files: wasmtime-napi precompile in.wasm -o out.cwasm')
  for (const i of inputs) if (!existsSync(i)) throw new UsageError(`cannot read '${i}'`)
  const single = p.flags['-o'] as string | undefined
  const dir = p.flags['--out-dir'] as string | undefined
  if (single && inputs.length > 1) throw new UsageError('-o takes one input; use --out-dir for several')
  if (!single && !dir) throw new UsageError('say where to write: -o out.cwasm, or --out-dir dir')
  if (dir) mkdirSync(dir, { recursive: true })
  makeEngine(p.engine) // fail early, in this thread, on bad flags
  const jobs = Math.max(1, Math.min(inputs.length, Number(p.flags['--jobs'] ?? availableParallelism())))
  // With several workers, each compiles on one thread; alone, on all cores.
  const options: EngineOptions = { ...p.engine, parallelCompilation: jobs === 1 }
  const work = inputs.map((input) => ({ input, output: single ?? join(dir!, basename(input).replace(/\.(wasm|wat)$/, '') + '.cwasm') }))
  const tty = process.stderr.isTTY
  const started = new Map<string, number>()
  const t0 = Date.now()
  let done = 0
  let failed = 0
  const status = () => {
    if (!tty) return
    const now = Date.now()
    const running = [...started].map(([f, t]) => `${basename(f)} ${secs(now - t)}`).join(', ')
    process.stderr.write(`\r\x1b[K[${done}/${work.length}] ${secs(now - t0)} ${running}`)
  }
  const ticker = tty ? setInterval(status, 250) : undefined
  const workerFile = join(__dirname, 'precompile-worker.js')
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      const w = new Worker(workerFile, { workerData: { options, digest: !!p.flags['--digest'] } })
      try {
        for (let item = work.shift(); item; item = work.shift()) {
          started.set(item.input, Date.now())
          const r = await new Promise<{ input: string; output: string; bytes?: number; ms?: number; error?: string }>((resolve, reject) => {
            w.once('message', resolve)
            w.once('error', reject)
            w.postMessage(item)
          })
          started.delete(r.input)
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
  if (ticker) clearInterval(ticker)
  if (tty) process.stderr.write('\r\x1b[K')
  if (!p.engine.target) process.stderr.write('note: compiled for this CPU\'s features; for other machines pass --target <triple> (a portable baseline) or --cpu-features\n')
  return failed ? 1 : 0
}

/** `inspect <file.cwasm> [--json] [engine flags]`: what an artifact is, and whether this host loads it. */
function inspect(args: string[]): number {
  const p = parse(args, { '--json': false })
  const file = p.positionals[0]
  if (!file) throw new UsageError('inspect needs an artifact: wasmtime-napi inspect file.cwasm')
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch (e) {
    throw new UsageError(`cannot read '${file}': ${(e as Error).message}`)
  }
  let info
  try {
    info = inspectArtifact(bytes)
  } catch (e) {
    throw Object.assign(new Error(`${file}: ${(e as Error).message}`), { exitCode: 1 })
  }
  const engine = makeEngine(p.engine)
  let host: { accepts: boolean; reason?: string }
  try {
    Module.deserialize(bytes, engine)
    host = { accepts: true }
  } catch (e) {
    host = { accepts: false, reason: (e as Error).message }
  }
  const hostEngine = { target: engine.target, compatHash: engine.precompileCompatibilityHash(), options: p.engine }
  if (p.flags['--json']) {
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

/** `compat-hash [engine flags]`: the key to cache artifacts by. */
function compatHash(args: string[]): number {
  const p = parse(args, {})
  if (p.positionals.length) throw new UsageError(`compat-hash takes no files (got ${p.positionals[0]})`)
  process.stdout.write(makeEngine(p.engine).precompileCompatibilityHash() + '\n')
  return 0
}

export const commands: Record<string, unknown> & { wasmtimeVersion: string } = {
  wasmtimeVersion,
  run,
  precompile,
  inspect,
  'compat-hash': compatHash,
}

export { UsageError, loadModule, takeOption, statSync }
