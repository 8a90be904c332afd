/**
 * Argument parsing for `wasmtime-napi`: `node:util` `parseArgs` in strict
 * mode, with one-line messages that say what to do, and the per-verb usage.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { EngineOptions } from './index'

/** Bad usage: exit code 2, a message that says what to do. */
export class UsageError extends Error {
  exitCode = 2
}

type Options = NonNullable<ParseArgsConfig['options']>
export type Values = Record<string, string | boolean | string[] | undefined>

const ENGINE_USAGE = `engine options (as in wasmtime's -C/-O):
  --target <triple>        compile for another machine (e.g. aarch64-unknown-linux-gnu)
  --pulley                 compile for Pulley, wasmtime's portable interpreter
  --cpu-features <f,...>   ISA features to compile for (has_avx2,has_bmi2,...)
  --opt-level <level>      none, speed (default) or speed_and_size
  --no-unwind-info         omit native unwind info`

export const USAGE: Record<string, string> = {
  general: `usage: wasmtime-napi <command> [options]

commands:
  run          run a WebAssembly module (.wasm, .wat or precompiled .cwasm)
  compile      precompile modules to artifacts (.cwasm); alias: precompile
  inspect      show what a precompiled artifact is and whether this host loads it
  compat-hash  print the key to cache artifacts by for an engine configuration
  help [cmd]   show this help, or a command's

  --version, -V  print the package and wasmtime versions

'wasmtime-napi help <command>' or 'wasmtime-napi <command> --help' describes a command.
`,
  run: `usage: wasmtime-napi run [options] <module.wasm|.wat|.cwasm> [args...]

Runs a WASI command (its _start), or with --invoke one exported function.
Options come before the module; everything after it goes to the guest
(a '--' right after the module is dropped).

options:
  --invoke <name>          call the export <name> instead of _start; the args
                           after the module are its parameters (decimal, or 0x
                           hex for integers); results are printed one per line
  --dir <host[::guest]>    give the guest a host directory (repeatable);
                           --dir X maps X to X
  --env <name[=value]>     set a guest environment variable (repeatable);
                           without =value, pass the host's value through
  --fuel <n>               stop the guest (a trap) after it consumes n fuel
  --timeout <ms>           stop the guest (a trap, 'interrupt') after ms milliseconds
  --argv0 <name>           the guest's argv[0] (default: the module's file name)
  --pulley                 run on Pulley, wasmtime's portable interpreter
  -h, --help               show this help

exit status: the guest's WASI exit code (0 when _start returns); 134 when
the guest traps (out of fuel and timeouts included), as wasmtime on unix;
2 for bad usage or a file that is not a module; 1 for other errors.
`,
  compile: `usage: wasmtime-napi compile [options] <in.wasm|.wat>...

Precompiles each input to a wasmtime artifact, on a pool of worker threads.
By default in.wasm is written to in.cwasm next to it, as wasmtime compile does.

options:
  -o, --output <out.cwasm>  where to write (one input only)
  --out-dir <dir>           write <name>.cwasm files into <dir>
  --digest                  also write <out>.cwasm.sha256 (readPrecompiled verifies it)
  --jobs <n>                worker threads (default: all cores)
  -h, --help                show this help

${ENGINE_USAGE}

exit status: 0 when every input compiled, 1 when one failed, 2 for bad usage.
`,
  inspect: `usage: wasmtime-napi inspect [options] <file.cwasm>

Shows what a precompiled artifact is (target, wasmtime version, flags,
sections), and whether an engine made with the options below loads it.

options:
  --json                   machine-readable output
  -h, --help               show this help

${ENGINE_USAGE}

exit status: 0 when this host loads it, 3 when it refuses it (or the file is
a WebAssembly module, not an artifact), 1 when it is not an artifact, 2 for bad usage.
`,
  'compat-hash': `usage: wasmtime-napi compat-hash [options]

Prints the compatibility hash of an engine made with the options below:
artifacts made by engines with the same hash load in each other.

options:
  -h, --help               show this help

${ENGINE_USAGE}
`,
}

export const ENGINE_OPTIONS: Options = {
  target: { type: 'string' },
  pulley: { type: 'boolean' },
  'cpu-features': { type: 'string' },
  'opt-level': { type: 'string' },
  'no-unwind-info': { type: 'boolean' },
}

const HELP: Options = { help: { type: 'boolean', short: 'h' } }

export const VERB_OPTIONS: Record<string, Options> = {
  run: {
    ...HELP,
    invoke: { type: 'string' },
    dir: { type: 'string', multiple: true },
    env: { type: 'string', multiple: true },
    fuel: { type: 'string' },
    timeout: { type: 'string' },
    argv0: { type: 'string' },
    pulley: { type: 'boolean' },
  },
  compile: {
    ...HELP,
    ...ENGINE_OPTIONS,
    output: { type: 'string', short: 'o' },
    'out-dir': { type: 'string' },
    digest: { type: 'boolean' },
    jobs: { type: 'string' },
  },
  inspect: { ...HELP, ...ENGINE_OPTIONS, json: { type: 'boolean' } },
  'compat-hash': { ...HELP, ...ENGINE_OPTIONS },
}

