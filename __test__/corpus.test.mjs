// Real modules that others wrote (../shared/corpus, fetched by `npm run corpus`):
// precompiled, loaded raw, and checked against V8 on the same bytes.
import test from 'ava'
import { Engine, Module, Store, Instance } from '../index.mjs'
import { withCorpus } from './helpers.mjs'

const SMALL = ['fac', 'llhttp', 'md4w-small', 'md4w-fast', 'icepll', 'icebram', 'icemulti', 'icepack']
const kind = { function: 'func', memory: 'memory', table: 'table', global: 'global', tag: 'tag' }

for (const id of SMALL) {
  withCorpus(test, `${id}: raw-loaded module shows the imports and exports V8 sees`, [id], (t, wasm) => {
    const m = Module.deserializeRaw(Engine.default.precompileModule(wasm))
    t.true(m.isRaw)
    const v8 = new WebAssembly.Module(wasm)
    t.deepEqual(
      m.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind })),
      WebAssembly.Module.imports(v8).map((i) => ({ module: i.module, name: i.name, kind: kind[i.kind] })),
    )
    t.deepEqual(
      m.exports.map((e) => ({ name: e.name, kind: e.kind })),
      WebAssembly.Module.exports(v8).map((e) => ({ name: e.name, kind: kind[e.kind] })),
    )
    for (const i of m.imports.filter((i) => i.kind === 'func')) {
      t.true(Array.isArray(i.params) && Array.isArray(i.results), `${i.module}.${i.name} has a full type`)
    }
    const inst = new Instance(new Store(), m, undefined, { defineUnknownImportsAsTraps: true })
    const funcs = Object.keys(inst.exports).filter((k) => typeof inst.exports[k] === 'function')
    t.is(funcs.length, WebAssembly.Module.exports(v8).filter((e) => e.kind === 'function').length)
  })
}

withCorpus(test, 'fac computes 10! as V8 does', ['fac'], (t, wasm) => {
  const ours = new Instance(new Store(), Module.deserializeRaw(Engine.default.precompileModule(wasm))).exports
  const v8 = new WebAssembly.Instance(new WebAssembly.Module(wasm)).exports
  t.is(ours.fac(10), 3628800)
  for (const n of [0, 1, 5, 12]) t.is(ours.fac(n), v8.fac(n))
})

withCorpus(test, 'llhttp: the same calls give the same results as in V8, and an undefined import traps cleanly', ['llhttp'], (t, wasm) => {
  const ours = new Instance(new Store(), Module.deserializeRaw(Engine.default.precompileModule(wasm)), undefined, { defineUnknownImportsAsTraps: true }).exports
  const calls = []
  const v8 = new WebAssembly.Instance(new WebAssembly.Module(wasm), {
    env: new Proxy({}, { get: (_, name) => (...args) => (calls.push(name), 0) }),
  }).exports
  const script = (x) => {
    x._initialize()
    const p = x.llhttp_alloc(0)
    const req = Buffer.from('GET /hello HTTP/1.1\r\nHost: example\r\n\r\n')
    const ptr = x.malloc(req.length)
    new Uint8Array(x.memory.buffer).set(req, ptr)
    return { p, ptr, type: x.llhttp_get_type(p), major: x.llhttp_get_http_major(p), errno: x.llhttp_get_errno(p), len: req.length }
  }
  const a = script(ours)
  const b = script(v8)
  t.deepEqual(a, b)
  v8.llhttp_execute(b.p, b.ptr, b.len)
  t.true(calls.includes('wasm_on_message_begin'), 'V8 run called back into the host')
  const err = t.throws(() => ours.llhttp_execute(a.p, a.ptr, a.len), { code: 'ERR_WASMTIME_HOST' })
  t.regex(err.message, /wasm_on_message_begin/)
  t.regex(err.message, /wasm backtrace/)
  t.is(ours.llhttp_get_type(a.p), b.type, 'the instance still answers after the trap')
})

