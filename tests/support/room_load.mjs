#!/usr/bin/env node
/**
 * How fast the project room page becomes usable, measured in the system Chromium with
 * playwright-core (frontend/node_modules). Run by tests/support/room_load.py:
 *
 *   node room_load.mjs '<json config>'
 *
 * config: { base, project, document?, username, password, chromium, needle, markers: [[cold, warm], ...] }
 *
 * Signs in once, then for each pair of markers opens a fresh browser context (an empty
 * HTTP cache, the session cookie only) and loads the room twice: cold, then warm (the
 * second navigation of the same context). Each load waits until the script editor shows
 * `needle` (the stored script's content), types the marker into it as a person would
 * (keyboard events to the focused editor) and takes, from the page's own clock (0 =
 * navigation start):
 *   usable     when the first typed character reached the script's Y.Text
 *   content    when the script's Y.Text first held `needle` (what the editor shows)
 *   editor     when the editor existed (window.troupe set and the module run)
 *   start, editorMark  the page's own `troupe-start` (the entry's code arrived and ran
 *              its imports) and `troupe-editor` (the editor created) marks
 *   focus, key, harness  when the focus and the first key event reached the page, and
 *              when the harness learnt the editor was ready (its own reaction time)
 *   docSynced  per document, when its socket first synced
 *   resources, resourcesAfter  what ended before `usable` (counted) and after it
 *   synced     the page's own `troupe-interactive` mark (every document synced)
 *   fcp        first contentful paint; domContentLoaded; response (the HTML's responseEnd)
 *   bytes      the document's plus every resource's transferSize (headers included, 0 for
 *              a cache hit) that ended before `usable`; websocket traffic is not counted
 * Between loads it waits until the connection indicator says every change is stored.
 * Prints ONE JSON line: { ok: true, runs: [{ cold, warm }] } or { ok: false, error }.
 */
import { chromium, CHROMIUM_FLAGS } from './chromium.mjs'

const WAIT_MS = 15_000

/** Runs in the page before any of its scripts: notes when the editor and its text arrive. */
function hook(needle) {
  const t = { editorAt: null, contentAt: null, typedAt: null, focusAt: null, keyAt: null, needle }
  t.ready = new Promise((resolve) => (t.resolveReady = resolve))
  window.__roomLoad = t
  // When the focus and the first key event reached the page.
  document.addEventListener('focusin', () => (t.focusAt ??= performance.now()), true)
  document.addEventListener('beforeinput', () => (t.keyAt ??= performance.now()), true)
  t.docSynced = {}
  const watch = (api) => {
    for (const [name, doc] of Object.entries(api?.docs ?? {})) {
      doc.onChange(() => {
        if (doc.synced) t.docSynced[name] ??= performance.now()
      })
    }
    const live = api && api.docs && api.docs.script
    if (!live) return
    if (t.editorAt === null && api.editor) t.editorAt = performance.now()
    const ytext = live.doc.getText('content')
    const check = () => {
      if (t.contentAt !== null || !ytext.toString().includes(t.needle)) return
      const content = document.querySelector('#editor .cm-content')
      if (!content) return
      t.contentAt = performance.now()
      // Focus the editor as a click would, the moment it shows the script: the harness
      // then only sends the keys (no round trips of its own in the figure).
      content.focus()
      t.resolveReady()
    }
    check()
    ytext.observe((_event, tr) => {
      // Nothing local happens on a fresh page until the measurement types.
      if (tr.local && t.typedAt === null) t.typedAt = performance.now()
      check()
    })
  }
  // main.ts sets window.troupe, then opens the documents and the editor in the same task.
  Object.defineProperty(window, 'troupe', {
    configurable: true,
    set(api) {
      Object.defineProperty(window, 'troupe', { value: api, writable: true, configurable: true })
      queueMicrotask(() => watch(api))
    },
    get() {
      return undefined
    },
  })
}

