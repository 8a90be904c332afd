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

const ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'

test('precompile: several inputs into a directory, digests, then a raw load that verifies them', async (t) => {
  const { Module, Store, Instance, readPrecompiled, readPrecompiledSync } = await import('../index.mjs')
  const inDir = mkdtempSync(join(tmpdir(), 'wasmtime-napi-pc-'))
  const a = join(inDir, 'a.wat')
  const b = join(inDir, 'b.wat')
  writeFileSync(a, ADD)
  writeFileSync(b, ADD.replace('i32.add', 'i32.sub'))
  const out = join(inDir, 'out')
  const r = cli('precompile', a, b, '--out-dir', out, '--digest', '--jobs', '2')
  t.is(r.status, 0, r.stderr)
  t.regex(r.stderr, /compiled .*a\.wat -> .*a\.cwasm/)
  const buf = await readPrecompiled(join(out, 'a.cwasm'), { verify: true })
  t.is(new Instance(new Store(), Module.deserializeRaw(buf)).exports.add(2, 3), 5)
  t.is(new Instance(new Store(), Module.deserializeRaw(readPrecompiledSync(join(out, 'b.cwasm'), { verify: true }))).exports.add(2, 3), -1)
  // An altered artifact is refused before it is loaded.
  const bytes = readFileSync(join(out, 'a.cwasm'))
  bytes[bytes.length - 1] ^= 1
  writeFileSync(join(out, 'a.cwasm'), bytes)
  const err = await t.throwsAsync(() => readPrecompiled(join(out, 'a.cwasm'), { verify: true }), { code: 'ERR_WASMTIME_INTEGRITY' })
  t.regex(err.message, /does not match/)
  t.throws(() => readPrecompiledSync(a, { verify: true }), { code: 'ERR_WASMTIME_INTEGRITY', message: /no digest file/ })
})

test('a cross-target artifact: inspect identifies it, this host refuses it clearly', (t) => {
  const src = join(dir, 'add.wat')
  writeFileSync(src, ADD)
  const arm = join(dir, 'add-aarch64.cwasm')
  t.is(cli('precompile', src, '-o', arm, '--target', 'aarch64-unknown-linux-gnu').status, 0)
  const text = cli('inspect', arm)
  t.is(text.status, 3, 'non-zero: this host will not load it')
  t.regex(text.stdout, /target:\s+aarch64-unknown-linux-gnu/)
  t.regex(text.stdout, /refuses it: .*compiled for architecture 'aarch64'/)
  const json = JSON.parse(cli('inspect', arm, '--json').stdout)
  t.is(json.target, 'aarch64-unknown-linux-gnu')
  t.is(json.machine, 183)
  t.is(json.kind, 'module')
  t.is(json.wasmtimeVersion, '48')
  t.false(json.host.accepts)
  t.true(json.sections.some((s) => s.name === '.text' && s.size > 0))
  const native = join(dir, 'add-native.cwasm')
  t.is(cli('precompile', src, '-o', native, '--opt-level', 'none', '--no-unwind-info').status, 0)
  const nj = JSON.parse(cli('inspect', native, '--json').stdout)
  t.true(nj.host.accepts)
  t.is(nj.sharedFlags.opt_level, 'none')
  t.is(nj.sharedFlags.unwind_info, false)
  const pulley = join(dir, 'add-pulley.cwasm')
  t.is(cli('precompile', src, '-o', pulley, '--pulley').status, 0)
  t.is(cli('inspect', pulley).status, 3, 'a native host engine refuses Pulley code')
  t.is(cli('inspect', pulley, '--pulley').status, 0, 'a Pulley engine accepts it')
})

test('compat-hash: stable, and different per target and flags', (t) => {
  const h = cli('compat-hash').stdout.trim()
  t.regex(h, /^[0-9a-f]{16}$/)
  t.is(cli('compat-hash').stdout.trim(), h)
  t.is(h, Engine.default.precompileCompatibilityHash(), 'the same hash the API gives')
  t.not(cli('compat-hash', '--target', 'aarch64-unknown-linux-gnu').stdout.trim(), h)
  t.not(cli('compat-hash', '--cpu-features', 'has_sse41').stdout.trim(), cli('compat-hash', '--target', 'x86_64-unknown-linux-gnu').stdout.trim())
})

test('precompile and inspect fail with exit codes and messages for bad input', (t) => {
  const junk = join(dir, 'junk.wasm')
  writeFileSync(junk, 'definitely not wasm')
  const r1 = cli('precompile', junk, '-o', join(dir, 'junk.cwasm'))
  t.is(r1.status, 1)
  t.regex(r1.stderr, /error: .*junk\.wasm/)
  t.is(cli('precompile').status, 2)
  t.is(cli('precompile', join(dir, 'missing.wasm'), '-o', 'x').status, 2)
  t.regex(cli('precompile', junk).stderr, /-o out\.cwasm, or --out-dir/)
  t.is(cli('precompile', junk, '-o', 'x', '--target', 'no-such-arch').status, 2)
  t.regex(cli('precompile', junk, '-o', 'x', '--cpu-features', 'avx2').stderr, /start with 'has_'/)
  const notArtifact = cli('inspect', junk)
  t.is(notArtifact.status, 1)
  t.regex(notArtifact.stderr, /not a wasmtime artifact/)
  t.is(cli('inspect').status, 2)
  t.is(cli('compat-hash', 'extra').status, 2)
})

test('run refuses a device or pipe instead of reading it forever', (t) => {
  const r = spawnSync(process.execPath, [bin, 'run', '/dev/zero'], { encoding: 'utf8', timeout: 30_000 })
  t.is(r.signal, null, 'no hang, no signal')
  t.is(r.status, 2)
  t.regex(r.stderr, /not a regular file/)
})
