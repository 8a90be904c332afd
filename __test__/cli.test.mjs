// The command line: `wasmtime-napi run`, like `wasmtime run`.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Engine } from '../index.mjs'
import { corpusModule, tempDir, withCorpus } from './helpers.mjs'

const bin = fileURLToPath(new URL('../bin/wasmtime-napi.mjs', import.meta.url))
const cli = (...args) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })
const dir = tempDir('cli')

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
  t.is(bad.status, 2, 'neither wasm, WAT nor an artifact: refused before loading')
  t.regex(bad.stderr, /^error: .*junk\.cwasm' is neither a WebAssembly module .* nor a wasmtime artifact .*run takes \.wasm, \.wat or \.cwasm/)
  const elf = join(dir, 'broken.cwasm')
  writeFileSync(elf, Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(60, 1)]))
  const broken = cli('run', elf)
  t.is(broken.status, 1, 'an ELF file that is no artifact: the loader refuses it')
  t.regex(broken.stderr, /^error: .*precompile again/)
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
  const out = tempDir('dir')
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
  const inDir = tempDir('pc')
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

// Exits with its argc (argv[0] included).
const ARG_COUNT = `(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $sizes (i32.const 0) (i32.const 4))) (call $exit (i32.load (i32.const 0)))))`
// Exits with the length of the guest name of its first preopen (fd 3), or 100 + errno.
const PREOPEN_NAME = `(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $e i32)
    (local.set $e (call $get (i32.const 3) (i32.const 0)))
    (if (local.get $e) (then (call $exit (i32.add (i32.const 100) (local.get $e)))))
    (call $exit (i32.load (i32.const 4)))))`
const FUNCS = `(module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "mix") (param i32 i64 f32 f64) (result i32 i64 f32 f64) local.get 0 local.get 1 local.get 2 local.get 3)
  (func (export "none"))
  (func (export "trap") unreachable)
  (func (export "spin") (loop br 0)))`
// ADD as a binary module.
const ADD_WASM = Buffer.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type: (i32 i32) -> i32
  0x03, 0x02, 0x01, 0x00, // func 0 has type 0
  0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, // export "add" func 0
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // local.get 0 local.get 1 i32.add
])
const fixture = (name, text) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

test('invalid options and values exit 2 with one line on stderr that says what to do', (t) => {
  const wat = fixture('funcs.wat', FUNCS)
  const cases = [
    [['run', '--bogus', wat], /unknown option '--bogus'.*help run/],
    [['run', '--fuel', '-1', wat], /--fuel needs a whole number/],
    [['run', '--fuel=-1', wat], /--fuel needs a whole number/],
    [['run', '--fuel', '1.5', wat], /--fuel needs a whole number/],
    [['run', '--timeout', 'x', wat], /--timeout needs a time in milliseconds/],
    [['run', '--timeout', '0', wat], /--timeout needs a time in milliseconds/],
    [['run', '--invoke'], /--invoke needs a value/],
    [['run', '--dir'], /--dir needs a value/],
    [['compile', wat, '--jobs', 'abc'], /--jobs needs a number of worker threads/],
    [['compile', wat, '--jobs', '0'], /--jobs needs a number of worker threads/],
    [['compile', wat, '--jobs'], /--jobs needs a value/],
    [['compile', wat, '-o'], /--output needs a value/],
    [['compile', wat, '--opt-level', 'fast'], /--opt-level must be none, speed or speed_and_size/],
    [['compile', wat, '--digest=yes'], /--digest takes no value/],
    [['compile', wat, '--frobnicate'], /unknown option '--frobnicate'.*help compile/],
    [['precompile', wat, '--jobs', '0'], /--jobs needs/],
    [['inspect', wat, '--opt-level', '3'], /--opt-level must be/],
    [['compat-hash', '--nope'], /unknown option '--nope'/],
    [['compat-hash', 'extra'], /compat-hash takes no files/],
    [['frobnicate'], /unknown command 'frobnicate'.*wasmtime-napi help/],
    [['help', 'frobnicate'], /no command 'frobnicate'/],
  ]
  for (const [args, message] of cases) {
    const r = cli(...args)
    const what = args.join(' ')
    t.is(r.status, 2, what)
    t.regex(r.stderr, /^error: [^\n]+\n$/, `${what}: one line`)
    t.regex(r.stderr, message, what)
    t.is(r.stdout, '', what)
  }
})

