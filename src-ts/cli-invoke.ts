/**
 * `wasmtime-napi run --invoke`: command-line strings to wasm values, and
 * results printed as wasmtime prints them (Rust's `Display`).
 */
import { UsageError } from './cli-args'

const INT = /^[+-]?(\d+|0[xX][0-9a-fA-F]+)$/
const FLOAT = /^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)$/i

function integer(text: string): bigint | undefined {
  if (!INT.test(text)) return undefined
  const negative = text.startsWith('-')
  const digits = text.replace(/^[+-]/, '')
  const n = BigInt(digits) // BigInt takes decimal and 0x hex
  return negative ? -n : n
}

/** One argument for a parameter of type `type`, or a UsageError that says what is wanted. */
export function parseParam(type: string, text: string, name: string): number | bigint {
  const bad = (what: string) => new UsageError(`--invoke ${name}: '${text}' is not ${what}`)
  switch (type) {
    case 'i32': {
      const n = integer(text)
      // Signed or unsigned 32-bit: 0xffffffff and -1 are the same i32.
      if (n === undefined || n < -(2n ** 31n) || n >= 2n ** 32n) throw bad('an i32 (a whole number, decimal or 0x hex)')
      return Number(BigInt.asIntN(32, n))
    }
    case 'i64': {
      const n = integer(text)
      if (n === undefined || n < -(2n ** 63n) || n >= 2n ** 64n) throw bad('an i64 (a whole number, decimal or 0x hex)')
      return BigInt.asIntN(64, n)
    }
    case 'f32':
    case 'f64': {
      if (!FLOAT.test(text)) throw bad(`an ${type} (a number such as 1.5, 2e-3, inf or nan)`)
      const lower = text.toLowerCase().replace(/^\+/, '')
      const v = /inf/.test(lower) ? (lower.startsWith('-') ? -Infinity : Infinity) : /nan/.test(lower) ? NaN : Number(text)
      return type === 'f32' ? Math.fround(v) : v
    }
    default:
      throw new UsageError(`--invoke ${name}: cannot pass a ${type} parameter from the command line (only i32, i64, f32 and f64)`)
  }
}

/** Writes an exponent-free decimal, as Rust's `Display` for floats does. */
function plainDecimal(s: string): string {
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s)
  if (!m) return s
  const [, sign, first, rest = '', expText] = m
  const exp = Number(expText)
  const digits = first + rest
  if (exp >= 0) {
    const intLen = 1 + exp
    return sign + (digits.length <= intLen ? digits + '0'.repeat(intLen - digits.length) : `${digits.slice(0, intLen)}.${digits.slice(intLen)}`)
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`
}

/** A result as wasmtime prints it: `-1`, `3`, `0.1` (shortest for f32), `inf`, `NaN`. */
export function formatResult(type: string, value: unknown): string {
  if (type === 'f32' || type === 'f64') {
    const v = value as number
    if (Number.isNaN(v)) return 'NaN'
    if (v === Infinity) return 'inf'
    if (v === -Infinity) return '-inf'
    if (Object.is(v, -0)) return '-0'
    let text = String(v)
    if (type === 'f32') {
      // The shortest decimal that reads back as the same f32.
      for (let p = 1; p <= 9; p++) {
        const candidate = Number(v.toPrecision(p))
        if (Math.fround(candidate) === v) {
          text = String(candidate)
          break
        }
      }
    }
    return plainDecimal(text)
  }
  if (value === null || value === undefined) return `<null ${type}>`
  if (typeof value === 'number' || typeof value === 'bigint') return String(value)
  return `<${type}>`
}