/** Runs llhttp over `request` with host callbacks that log events; `instantiate(env)` gives exports. */
function llhttpEvents(instantiate, request) {
  const events = []
  let x
  const text = (at, len) => Buffer.from(new Uint8Array(x.memory.buffer, at, len)).toString('latin1')
  const data = (name) => (p, at, len) => (events.push([name, text(at, len)]), 0)
  const note = (name) => (p, ...rest) => (events.push([name, ...rest]), 0)
  x = instantiate({
    env: {
      wasm_on_url: data('url'),
      wasm_on_status: data('status'),
      wasm_on_header_field: data('field'),
      wasm_on_header_value: data('value'),
      wasm_on_body: data('body'),
      wasm_on_headers_complete: note('headers_complete'),
      wasm_on_message_begin: note('message_begin'),
      wasm_on_message_complete: note('message_complete'),
    },
  })
  x._initialize()
  const parser = x.llhttp_alloc(1) // HTTP_REQUEST
  const bytes = Buffer.from(request, 'latin1')
  const ptr = x.malloc(bytes.length)
  new Uint8Array(x.memory.buffer).set(bytes, ptr)
  const rc = x.llhttp_execute(parser, ptr, bytes.length)
  return { rc, method: x.llhttp_get_method(parser), events }
}

withCorpus(test, 'llhttp parses an HTTP request through its env callbacks, as in V8', ['llhttp'], (t, wasm) => {
  const request = 'POST /hello?x=1 HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nworld'
  const module = Module.deserializeRaw(Engine.default.precompileModule(wasm))
  const ours = llhttpEvents((imports) => new Instance(new Store(), module, imports).exports, request)
  const v8 = llhttpEvents((imports) => new WebAssembly.Instance(new WebAssembly.Module(wasm), imports).exports, request)
  t.deepEqual(ours, v8)
  t.is(ours.rc, 0)
  t.deepEqual(
    ours.events.filter(([e]) => ['url', 'field', 'value', 'body'].includes(e)),
    [['url', '/hello?x=1'], ['field', 'Host'], ['value', 'example'], ['field', 'Content-Length'], ['value', '5'], ['field', 'X-Test'], ['value', 'yes'], ['body', 'world']],
  )
  t.is(ours.events.at(-1)[0], 'message_complete')
})

/** Renders markdown with md4w (its own JS glue, condensed), highlighting code blocks. */
function md4wRender(instantiate, markdown) {
  let x
  let out = ''
  const read = (ptrLen) => Buffer.from(new Uint8Array(x.memory.buffer, Number(ptrLen & 0xffffffffn), Number(ptrLen >> 32n))).toString('utf8')
  x = instantiate({
    env: {
      emitChunk: (ptrLen) => void (out += read(ptrLen)),
      emitCodeBlock: (lang, code) => void (out += `<pre data-lang="${read(lang)}">${read(code).toUpperCase()}</pre>`),
    },
  })
  const data = Buffer.from(markdown)
  const ptrLen = x.allocMem(data.length)
  new Uint8Array(x.memory.buffer, Number(ptrLen & 0xffffffffn), data.length).set(data)
  const last = x.render(ptrLen, 0, 512, 1, 0)
  return out + read(last)
}

for (const id of ['md4w-small', 'md4w-fast']) {
  withCorpus(test, `${id} renders Markdown through its env callbacks, as in V8`, [id], (t, wasm) => {
    const md = '# Title\n\nSome *emphasis* and a [link](https://example.com).\n\n```js\nlet x = 1\n```\n\n- a\n- b\n'
    const module = Module.deserializeRaw(Engine.default.precompileModule(wasm))
    const ours = md4wRender((imports) => new Instance(new Store(), module, imports).exports, md)
    const v8 = md4wRender((imports) => new WebAssembly.Instance(new WebAssembly.Module(wasm), imports).exports, md)
    t.is(ours, v8)
    t.regex(ours, /<h1>Title <a class="anchor"[^>]*><\/a><\/h1>/)
    t.regex(ours, /<pre data-lang="js">LET X = 1\n<\/pre>/)
    t.regex(ours, /<li>a<\/li>/)
  })
}