test('--version, help, help <verb>, <verb> --help and -h', async (t) => {
  const { wasmtimeVersion } = await import('../index.mjs')
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  for (const flag of ['--version', '-V', 'version']) {
    const v = cli(flag)
    t.is(v.status, 0)
    t.is(v.stdout, `wasmtime-napi ${pkg.version} (wasmtime ${wasmtimeVersion})\n`)
  }
  const general = cli('help')
  t.is(general.status, 0)
  for (const verb of ['run', 'compile', 'inspect', 'compat-hash']) t.regex(general.stdout, new RegExp(`^  ${verb} `, 'm'))
  t.is(cli('--help').stdout, general.stdout)
  t.is(cli().status, 2, 'no command: usage, exit 2')
  t.is(cli().stderr, general.stdout)
  for (const verb of ['run', 'compile', 'inspect', 'compat-hash']) {
    const h = cli('help', verb)
    t.is(h.status, 0, verb)
    t.true(h.stdout.startsWith(`usage: wasmtime-napi ${verb} `), verb)
    t.is(cli(verb, '--help').stdout, h.stdout, `${verb} --help`)
    t.is(cli(verb, '-h').status, 0, `${verb} -h`)
    t.is(cli(verb, '-h').stdout, h.stdout, `${verb} -h`)
  }
  t.is(cli('help', 'precompile').stdout, cli('help', 'compile').stdout, 'precompile is an alias')
  t.regex(cli('help', 'run').stdout, /134 when\s+the guest traps/, 'the trap exit code is documented')
})

test('compile writes in.cwasm next to the input by default; precompile is an alias', async (t) => {
  const { Module, Store, Instance, readPrecompiledSync } = await import('../index.mjs')
  const src = tempDir('default')
  // A binary .wasm and a .wat, each written next to itself.
  const a = join(src, 'a.wasm')
  writeFileSync(a, ADD_WASM)
  const b = join(src, 'b.wat')
  writeFileSync(b, ADD)
  const r = cli('compile', a, b)
  t.is(r.status, 0, r.stderr)
  const inst = (file) => new Instance(new Store(), Module.deserializeRaw(readPrecompiledSync(file))).exports.add(2, 3)
  t.is(inst(join(src, 'a.cwasm')), 5)
  t.is(inst(join(src, 'b.cwasm')), 5)
  const c = join(src, 'c.wat')
  writeFileSync(c, ADD)
  t.is(cli('precompile', c).status, 0)
  t.true(existsSync(join(src, 'c.cwasm')))
  t.false(readdirSync(src).some((f) => f.includes('.tmp-')), 'no temporary files left behind')
})

