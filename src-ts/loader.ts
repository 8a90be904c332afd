/**
 * Loads the native addon: the prebuilt package for this platform (or a local
 * build, or `NAPI_RS_NATIVE_LIBRARY_PATH`), through napi-rs's generated
 * loader. When nothing fits, the error says what was detected, which package
 * was looked for, and how to build from source. Imported first, for that
 * side effect; later `require('../binding.js')` calls hit the module cache.
 */

function libc(): string {
  if (process.platform !== 'linux') return ''
  const report = (process.report?.getReport?.() ?? {}) as { header?: { glibcVersionRuntime?: string } }
  return report.header?.glibcVersionRuntime ? 'gnu' : 'musl'
}

/** The napi-rs platform triple of this process, e.g. `linux-x64-gnu`. */
export function platformTriple(): string {
  const abi = process.platform === 'linux' ? `-${libc()}` : process.platform === 'win32' ? '-msvc' : ''
  return `${process.platform}-${process.arch}${abi}`
}

function load(): void {
  try {
    require('../binding.js')
  } catch (cause) {
    const triple = platformTriple()
    const err = new Error(
      `wasmtime-napi: no native addon for this platform (${triple}, Node ${process.version}).\n` +
        `  Looked for: the package wasmtime-napi-${triple} (an optional dependency), ` +
        `a local wasmtime-napi.${triple}.node, and NAPI_RS_NATIVE_LIBRARY_PATH.\n` +
        `  Fix: reinstall without --no-optional / --omit=optional; or build from source with Rust >= 1.95 ` +
        `installed: in node_modules/wasmtime-napi run \`npm run build:from-source\` (or set WASMTIME_NAPI_BUILD_FROM_SOURCE=1 and reinstall).\n` +
        `  Cause: ${(cause as Error)?.message?.split('\n')[0]}`,
      { cause },
    ) as Error & { code: string }
    err.code = 'ERR_WASMTIME_NATIVE_ADDON'
    throw err
  }
}

load()
