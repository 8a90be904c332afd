// ESM entry: the CommonJS build, re-exported by name.
import { createRequire } from 'node:module'

// createRequire, not `import cjs from`: Node's ESM translator for a CommonJS
// file cost about 17 ms of start-up here.
const cjs = createRequire(import.meta.url)('./dist/index.js')

export const {
  Engine,
  Module,
  Store,
  Instance,
  Memory,
  Table,
  Global,
  Caller,
  Linker,
  InstancePre,
  WasiContext,
  WasmTrap,
  runWasiCommand,
  runWasiCommandAsync,
  alignedBuffer,
  readPrecompiled,
  readPrecompiledSync,
  inspectArtifact,
  stats,
  pageSize,
  wasmtimeVersion,
  DEFAULT_TABLE_ELEMENTS,
} = cjs
export default cjs
