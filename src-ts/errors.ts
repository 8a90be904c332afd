/** Errors thrown by the facade carry a stable `code`, like the native ones. */
export type ErrorCode =
  | 'ERR_WASMTIME_UNALIGNED_BUFFER'
  | 'ERR_WASMTIME_SHARED_BUFFER'
  | 'ERR_WASMTIME_DETACHED_BUFFER'
  | 'ERR_WASMTIME_RESIZABLE_BUFFER'
  | 'ERR_WASMTIME_PINNED_BUFFER'
  | 'ERR_WASMTIME_BUFFER_IN_USE'
  | 'ERR_WASMTIME_INVALID_ARGUMENT'
  | 'ERR_WASMTIME_DESERIALIZE'
  | 'ERR_WASMTIME_COMPILE'
  | 'ERR_WASMTIME_CONFIG'
  | 'ERR_WASMTIME_INSTANTIATE'
  | 'ERR_WASMTIME_LINK'
  | 'ERR_WASMTIME_TRAP'
  | 'ERR_WASMTIME_HOST'
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
