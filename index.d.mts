// Public types of wasmtime-napi for ESM importers (index.mjs). index.mjs
// re-exports the CommonJS build by name and as its default export, so these
// types are the CommonJS facade's (./dist/index.d.ts), re-exported the same way.
import cjs from './dist/index.js'

export * from './dist/index.js'
export default cjs
