/**
 * Fractional order keys for storyboard panels (the same rule as `key_between` in
 * crdt/storyboard.py; tests/browser/test_order_keys_parity.py checks they agree).
 *
 * A key `d1..dn` over the 62 ASCII-ordered digits below is the fraction sum(di * 62^-i);
 * valid keys have 1-128 digits and do not end in `0`, so comparing keys as strings (`<`)
 * compares the fractions. A new key is drawn at random from a window of 62^3 values at the
 * shortest length with room for twice that window, so two people inserting into the same
 * gap at once rarely draw the same key (equal keys still sort, by panel id).
 */

export const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
export const MAX_KEY_LENGTH = 128
const BASE = BigInt(DIGITS.length)
/** How many keys a new key is drawn from (62^3). */
export const JITTER = DIGITS.length ** 3
const JITTER_BIG = BigInt(JITTER)
const VALUE = new Map<string, bigint>([...DIGITS].map((c, i) => [c, BigInt(i)]))

/** A uniform random integer in [0, n) (n <= 2^32), from the platform's CSPRNG. */
export function randomBelow(n: number): number {
  if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`randomBelow(${n})`)
  const limit = 2 ** 32 - (2 ** 32 % n) // reject the tail so every value is equally likely
  const word = new Uint32Array(1)
  for (;;) {
    crypto.getRandomValues(word)
    if (word[0] < limit) return word[0] % n
  }
}

/** Whether `key` is a fractional order key (1-128 base-62 digits, no trailing 0). */
export function validOrderKey(key: unknown): key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) return false
  if (key[key.length - 1] === '0') return false
  for (const c of key) if (!VALUE.has(c)) return false
  return true
}

/** floor (or ceil, `up`) of key * 62^digits. */
function scaled(key: string, digits: number, up: boolean): bigint {
  let value = 0n
  for (const c of key.slice(0, digits)) value = value * BASE + (VALUE.get(c) ?? 0n)
  if (digits > key.length) value *= BASE ** BigInt(digits - key.length)
  if (up && key.length > digits) value += 1n
  return value
}

/**
 * A random key strictly between `before` (null: 0) and `after` (null: 1); both must be
 * valid keys with `before < after`. Near the low end when appending, near the high end
 * when prepending, around the middle otherwise.
 */
export function keyBetween(
  before: string | null,
  after: string | null,
  randBelow: (n: number) => number = randomBelow,
): string {
  for (const key of [before, after]) {
    if (key !== null && !validOrderKey(key)) throw new RangeError(`not an order key: ${JSON.stringify(key)}`)
  }
  if (before !== null && after !== null && !(before < after)) {
    throw new RangeError(`no key between ${JSON.stringify(before)} and ${JSON.stringify(after)}`)
  }
  let digits = 1
  let low: bigint
  let high: bigint
  let count: bigint
  for (;;) {
    low = (before ? scaled(before, digits, false) : 0n) + 1n
    high = (after ? scaled(after, digits, true) : BASE ** BigInt(digits)) - 1n
    count = high - low + 1n
    if (count >= 2n * JITTER_BIG) break
    digits++
  }
  let value: bigint
  if (after === null) value = low + BigInt(randBelow(JITTER))
  else if (before === null) value = high - BigInt(randBelow(JITTER))
  else value = low + (count - JITTER_BIG) / 2n + BigInt(randBelow(JITTER))
  const out: string[] = []
  for (let i = 0; i < digits; i++) {
    out.push(DIGITS[Number(value % BASE)])
    value /= BASE
  }
  return out.reverse().join('').replace(/0+$/, '')
}
