// The published types, as a strict consumer sees them (skipLibCheck off):
// __test__/types/ holds an ESM and a CommonJS consumer (module nodenext) and a
// bundler one, each importing the package by name. Their @ts-expect-error
// lines are misuse: tsc fails if one of them compiles.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
const dir = fileURLToPath(new URL('./types/', import.meta.url))

for (const config of ['tsconfig.nodenext.json', 'tsconfig.bundler.json']) {
  test(`a strict consumer compiles with no error and every misuse is refused (${config})`, (t) => {
    const r = spawnSync(process.execPath, [tsc, '-p', dir + config, '--pretty', 'false'], { encoding: 'utf8' })
    t.is(r.stdout + r.stderr, '')
    t.is(r.status, 0)
  })
}
