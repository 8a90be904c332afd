// The release: .github/workflows/release.yml's matrices expanded the way
// GitHub expands them, checked against package.json's napi.targets; the
// platform packages' metadata; the glibc check script; and the ESM/CJS type
// entry points against what the entry points export at run time.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { load } from 'js-yaml'
import ts from 'typescript'
import { parseTriple } from '@napi-rs/cli'
import { HOSTED_RUNNER_LABELS } from '../scripts/runner-labels.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const workflow = load(readFileSync(join(root, '.github/workflows/release.yml'), 'utf8'))
const jobs = workflow.jobs
const TARGETS = pkg.napi.targets
const NODES = [20, 22, 24]
const REPO = 'https://github.com/wasmtime-napi/wasmtime-napi'

// --- GitHub's matrix expansion -------------------------------------------
// https://docs.github.com/actions/writing-workflows/choosing-what-your-workflow-does/running-variations-of-jobs-in-a-workflow
// 1. The cross product of every key but include/exclude ("original" keys).
// 2. exclude removes each combination an entry matches (all its keys equal).
// 3. Each include entry is added to every original combination it can join
//    without changing an original value (values added by earlier includes may
//    be overwritten); an entry that joins none becomes a combination of its own.
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)
export function expandMatrix(matrix) {
  if (typeof matrix !== 'object' || matrix === null || Array.isArray(matrix)) throw new Error(`matrix must be a literal mapping, got ${JSON.stringify(matrix)}`)
  const { include = [], exclude = [], ...axes } = matrix
  for (const [k, v] of Object.entries(axes)) if (!Array.isArray(v)) throw new Error(`matrix.${k} must be a literal list`)
  const keys = Object.keys(axes)
  let base = keys.length ? [{}] : []
  for (const k of keys) base = base.flatMap((c) => axes[k].map((v) => ({ ...c, [k]: v })))
  base = base.filter((c) => !exclude.some((e) => Object.entries(e).every(([k, v]) => same(c[k], v))))
  const extra = []
  for (const entry of include) {
    let joined = false
    for (const c of base) {
      if (Object.entries(entry).every(([k, v]) => !keys.includes(k) || same(c[k], v))) {
        Object.assign(c, entry)
        joined = true
      }
    }
    if (!joined) extra.push({ ...entry })
  }
  return [...base, ...extra]
}

// --- The few expression forms the workflow uses ---------------------------
// `x`, `!x`, `${{ x }}`, matrix.* / env.* references, string literals and
// contains/startsWith/endsWith (case-insensitive, as in GitHub). Anything else
// throws, so an unsupported condition fails the test instead of being guessed.
function evaluate(expr, ctx) {
  let s = String(expr).trim()
  const whole = /^\$\{\{(.*)\}\}$/s.exec(s)
  if (whole) s = whole[1].trim()
  if (s.startsWith('!')) return !evaluate(s.slice(1), ctx)
  let m
  if ((m = /^'((?:[^']|'')*)'$/.exec(s))) return m[1].replaceAll("''", "'")
  if ((m = /^(matrix|env)\.([A-Za-z_][\w-]*)$/.exec(s))) return ctx[m[1]][m[2]]
  if ((m = /^(contains|startsWith|endsWith)\((.*),(.*)\)$/.exec(s))) {
    const a = String(evaluate(m[2], ctx) ?? '').toLowerCase()
    const b = String(evaluate(m[3], ctx) ?? '').toLowerCase()
    return m[1] === 'contains' ? a.includes(b) : m[1] === 'startsWith' ? a.startsWith(b) : a.endsWith(b)
  }
  throw new Error(`unsupported expression: ${expr}`)
}
// Interpolates ${{ ... }} inside a string (runs-on, run:, names).
const interpolate = (str, ctx) => String(str).replace(/\$\{\{(.*?)\}\}/g, (_, e) => String(evaluate(e, ctx) ?? ''))
const runs = (step, ctx) => step.if === undefined || Boolean(evaluate(step.if, ctx))
const combos = (job) => (job.strategy?.matrix ? expandMatrix(job.strategy.matrix) : [{}])
const ctxOf = (job, matrix) => ({ matrix, env: { ...workflow.env, ...job.env } })
const stepNamed = (job, re) => job.steps.find((s) => re.test(s.name ?? s.uses ?? ''))

