// The command line: `wasmtime-napi run`, like `wasmtime run`.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Engine } from '../index.mjs'
import { corpusModule, withCorpus } from './helpers.mjs'

const bin = fileURLToPath(new URL('../bin/wasmtime-napi.mjs', import.meta.url))
const cli = (...args) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })
const dir = mkdtempSync(join(tmpdir(), 'wasmtime-napi-cli-'))

// Exits with the number of environment variables it was given.
const ENV_COUNT = `(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $sizes (i32.const 0) (i32.const 4))) (call $exit (i32.load (i32.const 0)))))`
const TRAP = '(module (memory (export "memory") 1) (func $inner unreachable) (func (export "_start") call $inner))'

test('run passes the guest exit code and --env through', (t) => {
  const wat = join(dir, 'envcount.wat')
  writeFileSync(wat, ENV_COUNT)
  t.is(cli('run', wat).status, 0)
  t.is(cli('run', '--env', 'A=1', '--env', 'B=2', wat).status, 2)
  const cwasm = join(dir, 'envcount.cwasm')
  writeFileSync(cwasm, Engine.default.precompileModule(ENV_COUNT))
  t.is(cli('run', '--env=A=1', cwasm).status, 1, 'a .cwasm is loaded raw and runs the same')
})

test('run reports a trap like wasmtime (exit 134, the trap on stderr)', (t) => {
  const wat = join(dir, 'trap.wat')
  writeFileSync(wat, TRAP)
  const r = cli('run', wat)
  t.is(r.status, 134)
  t.regex(r.stderr, /unreachable/)
})

test('bad input: non-zero exits with messages that say what to do', (t) => {
  const missing = cli('run', join(dir, 'nope.wasm'))
  t.is(missing.status, 2)
  t.regex(missing.stderr, /cannot read/)
  const junk = join(dir, 'junk.cwasm')
  writeFileSync(junk, 'not an artifact at all')
  const bad = cli('run', junk)
  t.is(bad.status, 1)
  t.regex(bad.stderr, /precompile again/)
  t.is(cli('frobnicate').status, 2)
  t.is(cli().status, 2)
  t.is(cli('run').status, 2)
  t.is(cli('run', '--bogus', 'x').status, 2)
})

withCorpus(test, 'run a real WASI command: stdio and exit codes pass through, --dir maps a folder', ['icepll'], (t, wasm) => {
  const path = join(dir, 'icepll.wasm')
  writeFileSync(path, wasm)
  const ok = cli('run', path, '--', '-i', '12', '-o', '48')
  t.is(ok.status, 0)
  t.regex(ok.stdout, /F_PLLOUT:\s+48\.000 MHz \(achieved\)/)
  const badArg = cli('run', path, '-Z')
  t.is(badArg.status, 1)
  t.is(badArg.stderr, 'icepll.wasm: unrecognized option: Z\n', 'argv[0] is the file name, as in wasmtime run')
  t.is(cli('run', '--argv0', 'icepll', path, '-Z').stderr, 'icepll: unrecognized option: Z\n')
  const out = mkdtempSync(join(tmpdir(), 'wasmtime-napi-dir-'))
  const cwasm = join(dir, 'icepll.cwasm')
  writeFileSync(cwasm, Engine.default.precompileModule(wasm))
  const wrote = cli('run', '--dir', `${out}::/work`, cwasm, '-i', '12', '-o', '48', '-m', '-f', '/work/pll.v')
  t.is(wrote.status, 0, wrote.stderr)
  t.true(existsSync(join(out, 'pll.v')))
  t.regex(readFileSync(join(out, 'pll.v'), 'utf8'), /module pll/)
})
