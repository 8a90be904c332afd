/**
 * The package's one platform detection, with no side effects: the loader's
 * error (./loader) and the install hook (scripts/install.mjs, which must not
 * load the addon it may be about to replace) both use it.
 */
import { readFileSync } from 'node:fs'

/**
 * Whether this Linux process runs on musl, asked as `isMusl()` in napi-rs's
 * generated binding.js asks first (it does not export it): what /usr/bin/ldd
 * is, else what Node's own report says about the libc it runs on. Where
 * neither answers, this says glibc; binding.js would also run `ldd --version`.
 */
function isMusl(): boolean {
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {}
  const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined
  if (typeof report?.getReport !== 'function') return false
  report.excludeNetwork = true
  const r = report.getReport() as { header?: { glibcVersionRuntime?: string }; sharedObjects?: string[] }
  if (r.header?.glibcVersionRuntime) return false
  return (r.sharedObjects ?? []).some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'))
}

/**
 * The napi-rs platform triple of this process, e.g. `linux-x64-gnu`: the
 * `wasmtime-napi.<triple>.node` file and `wasmtime-napi-<triple>` package
 * binding.js looks for.
 */
export function platformTriple(): string {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') {
    const musl = isMusl()
    if (arch === 'arm') abi = musl ? '-musleabihf' : '-gnueabihf'
    else abi = musl && arch !== 'ppc64' && arch !== 's390x' ? '-musl' : '-gnu'
  } else if (platform === 'win32') {
    const v = (process.config?.variables ?? {}) as { shlib_suffix?: string; node_target_type?: string }
    abi = arch === 'x64' && (v.shlib_suffix === 'dll.a' || v.node_target_type === 'shared_library') ? '-gnu' : '-msvc'
  } else if (platform === 'android' && arch === 'arm') {
    abi = '-eabi'
  }
  return `${platform}-${arch}${abi}`
}
