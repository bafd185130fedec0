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
