// Public types of wasmtime-napi (the facade; compiled from src-ts/).
export * from './dist/index'