test('the matrix expansion follows GitHub: the documentation example', (t) => {
  const got = expandMatrix({
    fruit: ['apple', 'pear'],
    animal: ['cat', 'dog'],
    include: [
      { color: 'green' },
      { color: 'pink', animal: 'cat' },
      { fruit: 'apple', shape: 'circle' },
      { fruit: 'banana' },
      { fruit: 'banana', animal: 'cat' },
    ],
  })
  t.deepEqual(got, [
    { fruit: 'apple', animal: 'cat', color: 'pink', shape: 'circle' },
    { fruit: 'apple', animal: 'dog', color: 'green', shape: 'circle' },
    { fruit: 'pear', animal: 'cat', color: 'pink' },
    { fruit: 'pear', animal: 'dog', color: 'green' },
    { fruit: 'banana' },
    { fruit: 'banana', animal: 'cat' },
  ])
  // The shape the test job had before: include entries that set keys the
  // matrix does not have join every combination and overwrite each other.
  t.deepEqual(
    expandMatrix({ node: [20, 22], include: [{ host: 'a', target: 'x' }, { host: 'b', target: 'y' }] }),
    [{ node: 20, host: 'b', target: 'y' }, { node: 22, host: 'b', target: 'y' }],
  )
  t.deepEqual(expandMatrix({ os: ['l', 'w'], v: [1, 2], exclude: [{ os: 'w', v: 1 }] }), [{ os: 'l', v: 1 }, { os: 'l', v: 2 }, { os: 'w', v: 2 }])
})

test('no job has two identical matrix combinations', (t) => {
  for (const [name, job] of Object.entries(jobs)) {
    const seen = combos(job).map((c) => JSON.stringify(Object.entries(c).sort()))
    t.is(new Set(seen).size, seen.length, `job ${name}`)
  }
})

test('every runs-on label is a GitHub-hosted runner label offered today', (t) => {
  for (const [name, job] of Object.entries(jobs)) {
    for (const c of combos(job)) {
      const labels = [job['runs-on']].flat().map((l) => interpolate(l, ctxOf(job, c)))
      for (const label of labels) t.true(HOSTED_RUNNER_LABELS.includes(label), `job ${name} ${JSON.stringify(c)} runs on "${label}"`)
    }
  }
})

test('the build job builds each of package.json napi.targets exactly once', (t) => {
  const built = combos(jobs.build).map((c) => c.target)
  t.deepEqual([...built].sort(), [...TARGETS].sort())
  t.is(TARGETS.length, 8)
})

test('musl builds use zig (-x), glibc builds the napi-rs cross toolchains, checked against glibc 2.17', (t) => {
  const job = jobs.build
  const build = stepNamed(job, /^Build the addon$/)
  const check = stepNamed(job, /glibc/)
  t.truthy(build, 'a step named "Build the addon"')
  t.truthy(check, 'a glibc check step')
  t.is(workflow.env.MAX_GLIBC, '2.17')
  for (const c of combos(job)) {
    const ctx = ctxOf(job, c)
    const cmd = interpolate(build.run, ctx).split(/\s+/)
    const triple = parseTriple(c.target)
    t.true(cmd.includes(`--target`) && cmd.includes(c.target), `${c.target}: ${cmd.join(' ')}`)
    const host = c.host
    if (triple.abi === 'musl') {
      t.true(cmd.includes('-x') || cmd.includes('--cross-compile'), `${c.target} builds with -x`)
      t.false(cmd.includes('--use-napi-cross'), `${c.target}: --use-napi-cross has no musl toolchain`)
      const zigSteps = job.steps.filter((s) => /zig/i.test(`${s.name} ${s.uses}`))
      t.true(zigSteps.length >= 2 && zigSteps.every((s) => runs(s, ctx)), `${c.target} installs zig and cargo-zigbuild`)
      t.true(host.startsWith('ubuntu-'), `${c.target} builds on Linux`)
    } else if (triple.platform === 'linux') {
      t.true(cmd.includes('--use-napi-cross'), `${c.target} builds with --use-napi-cross`)
      t.false(cmd.includes('-x'), `${c.target}`)
      // objdump reads the host's architecture: the gnu builds run on a runner of their own.
      t.is(host.endsWith('-arm') ? 'arm64' : 'x64', triple.arch, `${c.target} builds on a ${triple.arch} runner`)
      t.true(runs(check, ctx), `${c.target} runs the glibc check`)
      const run = interpolate(check.run, ctx)
      t.regex(run, /scripts\/check-glibc\.sh\s+\S+\s+"?\$MAX_GLIBC"?/)
    } else {
      t.false(cmd.includes('--use-napi-cross') || cmd.includes('-x'), `${c.target} builds natively`)
      t.false(runs(check, ctx), `${c.target} has no glibc to check`)
    }
  }
})

