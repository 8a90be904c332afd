// Module.deserializeRaw: each numbered requirement of the foundation issue.
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import { constants as bufferConstants } from 'node:buffer'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execFileSync } from 'node:child_process'
import { Worker, MessageChannel } from 'node:worker_threads'
import { Engine, Module, Store, Instance, alignedBuffer, readPrecompiled, readPrecompiledSync, stats, pageSize, inspectArtifact } from '../index.mjs'
import { ARITH_WAT, binding, gcUntil, corpusModule, settle, runNode, pagemap, linuxOnly, tempDir } from './helpers.mjs'

const engine = Engine.default
const artifact = engine.precompileModule(ARITH_WAT)

/** A fresh page-aligned copy of `bytes`. */
const aligned = (bytes) => {
  const b = alignedBuffer(bytes.byteLength)
  b.set(bytes)
  return b
}

/**
 * The physical page frame behind `address`, or 0n where the kernel does not
 * tell (frame numbers in /proc/self/pagemap need CAP_SYS_ADMIN).
 */
const frameOf = (address) => pagemap(address, 1)[0] & ((1n << 55n) - 1n)

/**
 * Loads `buf` raw and checks the code runs from its own memory, not a copy:
 * page-aligned, the view detached, and the module working. Elsewhere the image
 * lies inside the buffer. On Linux its pages move to addresses JavaScript never
 * saw (so a write still in flight into the buffer cannot reach the module):
 * the image lies elsewhere, on the very physical pages the buffer had.
 */
const assertRunsInPlace = (t, buf) => {
  const base = binding.addressOf(buf)
  t.is(base % pageSize, 0)
  const linux = process.platform === 'linux'
  const frame = linux ? frameOf(base) : 0n
  const m = Module.deserializeRaw(buf)
  const [start, end] = m.imageRange()
  t.is(end - start, artifact.length)
  if (!linux) {
    t.true(start >= base && end <= base + artifact.length, 'image range lies inside the original memory')
  } else {
    t.true(start >= base + artifact.length || end <= base, 'the image moved off the addresses JavaScript saw')
    if (frame !== 0n) t.is(frameOf(start), frame, 'moved, not copied: the same physical page')
    else t.log('physical frames are hidden here (no CAP_SYS_ADMIN): the no-copy check is skipped')
  }
  t.is(buf.byteLength, 0, 'the caller\'s view is detached: the module owns the bytes now')
  t.is(new Instance(new Store(), m).exports.add(40, 2), 42)
}

test.serial('1. native code runs from the caller\'s buffer, not a copy', async (t) => {
  const file = join(tempDir('raw'), 'arith.cwasm')
  writeFileSync(file, artifact)
  for (const buf of [aligned(artifact), readPrecompiledSync(file), await readPrecompiled(file)]) assertRunsInPlace(t, buf)
  const copied = Module.deserialize(artifact)
  const [cs] = copied.imageRange()
  const base = binding.addressOf(artifact)
  t.false(cs >= base && cs < base + artifact.length, 'the copying loader does copy (the check can fail)')
})

test.serial('2. buffers the package did not allocate are refused before anything is touched', (t) => {
  const plainAligned = (() => {
    const ab = new ArrayBuffer(artifact.length + pageSize)
    const v = new Uint8Array(ab, (pageSize - (binding.addressOf(new Uint8Array(ab)) % pageSize)) % pageSize, artifact.length)
    v.set(artifact)
    return v
  })()
  const candidates = [
    Buffer.from(artifact), // a fresh allocation
    Buffer.concat([Buffer.alloc(16), artifact]).subarray(16), // a slice
    plainAligned, // page-aligned, but V8's memory, not the package's
  ]
  const small = engine.precompileModule('(module)')
  candidates.push(Buffer.from(small)) // a pool slice
  for (const buf of candidates) {
    const err = t.throws(() => Module.deserializeRaw(buf), { instanceOf: TypeError, code: 'ERR_WASMTIME_FOREIGN_BUFFER' })
    t.regex(err.message, /readPrecompiled/)
    t.regex(err.message, /alignedBuffer/)
    t.regex(err.message, /Module\.deserialize\(\)/)
    buf.fill(0) // would fault if any page had been made read+exec
  }
  const offset = aligned(Buffer.concat([Buffer.alloc(8), artifact])).subarray(8)
  t.throws(() => Module.deserializeRaw(offset), { instanceOf: TypeError, code: 'ERR_WASMTIME_UNALIGNED_BUFFER' })
  offset.fill(0)
  const sab = new SharedArrayBuffer(artifact.length)
  t.throws(() => Module.deserializeRaw(new Uint8Array(sab)), { instanceOf: TypeError, code: 'ERR_WASMTIME_SHARED_BUFFER' })
  t.throws(() => Module.deserializeRaw('nope'), { instanceOf: TypeError, code: 'ERR_WASMTIME_INVALID_ARGUMENT' })
})

