// `npm install wasmtime-napi` runs this. With a prebuilt addon for this
// platform (the optional dependency wasmtime-napi-<platform>) it does nothing.
// Without one it builds the addon from source when Cargo is available, and
// otherwise says clearly what is missing. In a git checkout (development) it
// does nothing: `npm run build` builds the addon there.
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const force = process.argv.includes('--force') || process.env.WASMTIME_NAPI_BUILD_FROM_SOURCE === '1'

if (!force) {
  if (existsSync(join(root, '.git'))) process.exit(0)
  try {
    require(join(root, 'binding.js'))
    process.exit(0)
  } catch {}
}

function libc() {
  if (process.platform !== 'linux') return ''
  return process.report?.getReport?.()?.header?.glibcVersionRuntime ? '-gnu' : '-musl'
}
const triple = `${process.platform}-${process.arch}${process.platform === 'win32' ? '-msvc' : libc()}`
const cargo = process.env.CARGO || 'cargo'
const probe = spawnSync(cargo, ['--version'], { encoding: 'utf8' })
if (probe.status !== 0) {
  console.error(
    `wasmtime-napi: there is no prebuilt addon for ${triple} (package wasmtime-napi-${triple}), and Cargo was not found to build one.\n` +
      `  Install Rust >= 1.95 (https://rustup.rs) and run npm install again, or install on a supported platform:\n` +
      `  linux x64/arm64 (glibc, musl), macOS x64/arm64, Windows x64/arm64.`,
  )
  process.exit(1)
}
console.error(`wasmtime-napi: no prebuilt addon for ${triple}; building from source with ${probe.stdout.trim()} (a few minutes)...`)
const build = spawnSync(cargo, ['build', '--release', '--locked'], { cwd: root, stdio: 'inherit' })
if (build.status !== 0) {
  console.error('wasmtime-napi: the source build failed (see above). Rust >= 1.95 is required.')
  process.exit(1)
}
const lib = { win32: 'wasmtime_napi.dll', darwin: 'libwasmtime_napi.dylib' }[process.platform] ?? 'libwasmtime_napi.so'
copyFileSync(join(root, 'target', 'release', lib), join(root, `wasmtime-napi.${triple}.node`))
console.error(`wasmtime-napi: built wasmtime-napi.${triple}.node`)