test('the test job runs every target on Node 20, 22 and 24, each on a runner that can run it', (t) => {
  const job = jobs.test
  const all = combos(job)
  const got = all.map((c) => `${c.target} node${c.node}`).sort()
  const want = TARGETS.flatMap((target) => NODES.map((node) => `${target} node${node}`)).sort()
  t.deepEqual(got, want)
  const alpine = stepNamed(job, /alpine/)
  const direct = stepNamed(job, /^Test the prebuilt addon \(/)
  const setupNode = job.steps.find((s) => String(s.uses).startsWith('actions/setup-node@'))
  for (const c of all) {
    const triple = parseTriple(c.target)
    const ctx = ctxOf(job, c)
    const host = c.host
    const os = host.startsWith('ubuntu-') ? 'linux' : host.startsWith('macos-') ? 'darwin' : 'win32'
    const arch = host.endsWith('-arm') || host === 'windows-11-arm' || (os === 'darwin' && host !== 'macos-15-intel') ? 'arm64' : 'x64'
    t.is(os, triple.platform, `${c.target} on ${host}`)
    t.is(arch, triple.arch, `${c.target} on ${host}`)
    t.is(runs(alpine, ctx), triple.abi === 'musl', `${c.target}: the Alpine step`)
    t.is(runs(direct, ctx), triple.abi !== 'musl', `${c.target}: the direct step`)
    t.is(runs(setupNode, ctx), triple.abi !== 'musl', `${c.target}: setup-node`)
    if (triple.abi === 'musl') t.regex(interpolate(alpine.run, ctx), /node:\$\{NODE\}-alpine/)
    if (triple.abi === 'musl') t.is(interpolate(alpine.env.NODE, ctx), String(c.node))
    else t.is(interpolate(setupNode.with['node-version'], ctx), String(c.node))
    const download = job.steps.find((s) => String(s.uses).startsWith('actions/download-artifact@'))
    t.is(interpolate(download.with.name, ctx), `bindings-${c.target}`)
  }
  t.is(jobs.test.needs, 'build')
})

test('publish runs only on a version tag and only when every build and test succeeded', (t) => {
  const job = jobs.publish
  t.deepEqual([job.needs].flat().sort(), ['build', 'test'])
  // No status function: the implicit success() covers every needed job.
  t.notRegex(String(job.if), /\b(always|failure|cancelled|success)\s*\(/)
  t.regex(String(job.if), /^startsWith\(github\.ref, 'refs\/tags\/v'\)$/)
  for (const name of ['build', 'test']) {
    t.falsy(jobs[name]['continue-on-error'], `${name} has no continue-on-error`)
    for (const s of jobs[name].steps) t.falsy(s['continue-on-error'], `${name} step ${s.name ?? s.uses}`)
  }
  // Every build's artifact is downloaded, and napi artifacts fails on a missing target.
  const download = job.steps.find((s) => String(s.uses).startsWith('actions/download-artifact@'))
  t.is(download.with.pattern, 'bindings-*')
  t.truthy(job.steps.find((s) => /napi artifacts/.test(s.run ?? '')))
  t.is(job.permissions['id-token'], 'write')
})

test('every platform package matches its napi target and carries the root metadata', (t) => {
  const dirs = readdirSync(join(root, 'npm')).sort()
  t.deepEqual(dirs, TARGETS.map((x) => parseTriple(x).platformArchABI).sort())
  t.deepEqual(pkg.repository, { type: 'git', url: `git+${REPO}.git` })
  t.is(pkg.homepage, `${REPO}#readme`)
  t.deepEqual(pkg.bugs, { url: `${REPO}/issues` })
  t.is(pkg.license, 'Apache-2.0 WITH LLVM-exception')
  for (const target of TARGETS) {
    const { platformArchABI, platform, arch, abi } = parseTriple(target)
    const sub = JSON.parse(readFileSync(join(root, 'npm', platformArchABI, 'package.json'), 'utf8'))
    const file = `${pkg.napi.binaryName}.${platformArchABI}.node`
    t.is(sub.name, `${pkg.name}-${platformArchABI}`)
    t.is(sub.version, pkg.version)
    t.is(pkg.optionalDependencies[sub.name], pkg.version)
    t.is(sub.main, file)
    t.deepEqual(sub.files, [file])
    t.deepEqual(sub.os, [platform])
    t.deepEqual(sub.cpu, [arch])
    if (platform === 'linux') t.deepEqual(sub.libc, [abi === 'gnu' ? 'glibc' : abi])
    for (const k of ['license', 'repository', 'homepage', 'bugs']) t.deepEqual(sub[k], pkg[k], `${sub.name} ${k}`)
  }
})

test('LICENSE holds the Apache 2.0 text and the LLVM exception', (t) => {
  const text = readFileSync(join(root, 'LICENSE'), 'utf8')
  t.regex(text, /Apache License\s+Version 2\.0, January 2004/)
  t.regex(text, /END OF TERMS AND CONDITIONS/)
  t.regex(text, /--- LLVM Exceptions to the Apache 2\.0 License ----/)
  t.regex(text, /Combined\s+Software\./)
})

// The local addon is built on this machine (a new glibc); the glibc 2.17 bound
// itself is checked in CI on the napi-cross builds. Here: the script's
// parsing and verdicts on a real addon.
const localGnu = readdirSync(root).find((f) => /^wasmtime-napi\.linux-[a-z0-9]+-gnu\.node$/.test(f))
const haveObjdump = spawnSync('objdump', ['--version']).status === 0 && spawnSync('bash', ['--version']).status === 0
const glibcTest = localGnu && haveObjdump ? test : test.skip
const checkGlibc = (...args) => spawnSync('bash', [join(root, 'scripts/check-glibc.sh'), ...args], { cwd: root, encoding: 'utf8' })

glibcTest('scripts/check-glibc.sh reports the highest GLIBC version and compares versions numerically', (t) => {
  const loose = checkGlibc(localGnu, '9.99')
  t.is(loose.status, 0, loose.stderr)
  const m = /needs at most GLIBC_(\d+)\.(\d+)/.exec(loose.stdout)
  t.truthy(m, loose.stdout)
  const [major, minor] = [Number(m[1]), Number(m[2])]
  t.log(`local ${localGnu}: ${loose.stdout.trim()}`)
  // What the highest version is, from objdump -T directly.
  const dump = spawnSync('objdump', ['-T', localGnu], { cwd: root, encoding: 'utf8' }).stdout
  const versions = [...dump.matchAll(/GLIBC_(\d+)\.(\d+)(?:\.\d+)?/g)].map((x) => [Number(x[1]), Number(x[2])])
  const top = versions.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a))
  t.deepEqual([major, minor], top)

  t.is(checkGlibc(localGnu, '2.0').status, 1)
  t.is(checkGlibc(localGnu, `${major}.${minor}`).status, 0, 'the exact version passes')
  if (minor > 0) {
    const below = checkGlibc(localGnu, `${major}.${minor - 1}`)
    t.is(below.status, 1, 'one below fails')
    t.regex(below.stderr, new RegExp(`GLIBC_${major}\\.${minor}\\)`), 'names the symbols above the maximum')
  }
  // Numeric, not string, comparison: 2.4 < 2.34 and 2.100 > 2.34.
  if (major === 2 && minor > 4) t.is(checkGlibc(localGnu, '2.4').status, 1)
  if (major === 2 && minor < 100) t.is(checkGlibc(localGnu, '2.100').status, 0)
  t.is(checkGlibc(localGnu).status, 2, 'usage')
  t.is(checkGlibc(localGnu, 'latest').status, 2, 'not a version')
  t.is(checkGlibc('package.json', '2.17').status, 2, 'not an ELF file')
  t.is(checkGlibc('no-such.node', '2.17').status, 2, 'missing file')
})

