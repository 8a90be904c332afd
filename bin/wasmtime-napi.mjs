#!/usr/bin/env node
// The wasmtime-napi command line, shaped like wasmtime's: run a module, and
// (for CI pipelines) compile, inspect and key artifacts. `wasmtime-napi help`.
import { main } from '../dist/cli.js'

process.exitCode = await main(process.argv.slice(2))
