// Lints the package as npm would publish it: packs it (`npm pack`, which runs
// any prepack/prepare/postpack scripts, as publishing does) into a temporary
// directory, then runs publint (warnings count as errors) and
// @arethetypeswrong/cli on the tarball. Exits 1 on any finding.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = mkdtempSync(join(tmpdir(), 'wasmtime-napi-pack-'))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx'
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32', ...opts })

let status = 0
try {
  const pack = run(npm, ['pack', '--json', '--pack-destination', dir], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
  if (pack.status !== 0) throw new Error(`npm pack failed (exit ${pack.status})`)
  const tarball = join(dir, JSON.parse(pack.stdout)[0].filename)
  for (const [name, args] of [
    ['publint', ['--no-install', 'publint', 'run', '--strict', tarball]],
    ['attw', ['--no-install', 'attw', '--no-color', tarball]],
  ]) {
    const r = run(npx, args)
    if (r.status !== 0) {
      console.error(`lint:package: ${name} failed (exit ${r.status})`)
      status = 1
    }
  }
} catch (e) {
  console.error(`lint:package: ${e.message}`)
  status = 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}
if (!status) console.log('lint:package: publint and attw found nothing')
process.exit(status)
