// The load error (src-ts/loader.ts) when NAPI_RS_NATIVE_LIBRARY_PATH is wrong
// or the addon is missing, and the one platform detection the loader and the
// install hook share. Each case runs in a child process: the addon loads once.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tmp = mkdtempSync(join(tmpdir(), 'wasmtime-napi-loader-'))
test.after.always(() => rmSync(tmp, { recursive: true, force: true }))

/** `node -e script` with NAPI_RS_NATIVE_LIBRARY_PATH set to `override` (or unset). */
function run(script, override, env = {}) {
  const childEnv = { ...process.env, ...env }
  for (const k of ['NAPI_RS_NATIVE_LIBRARY_PATH', 'NAPI_RS_FORCE_WASI', 'NAPI_RS_WASI_FLAVOR']) delete childEnv[k]
  if (override !== undefined) childEnv.NAPI_RS_NATIVE_LIBRARY_PATH = override
  return spawnSync(process.execPath, ['-e', script], { env: childEnv, encoding: 'utf8', cwd: tmp })
}
const requireIt = (dir) => `require(${JSON.stringify(dir)})`

/** Asserts a failed load printed the loader's error (uncaught, as a user sees it). */
function failedLoad(t, r) {
  t.not(r.status, 0, r.stderr)
  t.is(r.signal, null)
  t.true(r.stderr.includes("code: 'ERR_WASMTIME_NATIVE_ADDON'"), r.stderr)
  t.false(r.stderr.includes('wasm32-wasi'), r.stderr)
  return r.stderr
}

test('NAPI_RS_NATIVE_LIBRARY_PATH naming a file that does not exist', (t) => {
  const missing = join(tmp, 'does-not-exist.node')
  const err = failedLoad(t, run(requireIt(root), missing))
  t.true(err.includes(`NAPI_RS_NATIVE_LIBRARY_PATH is set to "${missing}"`), err)
  t.true(err.includes(`the file ${missing} does not exist`), err)
  t.regex(err, /unset it/)
  t.false(err.includes('reinstall'), err)
})

test('NAPI_RS_NATIVE_LIBRARY_PATH relative: resolved from the package, and the message says so', (t) => {
  const err = failedLoad(t, run(requireIt(root), './no-such-addon.node'))
  t.true(err.includes(`the file ${join(root, 'no-such-addon.node')} does not exist`), err)
  t.true(err.includes(`is resolved from ${root}, not the working directory`), err)
})

test('NAPI_RS_NATIVE_LIBRARY_PATH naming a text file: dlopen says why', (t) => {
  const text = join(tmp, 'not-an-addon.node')
  writeFileSync(text, 'This is a text file, not a shared library.\n'.repeat(100))
  const err = failedLoad(t, run(requireIt(root), text))
  t.true(err.includes(`NAPI_RS_NATIVE_LIBRARY_PATH is set to "${text}"`), err)
  t.regex(err, /loading it failed: .*not-an-addon\.node: invalid ELF header/)
  t.regex(err, /\[cause\]: Error: .*invalid ELF header/)
})

test('NAPI_RS_NATIVE_LIBRARY_PATH naming a file without .node: Node ran it as JavaScript', (t) => {
  const text = join(tmp, 'not-an-addon.txt')
  writeFileSync(text, 'This is a text file.\n')
  const err = failedLoad(t, run(requireIt(root), text))
  t.true(err.includes(text), err)
  t.regex(err, /Unexpected identifier.*does not end in \.node/)
})

test('NAPI_RS_NATIVE_LIBRARY_PATH naming the real addon loads it', (t) => {
  const addon = join(root, `wasmtime-napi.${require(join(root, 'dist', 'loader.js')).platformTriple()}.node`)
  const r = run(`const w = ${requireIt(root)}; console.log(w.wasmtimeVersion, ${requireIt(join(root, 'binding.js'))}.__napiBindingTarget)`, addon)
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /^\d+\.\d+\.\d+ native$/m)
})