/** Checks of option values: each throws a UsageError that says what to give. */
export const VALIDATE: Record<string, (value: string) => unknown> = {
  jobs: (v) => wholeNumber('--jobs', v, 1, 'a number of worker threads, 1 or more'),
  fuel: (v) => {
    if (!/^\d+$/.test(v) || BigInt(v) >= 2n ** 64n) throw new UsageError(`--fuel needs a whole number of fuel units, 0 or more (got '${v}')`)
    return BigInt(v)
  },
  timeout: (v) => wholeNumber('--timeout', v, 1, 'a time in milliseconds, 1 or more'),
  'opt-level': (v) => {
    if (!['none', 'speed', 'speed_and_size'].includes(v)) throw new UsageError(`--opt-level must be none, speed or speed_and_size (got '${v}')`)
    return v
  },
}

function wholeNumber(flag: string, v: string, min: number, what: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : NaN
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} needs ${what} (got '${v}')`)
  return n
}

/** The name (preferring the long one) in a parseArgs message: `'-o, --output <value>'` -> `--output`. */
function optionIn(message: string): string {
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? ''
  return /--[\w-]+/.exec(quoted)?.[0] ?? /-\w/.exec(quoted)?.[0] ?? quoted
}

/**
 * `parseArgs` in strict mode, its errors turned into one-line UsageErrors,
 * then every value with a check in VALIDATE checked.
 */
export function parseVerb(verb: string, args: string[], allowPositionals: boolean): { values: Values; positionals: string[] } {
  const options = VERB_OPTIONS[verb]
  const see = `see 'wasmtime-napi help ${verb}'`
  let parsed: { values: Values; positionals: string[] }
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals }) as typeof parsed
  } catch (e) {
    const { code, message } = e as { code?: string; message: string }
    const flag = optionIn(message)
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`${verb}: unknown option '${flag}'; ${see}`)
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`${verb} takes no files or arguments (got '${flag}'); ${see}`)
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      if (/does not take an argument/.test(message)) throw new UsageError(`${verb}: ${flag} takes no value; ${see}`)
      if (/ambiguous/.test(message)) {
        // `--fuel -1`: the value looks like an option. Check it as a value
        // first, so a bad number gets the number's message.
        const loose = parseArgs({ args, options, strict: false, allowPositionals: true }).values as Values
        const name = flag.replace(/^--?/, '')
        const value = loose[name]
        if (typeof value === 'string' && VALIDATE[name]) VALIDATE[name](value)
        throw new UsageError(`${verb}: ${flag} needs a value; for one starting with '-', write ${flag}=<value>; ${see}`)
      }
      throw new UsageError(`${verb}: ${flag} needs a value; ${see}`)
    }
    throw new UsageError(`${verb}: ${message.split('\n')[0]}; ${see}`)
  }
  for (const [name, check] of Object.entries(VALIDATE)) {
    const v = parsed.values[name]
    if (typeof v === 'string') check(v)
  }
  return parsed
}

/**
 * `run`'s arguments: options, then the module, then the guest's arguments,
 * as in `wasmtime run`. The first positional (or `--`) ends the options;
 * only what comes before it is parsed (strictly).
 */
export function parseRun(args: string[]): { values: Values; module?: string; guestArgs: string[] } {
  const { tokens } = parseArgs({ args, options: VERB_OPTIONS.run, strict: false, allowPositionals: true, tokens: true })
  const end = tokens.find((t) => t.kind === 'positional' || t.kind === 'option-terminator')
  let head = args
  let module: string | undefined
  let guestArgs: string[] = []
  if (end) {
    head = args.slice(0, end.index)
    const at = end.kind === 'option-terminator' ? end.index + 1 : end.index
    module = args[at]
    guestArgs = args.slice(at + 1)
    if (guestArgs[0] === '--') guestArgs = guestArgs.slice(1)
  }
  const { values } = parseVerb('run', head, false)
  return { values, module, guestArgs }
}

/** Engine options from the shared engine flags. */
export function engineOptions(values: Values): EngineOptions {
  const options: EngineOptions = {}
  if (values.pulley) {
    if (typeof values.target === 'string' && values.target !== 'pulley64') throw new UsageError('give --pulley or --target, not both')
    options.target = 'pulley64'
  } else if (typeof values.target === 'string') options.target = values.target
  if (typeof values['opt-level'] === 'string') options.optLevel = values['opt-level'] as EngineOptions['optLevel']
  if (typeof values['cpu-features'] === 'string') {
    options.cpuFeatures = values['cpu-features'].split(',').map((f) => f.trim()).filter(Boolean)
  }
  if (values['no-unwind-info']) options.nativeUnwindInfo = false
  return options
}
