/**
 * Loads the native addon: the prebuilt package for this platform (or a local
 * build, or `NAPI_RS_NATIVE_LIBRARY_PATH`), through napi-rs's generated
 * loader. When nothing fits, the error says what was detected, which package
 * was looked for, and how to build from source; when the override variable is
 * set, it says why that file did not load. Imported first, for that side
 * effect; later `require('../binding.js')` calls hit the module cache.
 *
 * Platform detection is `platformTriple()` in ./platform, shared with the
 * install hook (scripts/install.mjs).
 */
import { existsSync } from 'node:fs'
import { dirname, extname, isAbsolute, resolve } from 'node:path'
import { codedError } from './errors'
import { platformTriple } from './platform'

export { platformTriple }

const OVERRIDE = 'NAPI_RS_NATIVE_LIBRARY_PATH'

/**
 * The errors binding.js collected, in the order it tried the candidates. It
 * keeps their messages only, chained through `cause` with the newest
 * outermost, so the first is at the bottom of the chain.
 */
function loadErrors(thrown: unknown): Error[] {
  const errors: Error[] = []
  for (let e = (thrown as Error | undefined)?.cause; e instanceof Error && !errors.includes(e); e = e.cause) {
    errors.unshift(e)
  }
  return errors
}

/** binding.js's WASI fallback candidates; this package ships none. */
const isWasiCandidate = (e: Error) => /wasmtime-napi(?:\.wasi\.cjs|[.-]wasm32-wasi)|WASI binding/.test(e.message)
const firstLine = (e: Error) => String(e.message).split('\n')[0]
const notFound = (e: Error) => firstLine(e).startsWith('Cannot find module ')

/** Why `require(value)` from binding.js failed, in words. */
function overrideReason(value: string, failure: Error, bindingDir: string): string {
  // binding.js requires the value as is: a relative path is resolved from its
  // own directory, a bare name as a package.
  const file = isAbsolute(value) ? value : value.startsWith('.') ? resolve(bindingDir, value) : undefined
  if (file !== undefined && notFound(failure) && !existsSync(file)) return `the file ${file} does not exist`
  let reason = firstLine(failure)
  if (file !== undefined && existsSync(file) && extname(file) !== '.node') {
    reason += ` (the name does not end in .node, so Node did not load it as a native addon)`
  }
  return reason
}

function addonError(message: string, cause: unknown, errors: Error[]): Error {
  const err = codedError(Error, 'ERR_WASMTIME_NATIVE_ADDON', message)
  Object.defineProperty(err, 'cause', { value: cause, enumerable: false, configurable: true, writable: true })
  // Everything binding.js tried, for debugging; not printed with the error.
  Object.defineProperty(err, 'loadErrors', { value: errors, enumerable: false, configurable: true, writable: true })
  return err
}

function load(): void {
  const bindingPath = require.resolve('../binding.js')
  try {
    require(bindingPath)
  } catch (thrown) {
    const errors = loadErrors(thrown)
    const native = errors.filter((e) => !isWasiCandidate(e))
    const triple = platformTriple()
    const value = process.env[OVERRIDE]
    // With the variable set, binding.js tries that path and nothing native
    // else, so its one native error is the override's.
    if (value && native.length > 0) {
      const failure = native[0]
      const bindingDir = dirname(bindingPath)
      throw addonError(
        `wasmtime-napi: ${OVERRIDE} is set to ${JSON.stringify(value)}, and loading it failed: ` +
          `${overrideReason(value, failure, bindingDir)}.\n` +
          (value.startsWith('.') ? `  A relative ${OVERRIDE} is resolved from ${bindingDir}, not the working directory.\n` : '') +
          `  While it is set, the installed package wasmtime-napi-${triple} and local builds are not tried.\n` +
          `  Fix: point ${OVERRIDE} at a wasmtime-napi .node file built for ${triple} (Node ${process.version}), ` +
          `or unset it to load the installed addon.`,
        failure,
        errors,
      )
    }
    // Most telling first: a candidate that exists but failed to load (a broken
    // local build, a version mismatch), else the platform package that is
    // missing; the WASI fallback only if nothing native was tried.
    const cause = native.find((e) => !notFound(e)) ?? native.at(-1) ?? errors.at(-1) ?? thrown
    throw addonError(
      `wasmtime-napi: no native addon for this platform (${triple}, Node ${process.version}).\n` +
        `  Looked for: the package wasmtime-napi-${triple} (an optional dependency), ` +
        `a local wasmtime-napi.${triple}.node, and ${OVERRIDE}.\n` +
        `  Fix: reinstall without --no-optional / --omit=optional; or build from source with Rust >= 1.95 ` +
        `installed: in node_modules/wasmtime-napi run \`npm run build:from-source\` (or set WASMTIME_NAPI_BUILD_FROM_SOURCE=1 and reinstall).\n` +
        `  Cause: ${cause instanceof Error ? firstLine(cause) : String(cause)}`,
      cause,
      errors,
    )
  }
}

load()
