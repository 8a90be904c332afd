/** Errors thrown by the facade carry a stable `code`, like the native ones. */
export type ErrorCode =
  | 'ERR_WASMTIME_UNALIGNED_BUFFER'
  | 'ERR_WASMTIME_SHARED_BUFFER'
  | 'ERR_WASMTIME_DETACHED_BUFFER'
  | 'ERR_WASMTIME_FOREIGN_BUFFER'
  | 'ERR_WASMTIME_OUT_OF_MEMORY'
  | 'ERR_WASMTIME_INVALID_ARGUMENT'
  | 'ERR_WASMTIME_DESERIALIZE'
  | 'ERR_WASMTIME_COMPILE'
  | 'ERR_WASMTIME_CONFIG'
  | 'ERR_WASMTIME_INSTANTIATE'
  | 'ERR_WASMTIME_LINK'
  | 'ERR_WASMTIME_TRAP'
  | 'ERR_WASMTIME_HOST'
  | 'ERR_WASMTIME_HOST_PROMISE'
  | 'ERR_WASMTIME_EXIT'
  | 'ERR_WASMTIME_WASI'
  | 'ERR_WASMTIME_STORE_DISPOSED'
  | 'ERR_WASMTIME_STORE_BUSY'
  | 'ERR_WASMTIME_MODULE_DISPOSED'
  | 'ERR_WASMTIME_IO'
  | 'ERR_WASMTIME_INTEGRITY'
  | 'ERR_WASMTIME_NATIVE_ADDON'
  | 'ERR_WASMTIME_PANIC'
  | 'ERR_WASMTIME_INTERNAL'

export interface WasmtimeError extends Error {
  code: ErrorCode
}

export function codedError<E extends Error>(
  Ctor: new (message: string) => E,
  code: ErrorCode,
  message: string,
): E & { code: ErrorCode } {
  const err = new Ctor(message) as E & { code: ErrorCode }
  err.code = code
  return err
}

/** Whether `e` is an error that already carries an `ERR_WASMTIME_*` code. */
export function isWasmtimeError(e: unknown): e is WasmtimeError {
  return e instanceof Error && String((e as { code?: unknown }).code).startsWith('ERR_WASMTIME_')
}

/**
 * Refuses option names that `allowed` does not list: a misspelt option
 * (`simdd`, `stdot`) must fail loudly, not be ignored.
 */
export function checkOptions(options: unknown, allowed: readonly string[], what: string): void {
  if (options === undefined || options === null) return
  if (typeof options !== 'object') {
    throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `${what} must be an object of options, got ${typeof options}`)
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `${what}: unknown option '${key}'; the options are ${allowed.join(', ')}`)
    }
  }
}

/** The statuses napi-rs throws with when it cannot convert an argument. */
const NAPI_STATUS = new Set([
  'InvalidArg', 'ObjectExpected', 'StringExpected', 'NameExpected', 'FunctionExpected', 'NumberExpected',
  'BooleanExpected', 'ArrayExpected', 'GenericFailure', 'BigintExpected', 'DateExpected', 'ArrayBufferExpected',
  'DetachableArraybufferExpected', 'Unknown',
])

/** `e`, an error napi-rs raised converting an argument, as a coded TypeError (with `e` as its cause). */
export function invalidArgument(e: Error, where: string): Error & { code: ErrorCode } {
  return Object.assign(codedError(TypeError, 'ERR_WASMTIME_INVALID_ARGUMENT', `${where}: ${e.message}. Check the arguments against the documented signature.`), { cause: e })
}

/**
 * Turns an error that napi-rs raised before the native code ran (a value of
 * the wrong type) or a caught Rust panic into a coded error. Anything else
 * (coded errors, traps, exceptions from host functions) passes unchanged.
 */
function recode(e: unknown, where: string, takePanic: () => string | null | undefined): unknown {
  const code = (e as { code?: unknown } | null)?.code
  if (!(e instanceof Error) || typeof code !== 'string' || !NAPI_STATUS.has(code)) return e
  const panic = code === 'GenericFailure' ? takePanic() : null
  if (!panic) return invalidArgument(e, where)
  const err = codedError(Error, 'ERR_WASMTIME_PANIC', `${where} panicked inside the native addon: ${panic}. The operation was abandoned; please report this with the input that caused it.`)
  return Object.assign(err, { cause: e })
}

/**
 * Wraps every method, getter and setter of the native classes (and the
 * native functions) so that their errors are coded (see `recode`). Calls into
 * wasm do not pass here: exported wasm functions are native functions of
 * their own that validate their arguments themselves.
 */
export function recodeNative(binding: Record<string, unknown>, takePanic: () => string | null | undefined): void {
  const wrap = <F extends (...args: never[]) => unknown>(f: F, where: string): F =>
    function (this: unknown, ...args: Parameters<F>) {
      try {
        return f.apply(this, args)
      } catch (e) {
        throw recode(e, where, takePanic)
      }
    } as F
  const wrapMembers = (target: object, owner: string) => {
    for (const key of Object.getOwnPropertyNames(target)) {
      if (key === 'constructor' || key === 'prototype' || key === 'length' || key === 'name') continue
      const d = Object.getOwnPropertyDescriptor(target, key)!
      if (!d.configurable) continue
      const where = `${owner}.${key}`
      if (typeof d.value === 'function') d.value = wrap(d.value, where)
      if (d.get) d.get = wrap(d.get, where)
      if (d.set) d.set = wrap(d.set, where)
      Object.defineProperty(target, key, d)
    }
  }
  for (const [name, value] of Object.entries(binding)) {
    if (typeof value !== 'function') continue
    if (/^[A-Z]/.test(name) && value.prototype) {
      wrapMembers(value.prototype, name)
      wrapMembers(value, name)
    } else {
      binding[name] = wrap(value as (...args: never[]) => unknown, name)
    }
  }
}