test.serial('2b. on a Pulley engine a view anywhere in a package buffer loads, data segments included', (t) => {
  const pulley = new Engine({ target: 'pulley64' })
  const art = pulley.precompileModule(ARITH_WAT)
  const unaligned = aligned(Buffer.concat([Buffer.alloc(24), art])).subarray(24)
  t.not(binding.addressOf(unaligned) % pageSize, 0)
  const m = Module.deserializeRaw(unaligned, pulley)
  const { exports: x } = new Instance(new Store(pulley), m)
  t.is(x.add(2, 2), 4)
  t.is(x.memory.read(1024, 25).toString(), 'hello from a data segment')
})

test.serial('3. the bytes live while any holder runs code, and are freed after', async (t) => {
  await settle()
  const baseline = stats()
  let store = new Store()
  let add
  ;(() => {
    const m = Module.deserializeRaw(aligned(artifact))
    add = new Instance(store, m).exports.add
  })()
  t.is(stats().pinnedBytes, baseline.pinnedBytes + artifact.length)
  for (let i = 0; i < 30; i++) {
    globalThis.gc()
    await new Promise((r) => setImmediate(r))
    t.is(add(i, 1), i + 1)
  }
  t.is(stats().pinnedBytes, baseline.pinnedBytes + artifact.length, 'held through 30 collections while an instance lives')
  add = undefined
  store = undefined
  t.true(await gcUntil(() => stats().pinnedBytes === baseline.pinnedBytes), 'freed once the store is gone')
})

test.serial('4. the same bytes cannot be loaded twice: the Module is reused instead', async (t) => {
  await settle()
  const before = stats().pinnedRegions
  const buf = aligned(artifact)
  const alias = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  const a = Module.deserializeRaw(buf)
  t.throws(() => Module.deserializeRaw(buf), { instanceOf: TypeError, code: 'ERR_WASMTIME_DETACHED_BUFFER', message: /reuse that Module/ })
  t.throws(() => Module.deserializeRaw(alias), { code: 'ERR_WASMTIME_DETACHED_BUFFER' })
  t.throws(() => Module.deserializeRaw(buf, new Engine()), { code: 'ERR_WASMTIME_DETACHED_BUFFER' })
  t.is(stats().pinnedRegions, before + 1)
  const store = new Store()
  const x = new Instance(store, a).exports
  t.is(new Instance(new Store(), a).exports.add(1, 2), 3, 'one module, many stores')
  a[Symbol.dispose]()
  t.is(stats().pinnedRegions, before + 1, 'still held: the store runs it')
  t.is(x.add(3, 4), 7)
  store.dispose()
  t.true(await gcUntil(() => stats().pinnedRegions === before), 'released when the last holder went')
})

test.serial('5. after the load, nothing JavaScript does to the buffer reaches the code', async (t) => {
  const buf = aligned(artifact)
  const ab = buf.buffer
  const m = Module.deserializeRaw(buf)
  const x = new Instance(new Store(), m).exports
  const attempts = [
    () => buf.fill(0),
    () => new Uint8Array(ab).fill(0xcc),
    () => structuredClone(ab, { transfer: [ab] }),
    () => new MessageChannel().port1.postMessage(buf, [ab]),
    () => ab.transfer?.(),
    () => ab.transferToFixedLength?.(),
    () => ab.resize?.(0),
  ]
  for (const attempt of attempts) {
    try {
      attempt()
    } catch {}
    t.is(buf.byteLength, 0)
    t.is(x.add(1, 1), 2)
  }
  const stream = new ReadableStream({ type: 'bytes', pull(c) { c.byobRequest?.respond(0) } })
  try {
    await stream.getReader({ mode: 'byob' }).read(new Uint8Array(ab))
  } catch {}
  globalThis.gc()
  t.is(x.add(2, 2), 4)
})

