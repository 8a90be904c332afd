/** A worker of `wasmtime-napi compile`: compiles the files it is sent. */
import { parentPort, workerData, threadId } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync, renameSync, rmSync } from 'node:fs'
import { Engine, type EngineOptions } from './index'
import { digestLine } from './artifact'

const { options, digest } = workerData as { options: EngineOptions; digest: boolean }
const engine = new Engine(options)

/** Writes `path` atomically: a temp name unique per process, worker and write, then a rename. */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`
  try {
    writeFileSync(tmp, data)
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}

parentPort!.on('message', ({ input, output }: { input: string; output: string }) => {
  const t0 = process.hrtime.bigint()
  try {
    const bytes = engine.precompileModule(readFileSync(input))
    writeAtomic(output, bytes)
    if (digest) writeAtomic(`${output}.sha256`, digestLine(bytes, output))
    parentPort!.postMessage({ input, output, bytes: bytes.length, ms: Number(process.hrtime.bigint() - t0) / 1e6 })
  } catch (e) {
    parentPort!.postMessage({ input, output, error: (e as Error).message })
  }
})