test('compile refuses two inputs that would write the same output, before any work', (t) => {
  const root = tempDir('dup')
  mkdirSync(join(root, 'a'))
  mkdirSync(join(root, 'b'))
  writeFileSync(join(root, 'a', 'x.wat'), ADD)
  writeFileSync(join(root, 'b', 'x.wat'), ADD)
  writeFileSync(join(root, 'a', 'x.wasm'), ADD_WASM)
  const out = join(root, 'out')
  const r = cli('compile', join(root, 'a', 'x.wat'), join(root, 'b', 'x.wat'), '--out-dir', out)
  t.is(r.status, 2)
  t.regex(r.stderr, /^error: .*a\/x\.wat' and .*b\/x\.wat' would both be written to .*out\/x\.cwasm'/)
  t.false(existsSync(out), 'nothing was started: not even the output directory')
  const same = cli('compile', join(root, 'a', 'x.wat'), join(root, 'a', 'x.wasm'))
  t.is(same.status, 2, 'x.wat and x.wasm both default to x.cwasm')
  t.false(existsSync(join(root, 'a', 'x.cwasm')))
  t.is(cli('compile', join(root, 'a', 'x.wat'), join(root, 'b', 'x.wat')).status, 0, 'next to their inputs they differ')
  t.is(cli('compile', join(root, 'a', 'x.wat'), join(root, 'b', 'x.wat'), '-o', join(root, 'y.cwasm')).status, 2, '-o takes one input')
})

test('compile on a terminal: the progress counter counts finished modules out of the total', (t) => {
  if (spawnSync('sh', ['-c', 'command -v script']).status !== 0) return t.pass('util-linux script is not installed')
  const root = tempDir('tty')
  writeFileSync(join(root, 'p.wat'), ADD)
  writeFileSync(join(root, 'q.wat'), ADD.replace('i32.add', 'i32.sub'))
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`
  const cmd = [process.execPath, bin, 'compile', join(root, 'p.wat'), join(root, 'q.wat'), '--out-dir', join(root, 'out'), '--jobs', '2'].map(q).join(' ')
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8' })
  t.is(r.status, 0, r.stdout + r.stderr)
  t.regex(r.stdout, /\[1\/2\]/)
  t.regex(r.stdout, /\[2\/2\]/)
  const counts = [...r.stdout.matchAll(/\[(\d+)\/(\d+)\]/g)].map(([, n, total]) => [Number(n), Number(total)])
  t.true(counts.length >= 2)
  for (const [n, total] of counts) {
    t.is(total, 2, 'the total never changes')
    t.true(n <= total, `never [${n}/${total}]`)
  }
  t.true(existsSync(join(root, 'out', 'p.cwasm')) && existsSync(join(root, 'out', 'q.cwasm')))
})

test('run --invoke calls an export with typed arguments and prints its results one per line', (t) => {
  const wat = fixture('funcs.wat', FUNCS)
  const add = cli('run', '--invoke', 'add', wat, '2', '40')
  t.is(add.status, 0, add.stderr)
  t.is(add.stdout, '42\n')
  t.is(cli('run', '--invoke', 'add', wat, '0x7fffffff', '1').stdout, '-2147483648\n', 'hex, and i32 results are signed')
  const mix = cli('run', '--invoke=mix', wat, '-1', '0xffffffffffffffff', '0.1', '2.5')
  t.is(mix.stdout, '-1\n-1\n0.1\n2.5\n')
  t.is(cli('run', '--invoke', 'mix', wat, '0', '9007199254740993', 'inf', 'nan').stdout, '0\n9007199254740993\ninf\nNaN\n')
  const none = cli('run', '--invoke', 'none', wat)
  t.is(none.status, 0)
  t.is(none.stdout, '')
  const cwasm = join(dir, 'funcs.cwasm')
  writeFileSync(cwasm, Engine.default.precompileModule(FUNCS))
  t.is(cli('run', '--invoke', 'add', cwasm, '1', '2').stdout, '3\n', 'a .cwasm too')
  const trap = cli('run', '--invoke', 'trap', wat)
  t.is(trap.status, 134)
  t.regex(trap.stderr, /failed to invoke `trap`[\s\S]*unreachable/)
  const few = cli('run', '--invoke', 'add', wat, '1')
  t.is(few.status, 2)
  t.regex(few.stderr, /--invoke add takes 2 argument\(s\) \(i32, i32\), got 1/)
  const notInt = cli('run', '--invoke', 'add', wat, '1.5', '2')
  t.is(notInt.status, 2)
  t.regex(notInt.stderr, /'1\.5' is not an i32/)
  t.is(cli('run', '--invoke', 'add', wat, '4294967296', '0').status, 2, 'out of i32 range')
  const missing = cli('run', '--invoke', 'sub', wat)
  t.is(missing.status, 2)
  t.regex(missing.stderr, /exports no function 'sub' \(its functions: add, mix, none, trap, spin\)/)
  const noStart = cli('run', wat)
  t.is(noStart.status, 2)
  t.regex(noStart.stderr, /no _start export.*--invoke NAME/)
})

test('run --fuel: running out is a trap, enough fuel runs', (t) => {
  const wat = fixture('funcs.wat', FUNCS)
  const out = cli('run', '--fuel', '10000', '--invoke', 'spin', wat)
  t.is(out.status, 134)
  t.regex(out.stderr, /all fuel consumed/)
  t.regex(out.stderr, /--fuel 10000/)
  const enough = cli('run', '--fuel', '10000', '--invoke', 'add', wat, '1', '2')
  t.is(enough.status, 0, enough.stderr)
  t.is(enough.stdout, '3\n')
  t.is(cli('run', '--fuel', '0', '--invoke', 'add', wat, '1', '2').status, 134, 'no fuel at all')
  t.is(cli('run', '--fuel', '1000000', fixture('envcount2.wat', ENV_COUNT)).status, 0, 'a WASI command with fuel')
})

test('run --timeout: a guest that runs too long is interrupted, exit 134 with a message', (t) => {
  const wat = fixture('funcs.wat', FUNCS)
  const r = cli('run', '--timeout', '50', '--invoke', 'spin', wat)
  t.is(r.status, 134)
  t.regex(r.stderr, /wasm trap: interrupt/)
  t.regex(r.stderr, /ran longer than --timeout 50 ms/)
  const quick = cli('run', '--timeout', '60000', '--invoke', 'add', wat, '1', '2')
  t.is(quick.status, 0)
  t.is(quick.stdout, '3\n')
})

test('run: options before the module, guest arguments after it; --dir and --env', (t) => {
  const argc = fixture('argc.wat', ARG_COUNT)
  t.is(cli('run', argc).status, 1, 'argv[0] only')
  t.is(cli('run', argc, 'a', 'b', 'c').status, 4)
  t.is(cli('run', argc, '--bogus', '--fuel', 'x').status, 4, 'options after the module go to the guest')
  t.is(cli('run', argc, '--', '-x').status, 2, 'a -- right after the module is dropped')
  t.is(cli('run', '--', argc, 'a').status, 2, 'a -- before the module ends the options')
  const pre = fixture('preopen.wat', PREOPEN_NAME)
  const host = tempDir('preopen')
  t.is(cli('run', '--dir', host, pre).status, host.length, '--dir X maps X to X')
  t.is(cli('run', '--dir', `${host}::/data`, pre).status, '/data'.length, '--dir HOST::GUEST')
  t.is(cli('run', pre).status, 108, 'no preopen: EBADF')
  const envs = fixture('envcount3.wat', ENV_COUNT)
  t.is(cli('run', '--env', 'A=1', '--env=B=x=y', '--env', 'C=', envs).status, 3)
  const missingImport = cli('run', fixture('import.wat', '(module (import "env" "f" (func)) (func (export "_start")))'))
  t.not(missingImport.status, 0)
  t.regex(missingImport.stderr, /^error: /, 'library errors are printed as error: <message>')
})

test('inspect refuses a wasm module: compile it first (exit 3)', (t) => {
  const wasm = join(dir, 'app.wasm')
  writeFileSync(wasm, ADD_WASM)
  const r = cli('inspect', wasm)
  t.is(r.status, 3)
  t.regex(r.stderr, /this is a WebAssembly module, not a precompiled artifact: compile it first with `wasmtime-napi compile .*app\.wasm`/)
  const wat = fixture('app.wat', ADD)
  t.is(cli('inspect', wat).status, 3)
  t.is(cli('inspect', '/dev/null').status, 2, 'not a regular file')
})
