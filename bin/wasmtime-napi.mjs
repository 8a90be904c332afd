#!/usr/bin/env node
// The wasmtime-napi command line, shaped like wasmtime's: run a module, and
// (for CI pipelines) compile, inspect and key artifacts. `wasmtime-napi help`.
import { createRequire } from 'node:module'

// createRequire, not import: Node's ESM translator for a CommonJS file costs
// about 15 ms of start-up.
const { main } = createRequire(import.meta.url)('../dist/cli.js')

process.exitCode = await main(process.argv.slice(2))
