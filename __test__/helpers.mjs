// Shared helpers for the ava suites.
import test from 'ava'
import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, readSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
/** The raw native binding, for address checks that the public API does not offer. */
export const binding = require('../binding.js')

const tempDirs = []
test.after.always('remove the temporary directories', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

/**
 * A new directory under the OS's temporary folder, named `wasmtime-napi-<tag>-`
 * and a random suffix, removed with everything in it once the file's tests
 * have run (left behind, they piled up: 3,697 on one machine, some holding
 * corpus copies).
 */
export function tempDir(tag) {
  const dir = mkdtempSync(join(tmpdir(), `wasmtime-napi-${tag}-`))
  tempDirs.push(dir)
  return dir
}

/** `test` on Linux, `test.skip` elsewhere (for /proc and `ulimit -v`). */
export const linuxOnly = process.platform === 'linux' ? test : test.skip

/**
 * The /proc/self/pagemap entries (Linux) of the `pages` pages from
 * `address`: bit 63 says present, bits 0-54 the physical frame (0 without
 * CAP_SYS_ADMIN).
 */
export function pagemap(address, pages) {
  const page = binding.pageSize()
  const entries = Buffer.alloc(pages * 8)
  const fd = openSync('/proc/self/pagemap', 'r')
  try {
    readSync(fd, entries, 0, entries.length, Math.floor(address / page) * 8)
  } finally {
    closeSync(fd)
  }
  return Array.from({ length: pages }, (_, i) => entries.readBigUInt64LE(i * 8))
}

/** Where ../shared/corpus/fetch.sh put the real modules (scripts/corpus.sh). */
export const corpusDir = process.env.CORPUS || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wasmtime-napi-corpus')

/** Bytes of a corpus module, or null (and the test says so) when absent. */
export function corpusModule(id) {
  const p = join(corpusDir, 'modules', `${id}.wasm`)
  return existsSync(p) ? readFileSync(p) : null
}

/** Registers `fn` as a test that needs corpus module(s), or a visible skip. */
export function withCorpus(test, title, ids, fn) {
  const bytes = ids.map(corpusModule)
  if (bytes.some((b) => b === null)) {
    test.skip(`${title} (corpus missing: run npm run corpus)`, () => {})
    return
  }
  test(title, (t) => fn(t, ...bytes))
}

export const tick = () => new Promise((r) => setImmediate(r))

/**
 * Forces garbage collection (and lets finalizers run) until `pred()` holds.
 * `pred` runs in a job of its own, never in the job that collects: a
 * `WeakRef#deref()` keeps its target alive until the end of the current job.
 */
export async function gcUntil(pred, rounds = 60) {
  for (let i = 0; i < rounds; i++) {
    await tick()
    globalThis.gc()
    await new Promise((r) => setTimeout(r, 2))
    if (pred()) return true
  }
  return false
}

/** A module with arithmetic of every numeric type, a trap, and a data segment. */
export const ARITH_WAT = `(module
  (memory (export "memory") 1)
  (data (i32.const 1024) "hello from a data segment")
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "add64") (param i64 i64) (result i64) local.get 0 local.get 1 i64.add)
  (func (export "mulf32") (param f32 f32) (result f32) local.get 0 local.get 1 f32.mul)
  (func (export "divf64") (param f64 f64) (result f64) local.get 0 local.get 1 f64.div)
  (func (export "swap") (param i32 i64) (result i64 i32) local.get 1 local.get 0)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "boom") unreachable)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load8_u)
  (func $rec (export "recurse") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $rec)
)`

/** Collects what earlier tests left behind, so process-wide counters are stable. */
export async function settle(rounds = 8) {
  for (let i = 0; i < rounds; i++) {
    await tick()
    globalThis.gc()
    await new Promise((r) => setTimeout(r, 2))
  }
}

/**
 * The path of `id`'s artifact for `engine`, precompiled once and cached in the
 * corpus folder by compatibility hash (as a CI pipeline would cache it).
 */
export function precompiledPath(id, engine) {
  const dir = join(corpusDir, 'artifacts', engine.precompileCompatibilityHash())
  const out = join(dir, `${id}.cwasm`)
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true })
    const tmp = `${out}.${process.pid}.tmp`
    writeFileSync(tmp, engine.precompileModule(readFileSync(join(corpusDir, 'modules', `${id}.wasm`))))
    renameSync(tmp, out)
  }
  return out
}

/**
 * Runs `node --expose-gc ...args` in a child process (a case that could crash
 * the test's own process) and resolves with its exit code, signal and output.
 * Killed after `timeout` ms. Its stdin is `/dev/null`, or with `stdin: 'pipe'`
 * a pipe that never delivers anything; `addressSpaceGiB` caps its address
 * space (Linux only).
 */
export function runNode(args, { env = {}, timeout = 120_000, stdin = 'ignore', addressSpaceGiB } = {}) {
  return new Promise((resolve) => {
    const node = [process.execPath, '--expose-gc', ...args]
    // A smaller address space (`ulimit -v`, in KiB), to run out of it quickly.
    const argv = addressSpaceGiB ? ['sh', '-c', 'ulimit -v "$0" && exec "$@"', String(addressSpaceGiB * 1024 * 1024), ...node] : node
    // stdin 'pipe': a pipe that stays open, never written, until the child ends.
    const p = spawn(argv[0], argv.slice(1), { stdio: [stdin, 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => p.kill('SIGKILL'), timeout)
    // 'close', not 'exit': only then has all of the child's output been read
    // (under load, 'exit' came first and the last lines were lost).
    p.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** The package's ES module entry, as a quoted string for generated code. */
export const entry = JSON.stringify(fileURLToPath(new URL('../index.mjs', import.meta.url)))

/**
 * Runs `body` as an ES module in a child process, with the package's exports
 * as `wn`: for cases that could crash the process, or that watch it end.
 * `args` go to node before the module; the other options are `runNode`'s.
 */
export function childModule(body, { args = [], timeout = 60_000, ...options } = {}) {
  return runNode([...args, '--input-type=module', '-e', `import * as wn from ${entry}\n${body}`], { timeout, ...options })
}
