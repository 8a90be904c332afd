#!/usr/bin/env node
// The wasmtime-napi command line: run a module, and (for CI pipelines)
// precompile, inspect and key artifacts.
import { basename } from 'node:path'
import { readFileSync } from 'node:fs'
import { commands } from '../dist/cli.js'

const [command, ...rest] = process.argv.slice(2)
const usage = `usage: wasmtime-napi <command> [options]

commands:
  run [--dir HOST::GUEST] [--env K[=V]] [--argv0 NAME] [--pulley] <module.wasm|.cwasm> [--] [args...]
  precompile <in.wasm...> (-o <out.cwasm> | --out-dir <dir>) [--target T] [--pulley]
             [--cpu-features F,..] [--opt-level none|speed|speed_and_size] [--no-unwind-info]
             [--digest] [--jobs N]
  inspect <file.cwasm> [--json] [engine flags as for precompile]
  compat-hash [engine flags as for precompile]
  version
`
if (!command || command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(usage)
  process.exit(command ? 0 : 2)
}
if (command === 'version' || command === '--version') {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(`${basename(pkg.name)} ${pkg.version} (wasmtime ${commands.wasmtimeVersion})\n`)
  process.exit(0)
}
const run = commands[command]
if (typeof run !== 'function') {
  process.stderr.write(`wasmtime-napi: unknown command '${command}'\n\n${usage}`)
  process.exit(2)
}
try {
  process.exitCode = await run(rest)
} catch (e) {
  process.stderr.write(`wasmtime-napi ${command}: ${e?.message ?? e}\n`)
  process.exitCode = e?.exitCode ?? 1
}