test.serial('6. workers that exit or are terminated with raw modules alive leave the process healthy, and release the code unless a view of their memory is left', async (t) => {
  await settle()
  const before = stats().pinnedRegions
  const runs = 50
  const artifacts = { native: artifact, pulley: new Engine({ target: 'pulley64' }).precompileModule(ARITH_WAT) }
  let views = 0
  for (let i = 0; i < runs; i++) {
    const mode = i % 2 === 0 ? 'exit' : 'wait'
    const view = i % 5 === 0
    if (view) views++
    const w = new Worker(new URL('./fixtures/raw-worker.mjs', import.meta.url), {
      workerData: { artifact: i % 10 === 9 ? artifacts.pulley : artifacts.native, n: i, mode, pulley: i % 10 === 9, view },
    })
    const exited = new Promise((r) => w.once('exit', r))
    const answer = await new Promise((resolve, reject) => {
      w.once('message', resolve)
      w.once('error', reject)
    })
    t.is(answer, i + 1)
    if (mode === 'wait') await w.terminate()
    t.is(await exited, mode === 'wait' ? 1 : 0)
  }
  const { exports: x } = new Instance(new Store(), Module.deserializeRaw(aligned(artifact)))
  t.is(x.add(1, 2), 3, 'the main thread still runs raw-loaded code')
  // Workers that held a view of linear memory at exit keep their store and
  // its code for good (see the README's "Buffers that leave their thread").
  t.true(await gcUntil(() => stats().pinnedRegions <= before + 1 + views), `worker regions were released (${stats().pinnedRegions - before} left, ${views} held by views)`)
})

const dataSegmentModules = ['llhttp', 'md4w-small', 'icepll'].map((id) => [id, corpusModule(id)])
const haveDataSegmentModules = dataSegmentModules.every(([, b]) => b)
;(haveDataSegmentModules ? test.serial : test.serial.skip)(`7. real modules with data segments instantiate from raw buffers${haveDataSegmentModules ? '' : ' (corpus missing: run npm run corpus)'}`, (t) => {
  const present = dataSegmentModules
  for (const [id, wasm] of present) {
    const m = Module.deserializeRaw(engine.precompileModule(wasm))
    const { exports: x } = new Instance(new Store(), m, undefined, { defineUnknownImportsAsTraps: true })
    const ours = Buffer.from(x.memory.buffer)
    const v8 = Buffer.from(
      new WebAssembly.Instance(
        new WebAssembly.Module(wasm),
        Object.fromEntries(WebAssembly.Module.imports(new WebAssembly.Module(wasm)).map((i) => [i.module, new Proxy({}, { get: () => () => 0 })])),
      ).exports.memory.buffer,
    )
    t.is(ours.length, v8.length, `${id}: same initial memory size`)
    t.true(ours.equals(v8), `${id}: memory initialised from data segments exactly as V8 does`)
  }
})

test.serial('8. bad input throws a coded error and never crashes', async (t) => {
  await settle()
  const file = join(tempDir('raw'), 'bad.cwasm')
  const before = stats().pinnedRegions
  const pulley = new Engine({ target: 'pulley64' })
  const loaders = [
    ['raw', (b, e) => Module.deserializeRaw(aligned(b), e)],
    ['copy', (b, e) => Module.deserialize(b, e)],
    ['file', (b, e) => (writeFileSync(file, b), Module.deserializeFile(file, e))],
  ]
  const bad = [
    ['empty', Buffer.alloc(0)],
    ['plain wasm', Buffer.from('0061736d0100000001070160027f7f017f', 'hex')],
    ['random', randomBytes(64 * 1024)],
    ['corrupted header', (() => { const b = Buffer.from(artifact); b.fill(0xab, 0, 16); return b })()],
    ['pulley artifact on a native engine', pulley.precompileModule(ARITH_WAT)],
    ['native artifact on a pulley engine', artifact, pulley],
  ]
  const prefixes = new Set([1, 4, 16, 52, 63, 64, 65, 128, 4095, 4096, 4097])
  for (let i = 0; i < 40; i++) prefixes.add(Math.floor((artifact.length * i) / 40))
  for (const n of prefixes) if (n < artifact.length) bad.push([`prefix ${n}`, artifact.subarray(0, n)])
  for (const [what, bytes, on] of bad) {
    for (const [how, load] of loaders) {
      const err = t.throws(() => load(bytes, on), undefined, `${what} via ${how}`)
      t.true(['ERR_WASMTIME_DESERIALIZE', 'ERR_WASMTIME_IO'].includes(err?.code), `${what} via ${how}: ${err?.code} ${err?.message}`)
    }
  }
  t.is(stats().pinnedRegions, before, 'failed loads pin nothing')
  t.is(new Instance(new Store(), Module.deserializeRaw(aligned(artifact))).exports.add(1, 1), 2)
})

