/** A worker of `wasmtime-napi precompile`: compiles the files it is sent. */
import { parentPort, workerData, threadId } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync, renameSync } from 'node:fs'
import { Engine, type EngineOptions } from './index'
import { digestLine } from './artifact'

const { options, digest } = workerData as { options: EngineOptions; digest: boolean }
const engine = new Engine(options)
parentPort!.on('message', ({ input, output }: { input: string; output: string }) => {
  const t0 = process.hrtime.bigint()
  try {
    const bytes = engine.precompileModule(readFileSync(input))
    // Unique per process, worker and write: then an atomic rename.
    const tmp = `${output}.tmp-${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`
    writeFileSync(tmp, bytes)
    renameSync(tmp, output)
    if (digest) writeFileSync(`${output}.sha256`, digestLine(bytes, output))
    parentPort!.postMessage({ input, output, bytes: bytes.length, ms: Number(process.hrtime.bigint() - t0) / 1e6 })
  } catch (e) {
    parentPort!.postMessage({ input, output, error: (e as Error).message })
  }
})
