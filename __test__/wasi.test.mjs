// WASI preview1 acceptance: every invocation in the corpus's tests.json runs
// through this package (precompiled once, loaded raw) and must give what
// node:wasi gives: exit code, stdout, stderr and the files written.
import test from 'ava'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, rmSync, fstatSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { Engine, Module, readPrecompiledSync, runWasiCommand } from '../index.mjs'
import { corpusDir, precompiledPath, tempDir } from './helpers.mjs'

const listPath = join(corpusDir, 'tests.json')
const list = existsSync(listPath) ? JSON.parse(readFileSync(listPath, 'utf8')).tests : null
const sha256 = (b) => createHash('sha256').update(b).digest('hex')

if (!list) {
  test.skip('WASI acceptance (corpus missing: run npm run corpus)', () => {})
} else {
  const modules = new Map()
  const load = (id) => {
    if (!modules.has(id)) modules.set(id, Module.deserializeRaw(readPrecompiledSync(precompiledPath(id, Engine.default))))
    return modules.get(id)
  }
  const expectStream = (t, what, got, exp) => {
    if (exp.text !== undefined) t.is(got.toString('utf8'), exp.text, what)
    if (exp.bytes !== undefined) t.is(got.length, exp.bytes, `${what} length`)
    if (exp.sha256 !== undefined) t.is(sha256(got), exp.sha256, `${what} sha256`)
  }
  // In order: later invocations read files that earlier ones wrote.
  for (const spec of list) {
    test.serial(`${spec.id}: ${spec.argv.join(' ')}`, (t) => {
      const root = spec.preopens?.['/'] ? join(corpusDir, spec.preopens['/']) : null
      for (const f of spec.clean ?? []) rmSync(join(root, f), { force: true })
      const preopens = Object.fromEntries(Object.entries(spec.preopens ?? {}).map(([g, h]) => [g, join(corpusDir, h)]))
      const result = runWasiCommand(load(spec.module), {
        args: spec.argv,
        env: spec.env,
        preopens,
        stdin: spec.stdin ? readFileSync(join(corpusDir, spec.stdin)) : undefined,
      })
      t.is(result.exitCode, spec.expected.exit, 'exit code')
      if (!spec.ignoreStdio) {
        expectStream(t, 'stdout', result.stdout, spec.expected.stdout ?? {})
        expectStream(t, 'stderr', result.stderr, spec.expected.stderr ?? {})
      }
      for (const [path, exp] of Object.entries(spec.expected.files ?? {})) {
        const bytes = readFileSync(join(root, path))
        expectStream(t, path, bytes, exp)
      }
    })
  }

  test.serial('the guest\'s stdio stays apart from the process\'s own (after ABC renumbered its fds)', (t) => {
    t.notThrows(() => fstatSync(1))
    t.notThrows(() => fstatSync(2))
    t.is(writeSync(1, ''), 0)
    t.true(process.stdout.writable)
  })
}

const haveIcepll = existsSync(join(corpusDir, 'modules', 'icepll.wasm'))
;(haveIcepll ? test : test.skip)(`a read-only preopen refuses the guest's writes; a writable one takes them${haveIcepll ? '' : ' (corpus missing: run npm run corpus)'}`, (t) => {
  const module = Module.deserializeRaw(readPrecompiledSync(precompiledPath('icepll', Engine.default)))
  const dir = tempDir('ro')
  const args = ['icepll', '-i', '12', '-o', '48', '-m', '-f', '/work/pll.v']
  const ro = runWasiCommand(module, { args, preopens: { '/work': { path: dir, readonly: true } } })
  t.not(ro.exitCode, 0)
  t.false(existsSync(join(dir, 'pll.v')), 'nothing was written')
  const rw = runWasiCommand(module, { args, preopens: { '/work': dir } })
  t.is(rw.exitCode, 0)
  t.regex(readFileSync(join(dir, 'pll.v'), 'utf8'), /module pll/)
})