async function load(page, url, marker) {
  await page.goto(url, { waitUntil: 'commit' })
  // Resolves (no polling) once the editor shows the stored script and has the focus.
  const origin = await page.evaluate(async () => {
    await window.__roomLoad.ready
    return performance.timeOrigin
  })
  const harnessAt = Date.now() - origin
  await page.keyboard.type(marker)
  await page.waitForFunction(
    (m) => window.troupe.docs.script.doc.getText('content').toString().includes(m) && window.__roomLoad.typedAt !== null,
    marker,
    { timeout: WAIT_MS },
  )
  const figures = await page.evaluate(() => {
    const t = window.__roomLoad
    const nav = performance.getEntriesByType('navigation')[0]
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]
    const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null
    const resources = performance
      .getEntriesByType('resource')
      .filter((r) => r.responseEnd <= t.typedAt)
      .map((r) => ({
        path: new URL(r.name).pathname,
        transfer: r.transferSize,
        encoded: r.encodedBodySize,
        decoded: r.decodedBodySize,
        end: Math.round(r.responseEnd),
      }))
    const after = performance
      .getEntriesByType('resource')
      .filter((r) => r.responseEnd > t.typedAt)
      .map((r) => ({ path: new URL(r.name).pathname, transfer: r.transferSize, end: Math.round(r.responseEnd) }))
    return {
      usable: t.typedAt,
      resourcesAfter: after,
      content: t.contentAt,
      editor: t.editorAt,
      start: mark('troupe-start'),
      editorMark: mark('troupe-editor'),
      focus: t.focusAt,
      key: t.keyAt,
      fcp: fcp ? fcp.startTime : null,
      domContentLoaded: nav.domContentLoadedEventEnd,
      response: nav.responseEnd,
      documentBytes: nav.transferSize,
      bytes: nav.transferSize + resources.reduce((n, r) => n + r.transfer, 0),
      resources,
    }
  })
  // Every change stored before the next navigation (no unsaved-changes prompt).
  await page.waitForFunction(
    () => {
      const c = document.querySelector('#connection')
      return c.dataset.state === 'synced' && c.dataset.pending === '0'
    },
    null,
    { timeout: WAIT_MS },
  )
  figures.docSynced = await page.evaluate(() => window.__roomLoad.docSynced)
  figures.synced = await page.evaluate(() => performance.getEntriesByName('troupe-interactive')[0]?.startTime ?? null)
  figures.harness = harnessAt
  figures.marker = marker
  figures.text = await page.evaluate(() => window.troupe.docs.script.doc.getText('content').toString())
  return figures
}

const config = JSON.parse(process.argv[2] ?? '{}')
const errors = []
let browser
try {
  browser = await chromium.launch({ executablePath: config.chromium, args: CHROMIUM_FLAGS, timeout: 30_000 })
  const login = await browser.newContext()
  const page = await login.newPage()
  await page.goto(`${config.base}/accounts/login/?next=/projects/`)
  await page.fill('#id_username', config.username)
  await page.fill('#id_password', config.password)
  await Promise.all([
    page.waitForURL((url) => url.pathname === '/projects/', { timeout: WAIT_MS }),
    page.click('button[type=submit]'),
  ])
  const storageState = await login.storageState()
  await login.close()
  const path = config.document
    ? `/p/${encodeURIComponent(config.project)}/d/${encodeURIComponent(config.document)}`
    : `/p/${encodeURIComponent(config.project)}/`
  const url = `${config.base}${path}`
  const runs = []
  for (const [cold, warm] of config.markers) {
    const context = await browser.newContext({ storageState, viewport: { width: 1280, height: 800 } })
    await context.addInitScript(hook, config.needle)
    const p = await context.newPage()
    const first = errors.length
    p.on('pageerror', (e) => errors.push(String(e && e.message ? e.message : e)))
    p.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    p.on('dialog', (d) => d.accept())
    const run = { cold: await load(p, url, cold) }
    run.warm = await load(p, url, warm)
    run.errors = errors.slice(first)
    runs.push(run)
    await context.close()
  }
  process.stdout.write(JSON.stringify({ ok: true, runs }) + '\n')
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e), pageErrors: errors }) + '\n')
} finally {
  await browser?.close().catch(() => {})
}
process.exit(0)