test.serial('8a. artifacts of another opt level or unwind setting are compatible, as wasmtime decides', (t) => {
  for (const o of [{ optLevel: 'none' }, { nativeUnwindInfo: false }]) {
    const m = Module.deserializeRaw(new Engine(o).precompileModule(ARITH_WAT))
    t.is(new Instance(new Store(), m).exports.add(20, 22), 42, JSON.stringify(o))
  }
})

test.serial('8b. a panic in the native layer becomes a JS error', (t) => {
  const err = t.throws(() => binding.testPanic(), { code: 'ERR_WASMTIME_PANIC' })
  t.regex(err.message, /deliberate/)
})

test.serial('9. disposing a Module releases only its own hold', async (t) => {
  await settle()
  const before = stats().pinnedRegions
  const buf = aligned(artifact)
  const m = Module.deserializeRaw(buf)
  const store = new Store()
  const x = new Instance(store, m).exports
  m[Symbol.dispose]()
  t.throws(() => m.exports, { code: 'ERR_WASMTIME_MODULE_DISPOSED' })
  t.is(stats().pinnedRegions, before + 1, 'the store still runs the code, so it stays pinned')
  t.is(x.add(2, 2), 4)
  m[Symbol.dispose]() // idempotent
  store[Symbol.dispose]()
  t.is(stats().pinnedRegions, before)
})

test.serial('9b. a collected Module releases its hold through the FinalizationRegistry', async (t) => {
  await settle()
  const before = stats().pinnedRegions
  ;(() => {
    Module.deserializeRaw(aligned(artifact))
  })()
  t.is(stats().pinnedRegions, before + 1)
  t.true(await gcUntil(() => stats().pinnedRegions === before))
})

