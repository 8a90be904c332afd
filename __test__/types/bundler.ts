// A strict consumer with moduleResolution: bundler, compiled by types.test.mjs.
import wasmtime, { Linker, type ImportType } from 'wasmtime-napi'

export const names = (imports: ImportType[]): string[] => imports.map((i) => `${i.module}.${i.name}:${i.kind}`)
new Linker(wasmtime.Engine.default).func('env', 'now', { params: [], results: ['f64'] }, () => Date.now())
// @ts-expect-error: an f64 result is a number
new Linker().func('env', 'now', { params: [], results: ['f64'] }, () => 'now')
