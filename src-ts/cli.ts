/**
 * The commands behind `bin/wasmtime-napi.mjs`. Each takes its argv and
 * returns an exit code; errors carry `exitCode` and say what to do.
 */
import { readFileSync, statSync } from 'node:fs'
import { basename } from 'node:path'
import { Engine, Module, runWasiCommand, readPrecompiledSync, WasmTrap, wasmtimeVersion } from './index'

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
  let head: Buffer
  try {
    head = readFileSync(path).subarray(0, 4)
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

export const commands: Record<string, unknown> & { wasmtimeVersion: string } = {
  wasmtimeVersion,
  run,
}

export { UsageError, loadModule, takeOption, statSync }