// A copy of the package without any addon: what an install without the
// optional dependency looks like.
function bareCopy(name) {
  const dir = join(tmp, name)
  mkdirSync(join(dir, 'scripts'), { recursive: true })
  for (const f of ['package.json', 'binding.js', 'dist', 'scripts/install.mjs']) cpSync(join(root, f), join(dir, f), { recursive: true })
  return dir
}

test('without the variable and without an addon: the cause is the platform package, not the WASI fallback', (t) => {
  const { platformTriple } = require(join(root, 'dist', 'loader.js'))
  const triple = platformTriple()
  const err = failedLoad(t, run(requireIt(bareCopy('bare'))))
  t.true(err.includes(`no native addon for this platform (${triple}`), err)
  t.true(err.includes(`Cause: Cannot find module 'wasmtime-napi-${triple}'`), err)
  t.false(err.includes('is set to'), err)
})

test('without the variable, a broken local build is the cause', (t) => {
  const dir = bareCopy('broken-local')
  const triple = require(join(root, 'dist', 'loader.js')).platformTriple()
  writeFileSync(join(dir, `wasmtime-napi.${triple}.node`), 'not an ELF file, just text\n'.repeat(100))
  const err = failedLoad(t, run(requireIt(dir)))
  t.true(err.includes(`no native addon for this platform (${triple}`), err)
  t.true(err.includes(`Cause: ${join(dir, `wasmtime-napi.${triple}.node`)}: invalid ELF header`), err)
})

test('platformTriple() is the one detection: linux-x64-gnu here, the addon napi built, and the install hook uses it', (t) => {
  const { platformTriple } = require(join(root, 'dist', 'loader.js'))
  const triple = platformTriple()
  t.is(triple, 'linux-x64-gnu')
  t.true(existsSync(join(root, `wasmtime-napi.${triple}.node`)))
  // No second copy of the detection in the hook.
  t.notRegex(readFileSync(join(root, 'scripts', 'install.mjs'), 'utf8'), /glibcVersionRuntime|process\.report|ldd/)
  // The hook, in a package without an addon and without Cargo, names the same triple.
  const dir = bareCopy('hook')
  const r = spawnSync(process.execPath, [join(dir, 'scripts', 'install.mjs')], {
    encoding: 'utf8',
    env: { ...process.env, CARGO: join(tmp, 'no-cargo-here') },
  })
  t.is(r.status, 1, r.stderr)
  t.true(r.stderr.includes(`no prebuilt addon for ${triple} (package wasmtime-napi-${triple}), and Cargo was not found`), r.stderr)
})

test('loading the package does not load node:crypto; checking a digest does', (t) => {
  // node:crypto is loaded on the first digest (src-ts/artifact.ts), not by
  // every require of the package. `-e` without --input-type=module would
  // load it itself, so both ways in are ES module scripts.
  const loaded = (body) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `${body}\nconsole.log(JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule crypto$/.test(m))))`], { encoding: 'utf8', cwd: tmp })
    t.is(r.status, 0, r.stderr)
    return JSON.parse(r.stdout)
  }
  const imported = `const wn = await import(${JSON.stringify(join(root, 'index.mjs'))})`
  t.deepEqual(loaded(''), [], 'an empty script loads no node:crypto')
  t.deepEqual(loaded(imported), [])
  t.deepEqual(loaded(`import { createRequire } from 'node:module'\ncreateRequire(import.meta.url)(${JSON.stringify(root)})`), [])
  const file = join(tmp, 'one-byte')
  writeFileSync(file, 'x')
  const integrity = `sha256-${createHash('sha256').update('x').digest('base64')}`
  t.deepEqual(loaded(`${imported}\nif (wn.readPrecompiledSync(${JSON.stringify(file)}, { integrity: '${integrity}' }).toString() !== 'x') process.exit(3)`), ['NativeModule crypto'])
})
