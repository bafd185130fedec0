/**
 * Calls to the JSON API from the room with the session cookie: every unsafe request
 * carries the CSRF token the page was rendered with, and every refusal becomes an
 * `ApiError` with the server's own message (`{"error": ...}` or ninja's `detail`).
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

let csrfToken = ''

/** The token from the page (`data-csrf` on #room); set once at start. */
export function setCsrfToken(token: string): void {
  csrfToken = token
}

function describe(status: number, body: unknown): string {
  if (body && typeof body === 'object') {
    const { error, detail } = body as { error?: unknown; detail?: unknown }
    if (typeof error === 'string' && error) return error
    if (Array.isArray(detail) && detail.length) {
      return detail
        .map((d: unknown) => {
          const item = d as { msg?: unknown; loc?: unknown }
          const where = Array.isArray(item.loc) ? item.loc.slice(-1).join('') : ''
          return `${where ? `${where}: ` : ''}${String(item.msg ?? 'invalid')}`
        })
        .join('; ')
    }
  }
  if (status === 413) return 'The file is too large.'
  return `The server answered ${status}.`
}

/** Send a request; resolve with the JSON answer, reject with an ApiError. */
export async function apiRequest<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (method !== 'GET') headers['X-CSRFToken'] = csrfToken
  let payload: BodyInit | undefined
  if (body instanceof FormData) payload = body
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  let response: Response
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' })
  } catch {
    throw new ApiError(0, 'The server could not be reached. Check your connection and try again.')
  }
  let data: unknown = null
  try {
    data = await response.json()
  } catch {
    data = null
  }
  if (!response.ok) throw new ApiError(response.status, describe(response.status, data))
  return data as T
}

/** A record as the API returns it (the fields the room uses). */
export interface RecordOut {
  id: string
  canonical: { title: string }
  content_url: string
}
