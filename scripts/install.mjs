// `npm install wasmtime-napi` runs this. With a prebuilt addon for this
// platform (the optional dependency wasmtime-napi-<platform>) it does nothing.
// Without one it builds the addon from source when Cargo is available, and
// otherwise says clearly what is missing. In a git checkout (development) it
// does nothing: `npm run build` builds the addon there.
//
// The platform triple comes from platformTriple() in dist/platform.js, the one
// detection the package has (the published package ships dist/), so the file
// this hook builds is the one the loader looks for.
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const force = process.argv.includes('--force') || process.env.WASMTIME_NAPI_BUILD_FROM_SOURCE === '1'
const loader = join(root, 'dist', 'loader.js')

if (!force && existsSync(join(root, '.git'))) process.exit(0)
if (!existsSync(loader)) {
  console.error('wasmtime-napi: dist/ is missing; build the TypeScript facade first (npm run build:ts).')
  process.exit(1)
}
if (!force) {
  // What `require('wasmtime-napi')` runs first: it loads the addon or throws.
  try {
    require(loader)
    process.exit(0)
  } catch (err) {
    if (err?.code !== 'ERR_WASMTIME_NATIVE_ADDON') throw err
  }
}

const { platformTriple } = require(join(root, 'dist', 'platform.js'))
const triple = platformTriple()
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
