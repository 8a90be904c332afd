// A strict CommonJS consumer (nodenext), compiled by types.test.mjs.
import wasmtime = require('wasmtime-napi')

const store = new wasmtime.Store()
const instance = new wasmtime.Instance(store, new wasmtime.Module('(module)'))
const add = instance.getTypedFunc('add', ['i32', 'i32'], ['i32'])
export const sum: number = add(1, 2)
// @ts-expect-error: an i32 parameter takes a number
add('1', 2)
export const trap: wasmtime.TrapCode = 'out_of_fuel'
