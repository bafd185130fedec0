/**
 * Reconnect delays shared by every socket of the app (documents, notifications): small
 * and free of dependencies so the bundle of every page can use it.
 */

export const BASE_DELAY_MS = 250
export const MAX_DELAY_MS = 10_000

/** "Equal jitter": half the exponential delay plus a random share of the other half. */
export function jitteredDelay(
  attempt: number,
  minimum = 0,
  baseMs = BASE_DELAY_MS,
  maxMs = MAX_DELAY_MS,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 10))
  return Math.max(minimum, cap / 2 + Math.random() * (cap / 2))
}

/**
 * The delay before a socket's next attempt. With a minimum (the server said 1013 "try
 * again later", or 4429) the windows start at [minimum, 2 x minimum] and grow from there:
 * clients refused together draw different delays instead of all coming back together
 * after exactly the minimum.
 */
export function retryDelay(attempt: number, minimum = 0): number {
  return minimum > 0 ? jitteredDelay(attempt, minimum, 2 * minimum) : jitteredDelay(attempt)
}