// --- Types: per-condition entry points -------------------------------------
function valueExports(program, file) {
  const checker = program.getTypeChecker()
  const sf = program.getSourceFile(file)
  return checker
    .getExportsOfModule(checker.getSymbolAtLocation(sf))
    .filter((s) => ((s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s).flags & ts.SymbolFlags.Value) !== 0)
    .map((s) => s.name)
    .sort()
}
const tsOptions = { target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }
// Every diagnostic fails the test, the facade's own declarations (dist/,
// binding.d.ts) included: a consumer with skipLibCheck off sees them all.
function errors(program) {
  const text = (d) => ts.flattenDiagnosticMessageText(d.messageText, '\n') + (d.file ? ` (${d.file.fileName})` : '')
  return ts.getPreEmitDiagnostics(program).map(text)
}

test('package.json exports give import and require their own types', (t) => {
  t.deepEqual(pkg.exports['.'], {
    import: { types: './index.d.mts', default: './index.mjs' },
    require: { types: './index.d.ts', default: './dist/index.js' },
  })
  for (const f of ['index.d.mts', 'index.d.ts', 'index.mjs']) t.true(pkg.files.includes(f), f)
})

test('the ESM and CommonJS types declare the values the entry points export', async (t) => {
  const opts = { ...tsOptions, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }
  const mts = join(root, 'index.d.mts')
  const cts = join(root, 'index.d.ts')
  const program = ts.createProgram([mts, cts], opts)
  t.deepEqual(errors(program), [])
  const esm = Object.keys(await import('../index.mjs')).sort()
  t.deepEqual(valueExports(program, mts), esm)
  const cjs = Object.keys(require('../dist/index.js')).sort()
  t.deepEqual(valueExports(program, cts), cjs)
})

