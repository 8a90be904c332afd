// README.md as a test: every js, ts and sh code block runs (ts blocks are
// type-checked strictly first) in a directory holding the files the README
// names, built from __test__/fixtures/readme/; a block followed by a
// ```text output``` block must print exactly that. A block after
// `<!-- doctest: skip ... -->` does not run. The API table must name every
// export and every public member of the exported classes, and nothing else.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = fileURLToPath(new URL('..', import.meta.url))
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const fixtures = join(root, '__test__', 'fixtures', 'readme')
// Inside the package, so `import 'wasmtime-napi'` resolves to it by name.
const work = join(root, '__test__', '.readme')

/** Fenced blocks: language, info, code, line, whether a skip comment precedes it. */
function blocks(text) {
  const out = []
  const re = /^```(\w*)([^\n]*)\n([\s\S]*?)^```$/gm
  for (let m; (m = re.exec(text)); ) {
    const before = text.slice(0, m.index).trimEnd()
    out.push({
      lang: m[1],
      info: m[2].trim(),
      code: m[3],
      line: text.slice(0, m.index).split('\n').length,
      skip: /<!-- doctest: skip[^>]*-->$/.test(before),
    })
  }
  return out
}

const all = blocks(readme)
const runnable = all
  .map((b, i) => ({ ...b, expected: all[i + 1]?.lang === 'text' && all[i + 1].info === 'output' ? all[i + 1].code : undefined }))
  .filter((b) => ['js', 'ts', 'sh'].includes(b.lang) && !b.skip)

// The files the README names: artifacts precompiled here, text modules as they are.
const { Engine } = require('../')
rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })
for (const name of readdirSync(fixtures)) cpSync(join(fixtures, name), join(work, name))
for (const name of ['app', 'hello']) {
  const art = Engine.default.precompileModule(readFileSync(join(fixtures, `${name}.wat`), 'utf8'))
  writeFileSync(join(work, `${name}.cwasm`), art)
  writeFileSync(join(work, `${name}.cwasm.sha256`), `${createHash('sha256').update(art).digest('hex')}  ${name}.cwasm\n`)
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const cli = join(root, 'bin', 'wasmtime-napi.mjs')

function run(block, dir) {
  const opts = { cwd: dir, encoding: 'utf8', timeout: 120_000 }
  if (block.lang === 'sh') {
    const script = block.code.replaceAll('npx wasmtime-napi', `node ${JSON.stringify(cli)}`)
    return spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], opts)
  }
  if (block.lang === 'ts') {
    writeFileSync(join(dir, 'block.mts'), block.code)
    const flags = ['--strict', '--target', 'es2022', '--lib', 'es2023,esnext.disposable', '--module', 'nodenext', '--types', 'node', '--pretty', 'false']
    const c = spawnSync(process.execPath, [tsc, ...flags, 'block.mts'], opts)
    if (c.status !== 0) return { ...c, stderr: `tsc: ${c.stdout}${c.stderr}` }
    return spawnSync(process.execPath, ['block.mjs'], opts)
  }
  const file = /\brequire\(/.test(block.code) ? 'block.cjs' : 'block.mjs'
  writeFileSync(join(dir, file), block.code)
  return spawnSync(process.execPath, [file], opts)
}

test('the README has runnable blocks with their output', (t) => {
  t.true(runnable.length >= 7, `${runnable.length} runnable blocks`)
  t.true(runnable.filter((b) => b.expected !== undefined).length >= 7)
})

for (const block of runnable) {
  test(`README.md line ${block.line} (${block.lang}) runs${block.expected === undefined ? '' : ' and prints what the README shows'}`, (t) => {
    const dir = join(work, `line-${block.line}`)
    mkdirSync(dir)
    for (const name of readdirSync(work)) if (name.includes('.')) cpSync(join(work, name), join(dir, name))
    const r = run(block, dir)
    t.is(r.signal, null, r.stderr)
    t.is(r.status, 0, r.stderr)
    if (block.expected !== undefined) t.is(r.stdout, block.expected)
  })
}

test('the API table names every export and every public member, and nothing that does not exist', (t) => {
  const api = readme.slice(readme.indexOf('### API'), readme.indexOf('### Errors'))
  const table = api.split('\n').filter((l) => l.startsWith('|')).join('\n')
  const spans = [...table.matchAll(/`([^`]+)`/g)].map((m) => m[1])
  const named = new Set(spans.flatMap((s) => s.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []))
  const pkg = require('../')
  const exported = Object.keys(pkg)
  const members = new Set()
  for (const name of exported) {
    t.true(named.has(name), `the table names the export ${name}`)
    const C = pkg[name]
    if (typeof C !== 'function' || !C.prototype || name === 'WasmTrap') continue
    for (let p = C.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const m of Object.getOwnPropertyNames(p)) if (m !== 'constructor') members.add(m)
    }
    for (let p = C; p && p !== Function.prototype; p = Object.getPrototypeOf(p)) {
      for (const m of Object.getOwnPropertyNames(p)) if (!['length', 'name', 'prototype', 'arguments', 'caller'].includes(m)) members.add(m)
    }
  }
  // Fields set by constructors.
  for (const sample of [new pkg.Engine(), new pkg.Store(), new pkg.Linker(), new pkg.Module('(module)')]) {
    for (const m of Object.getOwnPropertyNames(sample)) members.add(m)
  }
  // What every exported wasm function carries, itself or on its prototype.
  const fn = new pkg.Instance(new pkg.Store(), new pkg.Module('(module (func (export "f")))')).exports.f
  for (let p = fn; p && p !== Function.prototype; p = Object.getPrototypeOf(p)) {
    for (const m of Object.getOwnPropertyNames(p)) if (!['length', 'name'].includes(m)) members.add(m)
  }
  for (const m of members) t.true(named.has(m), `the table names the member ${m}`)
  // Every call or member access the table shows exists.
  for (const s of spans) {
    for (const [, obj, member] of s.matchAll(/\b([A-Za-z]+)\.([A-Za-z]+)/g)) {
      if (obj === 'Symbol') continue
      t.true(members.has(member) || exported.includes(member), `${obj}.${member} exists`)
    }
    for (const [, fn] of s.matchAll(/(?:^|[^.\w])([a-z][A-Za-z]*)\(/g)) {
      t.true(exported.includes(fn) || members.has(fn), `${fn}() exists`)
    }
  }
})

test.after.always(() => rmSync(work, { recursive: true, force: true }))
