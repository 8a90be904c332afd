// Property-based robustness: fast-check drives random sequences of API calls
// (see fixtures/property-child.mjs) in a child process, which could crash: the
// test asserts no signal, exit 0, `ok`, and no panic printed. Fixed seeds keep
// runs reproducible; PROPERTY_SEED and PROPERTY_RUNS explore further.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('./fixtures/property-child.mjs', import.meta.url))
const seeds = process.env.PROPERTY_SEED ? [Number(process.env.PROPERTY_SEED)] : [7, 1009, 424242]
const runs = Number(process.env.PROPERTY_RUNS || 300)

for (const seed of seeds) {
  test(`random API call sequences (seed ${seed}, ${runs} runs): no crash, no panic, every error coded, no store left`, (t) => {
    const r = spawnSync(process.execPath, ['--expose-gc', script, String(seed), String(runs)], { encoding: 'utf8', timeout: 240_000 })
    t.is(r.signal, null, `no signal (stderr: ${r.stderr.slice(-3000)})`)
    t.is(r.status, 0, `exit 0 (stderr: ${r.stderr.slice(-3000)})`)
    t.regex(r.stdout, /^ok$/m)
    t.notRegex(r.stderr, /panicked/)
    // The sequences reached the API, not only argument checks.
    const returned = JSON.parse(/^returned (.*)$/m.exec(r.stdout)[1])
    const errors = JSON.parse(/^errors (.*)$/m.exec(r.stdout)[1])
    for (const op of ['instantiate', 'linker', 'raw', 'call', 'view', 'touch', 'dispose', 'gc']) t.true(returned[op] > 0, `${op} ran`)
    for (const code of ['ERR_WASMTIME_TRAP', 'ERR_WASMTIME_STORE_DISPOSED', 'ERR_WASMTIME_INVALID_ARGUMENT']) t.true(errors[code] > 0, `${code} seen`)
    t.log(r.stdout.trim())
  })
}