test('a TypeScript consumer type-checks under node16 (ESM and CJS) and bundler resolution', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmtime-napi-types-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(root, join(dir, 'node_modules', pkg.name), 'junction')
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n')
  const esm = `import wasmtime, { Engine, DEFAULT_TABLE_ELEMENTS, type WasmtimeError } from '${pkg.name}'
export const engine: typeof Engine = wasmtime.Engine
export const n: number = DEFAULT_TABLE_ELEMENTS + wasmtime.DEFAULT_TABLE_ELEMENTS
export type E = WasmtimeError
`
  writeFileSync(join(dir, 'esm.mts'), esm)
  writeFileSync(join(dir, 'cjs.cts'), `import wasmtime = require('${pkg.name}')
export const engine: typeof wasmtime.Engine = wasmtime.Engine
export const n: number = wasmtime.DEFAULT_TABLE_ELEMENTS
`)
  writeFileSync(join(dir, 'bundled.ts'), esm)
  const node16 = ts.createProgram([join(dir, 'esm.mts'), join(dir, 'cjs.cts')], { ...tsOptions, module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 })
  t.deepEqual(errors(node16), [])
  const bundler = ts.createProgram([join(dir, 'bundled.ts')], { ...tsOptions, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler })
  t.deepEqual(errors(bundler), [])
  t.true(existsSync(join(dir, 'node_modules', pkg.name, 'index.d.mts')))
})