test('readPrecompiled checks an SRI integrity string the caller holds, even when artifact and digest file were swapped together', async (t) => {
  const dir = tempDir('sri')
  const good = Engine.default.precompileModule(ARITH_WAT)
  const evil = Engine.default.precompileModule('(module (func (export "add") (param i32 i32) (result i32) i32.const -1))')
  const sri = (alg, bytes) => `${alg}-${createHash(alg).update(bytes).digest('base64')}`
  const path = join(dir, 'app.cwasm')
  writeFileSync(path, good)
  for (const alg of ['sha256', 'sha384', 'sha512']) {
    const m = Module.deserializeRaw(await readPrecompiled(path, { integrity: sri(alg, good) }))
    t.is(new Instance(new Store(), m).exports.add(2, 3), 5)
  }
  // As in browsers, the strongest algorithm listed decides.
  t.truthy(readPrecompiledSync(path, { integrity: `sha256-AAAA ${sri('sha512', good)}` }))
  t.throws(() => readPrecompiledSync(path, { integrity: `${sri('sha256', good)} sha512-AAAA` }), { code: 'ERR_WASMTIME_INTEGRITY' })
  // An attacker who replaces the artifact and its .sha256 file together passes
  // `verify`, not `integrity`.
  writeFileSync(path, evil)
  writeFileSync(`${path}.sha256`, `${createHash('sha256').update(evil).digest('hex')}  app.cwasm\n`)
  t.truthy(readPrecompiledSync(path, { verify: true }))
  await t.throwsAsync(() => readPrecompiled(path, { verify: true, integrity: sri('sha256', good) }), { code: 'ERR_WASMTIME_INTEGRITY', message: /do not load it/ })
  t.throws(() => readPrecompiledSync(path, { integrity: sri('sha384', good) }), { code: 'ERR_WASMTIME_INTEGRITY' })
  for (const bad of ['md5-AAAA', '', 'sha256', 42, null]) {
    t.throws(() => readPrecompiledSync(path, { integrity: bad }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', instanceOf: TypeError }, String(bad))
  }
  t.throws(() => readPrecompiledSync(path, { integrty: 'x' }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /unknown option 'integrty'/ })
})

test('readPrecompiled({ map: true }) maps the file: the code runs from the mapping, and writes through the Buffer stay in the process', async (t) => {
  const file = join(tempDir('raw'), 'arith.cwasm')
  writeFileSync(file, artifact)
  for (const buf of [readPrecompiledSync(file, { map: true }), await readPrecompiled(file, { map: true, integrity: `sha256-${createHash('sha256').update(artifact).digest('base64')}` })]) {
    t.is(buf.byteLength, artifact.length)
    t.true(buf.equals(artifact))
    assertRunsInPlace(t, buf)
  }
  // Private: what JavaScript writes before the load never reaches the file.
  const mapped = readPrecompiledSync(file, { map: true })
  mapped.fill(0)
  t.true(readFileSync(file).equals(artifact))
  t.throws(() => Module.deserializeRaw(mapped), { code: 'ERR_WASMTIME_DESERIALIZE' })
  t.throws(() => readPrecompiledSync(join(tmpdir(), 'no-such-artifact.cwasm'), { map: true }), { code: 'ERR_WASMTIME_IO', message: /cannot map/ })
  t.throws(() => readPrecompiledSync(file, { mapped: true }), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', message: /unknown option 'mapped'/ })
  t.throws(() => readPrecompiledSync(tmpdir(), { map: true }), { code: 'ERR_WASMTIME_IO', message: /not a regular file/ })
  // More than this Node's Buffers can hold is refused before anything is made
  // (Node 20 aborted on a double free there).
  t.throws(() => alignedBuffer(bufferConstants.MAX_LENGTH + 1), { instanceOf: RangeError, code: 'ERR_WASMTIME_OUT_OF_MEMORY' })
  const empty = join(tempDir('raw'), 'empty.cwasm')
  writeFileSync(empty, '')
  t.is(readPrecompiledSync(empty, { map: true }).byteLength, 0)
})

test('the readers take regular files only: a FIFO, a directory or a device is a coded error at once, never a wait', async (t) => {
  const dir = tempDir('raw')
  const others = [dir, join(dir, 'missing.cwasm')]
  if (process.platform !== 'win32') {
    const fifo = join(dir, 'artifact.fifo')
    execFileSync('mkfifo', [fifo]) // no writer: opening it to read would block
    others.push(fifo, '/dev/zero')
  }
  for (const path of others) {
    for (const options of [{}, { map: true }]) {
      t.throws(() => readPrecompiledSync(path, options), { code: 'ERR_WASMTIME_IO' }, path)
      await t.throwsAsync(readPrecompiled(path, options), { code: 'ERR_WASMTIME_IO' }, path)
    }
  }
})

// The copying reader asks Linux for transparent huge pages on artifacts of
// 2 MiB and more (fewer faults on the read, one page-table entry per 2 MiB for
// the mprotect of .text). `hg` in smaps is the MADV_HUGEPAGE flag: whether
// the kernel then has huge pages at hand is its business, the request is ours.
const thp = process.platform === 'linux' && existsSync('/sys/kernel/mm/transparent_hugepage/enabled')
;(thp ? test : test.skip)('readPrecompiled puts artifacts of 2 MiB and more on 2 MiB boundaries, asks for huge pages, and the code runs there; WASMTIME_NAPI_HUGE_PAGES=0 turns it off', async (t) => {
  const big = engine.precompileModule(`(module (memory (export "memory") 64) (data (i32.const 0) "${'a'.repeat(3 << 20)}")
    (func (export "at") (param i32) (result i32) local.get 0 i32.load8_u))`)
  t.true(big.length >= 3 << 20)
  const file = join(tempDir('raw'), 'big.cwasm')
  writeFileSync(file, big)
  const child = `
    const { readPrecompiledSync, Module, Store, Instance } = require(${JSON.stringify(fileURLToPath(new URL('..', import.meta.url)))})
    const binding = require(${JSON.stringify(fileURLToPath(new URL('../binding.js', import.meta.url)))})
    const { readFileSync } = require('node:fs')
    const buf = readPrecompiledSync(${JSON.stringify(file)})
    const base = binding.addressOf(buf)
    const smaps = readFileSync('/proc/self/smaps', 'utf8').split(/\\n(?=[0-9a-f]+-)/)
    const vma = smaps.find((v) => parseInt(v, 16) === base) ?? ''
    const flags = (/VmFlags:(.*)/.exec(vma)?.[1] ?? '').trim().split(' ')
    const at = new Instance(new Store(), Module.deserializeRaw(buf)).exports.at
    console.log(JSON.stringify({ aligned2M: base % (2 << 20) === 0, hg: flags.includes('hg'), found: vma !== '', byte: at(3 << 19) }))`
  const on = await runNode(['-e', child])
  t.is(on.signal, null, on.stderr)
  t.deepEqual(JSON.parse(on.stdout), { aligned2M: true, hg: true, found: true, byte: 97 })
  const off = await runNode(['-e', child], { env: { WASMTIME_NAPI_HUGE_PAGES: '0' } })
  t.is(off.signal, null, off.stderr)
  const o = JSON.parse(off.stdout)
  t.deepEqual([o.hg, o.found, o.byte], [false, true, 97])
})

// A write JavaScript started into the buffer (here an fs.read pending on a
// pipe) and that completes after deserializeRaw took the buffer over must not
// reach the module: not its data segment, not its unwind information, not its
// code. Before the pages moved, the data segment read "EVIL..." and an
// overwritten .eh_frame crashed the process at the next unwind.
linuxOnly('a write into the buffer still in flight when deserializeRaw takes it over lands nowhere the module reads', async (t) => {
  const dir = tempDir('raw')
  const child = `
    const { Engine, Module, Store, Instance } = require(${JSON.stringify(fileURLToPath(new URL('..', import.meta.url)))})
    const fs = require('node:fs')
    const { execFileSync } = require('node:child_process')
    const WAT = '(module (memory (export "m") 1) (data (i32.const 0) "GOOD-DATA-SEGMENT") (func (export "f") (result i32) i32.const 42))'
    ;(async () => {
      const out = []
      for (const where of ['data', 'start', 'every page']) {
        const buf = Engine.default.precompileModule(WAT)
        const fifo = ${JSON.stringify(dir)} + '/' + out.length + '.fifo'
        execFileSync('mkfifo', [fifo])
        const w = fs.openSync(fifo, 'r+')
        const r = fs.openSync(fifo, 'r')
        const offsets = where === 'data' ? [buf.indexOf('GOOD-DATA-SEGMENT')] : where === 'start' ? [0] : Array.from({ length: buf.length >> 12 }, (_, i) => i << 12)
        const pending = offsets.map((o) => new Promise((res) => fs.read(r, buf, o, 17, null, (e, n) => res(e ? e.code : n))))
        const m = Module.deserializeRaw(buf)
        fs.writeSync(w, 'EVIL!EVIL!EVIL!EV'.repeat(offsets.length))
        await Promise.all(pending)
        const x = new Instance(new Store(), m).exports
        out.push([where, x.f(), x.m.read(0, 17).toString()])
      }
      console.log(JSON.stringify(out))
    })()`
  const r = await runNode(['-e', child])
  t.is(r.signal, null, r.stderr)
  t.is(r.code, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout), [['data', 42, 'GOOD-DATA-SEGMENT'], ['start', 42, 'GOOD-DATA-SEGMENT'], ['every page', 42, 'GOOD-DATA-SEGMENT']])
})

test('inspectArtifact reads any Uint8Array in Rust: kind, version, target, flags, sections', (t) => {
  const art = Engine.default.precompileModule(ARITH_WAT)
  const copy = new Uint8Array(art.length + 3)
  copy.set(art, 3)
  const info = inspectArtifact(copy.subarray(3))
  t.is(info.kind, 'module')
  t.is(info.wasmtimeVersion, '48') // wasmtime records its major version
  t.is(info.target, 'x86_64-unknown-linux-gnu')
  t.is(info.machine, 62)
  t.true(info.sections.some((s) => s.name === '.text' && s.size > 0))
  t.is(typeof info.sharedFlags.opt_level, 'string')
  t.true(Object.values(info.isaFlags).every((v) => ['string', 'number', 'boolean'].includes(typeof v)))
  t.deepEqual(inspectArtifact(Engine.default.precompileModule(ARITH_WAT)), info)
  t.throws(() => inspectArtifact(Buffer.from(Engine.default.precompileModule(ARITH_WAT).subarray(0, 200))), { code: 'ERR_WASMTIME_DESERIALIZE' })
  t.throws(() => inspectArtifact(new Uint16Array(8)), { code: 'ERR_WASMTIME_INVALID_ARGUMENT', instanceOf: TypeError })
  t.throws(() => inspectArtifact(new Module(ARITH_WAT).serialize().subarray(0, 0)), { code: 'ERR_WASMTIME_DESERIALIZE', message: /no ELF header/ })
})
