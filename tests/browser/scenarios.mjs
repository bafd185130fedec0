#!/usr/bin/env node
/**
 * Browser scenarios for the project room, driven with playwright-core and the system
 * Chromium. Run by tests/browser/test_room.py:
 *
 *   node scenarios.mjs <scenario> '<json config>'
 *
 * config: { base, project, chromium, artifacts, users: { name: { username, password } }, ... }
 * The script waits for what the scenario needs (each wait bounded), then prints ONE JSON
 * line on stdout with what it observed: { ok: true, ...observations } or
 * { ok: false, error, ...observations so far }. pytest asserts on that object.
 */
import { createInterface } from 'node:readline'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, CHROMIUM_FLAGS } from '../support/chromium.mjs'

const WAIT_MS = 10_000

const [scenarioName, rawConfig] = process.argv.slice(2)
const config = JSON.parse(rawConfig ?? '{}')
const observed = {}

// ---------------------------------------------------------------- helpers

const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

/** Ask the pytest side to do something (e.g. restart the server) and wait until it has. */
async function ask(event) {
  process.stdout.write(JSON.stringify({ event }) + '\n')
  const { value, done } = await stdinLines.next()
  if (done || value.trim() !== 'done') throw new Error(`pytest did not confirm ${event}: ${value}`)
}

async function signIn(browser, user, { viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e && e.message ? e.message : e)))
  page.on('dialog', (d) => d.accept())
  const next = `/p/${config.project}/`
  await page.goto(`${config.base}/accounts/login/?next=${encodeURIComponent(next)}`)
  await page.fill('#id_username', user.username)
  await page.fill('#id_password', user.password)
  await Promise.all([
    page.waitForURL((url) => url.pathname === next, { timeout: WAIT_MS }),
    page.click('button[type=submit]'),
  ])
  await waitReady(page)
  return { context, page, errors }
}

async function waitReady(page) {
  await page.waitForSelector('#room[data-ready="true"]', { timeout: WAIT_MS })
}

const editorText = (page) => page.evaluate(() => window.troupe.editor.state.doc.toString())

async function waitEditorContains(page, needles) {
  await page.waitForFunction(
    (ns) => ns.every((n) => window.troupe.editor.state.doc.toString().includes(n)),
    needles,
    { timeout: WAIT_MS },
  )
}

/** Type at the end of the script (through the keyboard, like a person). */
async function typeAtEnd(page, text) {
  await page.click('.cm-content')
  await page.keyboard.press('Control+End')
  await page.keyboard.type(text)
}

const cursorNames = (page) =>
  page.$$eval('.cm-ySelectionInfo', (els) => els.map((e) => e.textContent))

const presenceNames = (page) =>
  page.$$eval('#presence .avatar-name', (els) => els.map((e) => e.textContent))

const connection = (page) =>
  page.$eval('#connection', (e) => ({
    state: e.dataset.state,
    pending: Number(e.dataset.pending),
    text: e.textContent.trim(),
  }))

const panelsOf = (page) =>
  page.$$eval('#panels > li.panel', (cards) =>
    cards.map((c) => ({
      id: c.dataset.panelId,
      action: c.querySelector('textarea.panel-action').value,
      dialogue: c.querySelector('textarea.panel-dialogue').value,
      notes: c.querySelector('textarea.panel-notes').value,
      shot: c.querySelector('select.panel-shot').value,
      duration: c.querySelector('input.panel-duration').value,
    })),
  )

async function waitPanels(page, predicate, arg) {
  await page.waitForFunction(
    ([src, a]) => {
      const cards = [...document.querySelectorAll('#panels > li.panel')].map((c) => ({
        action: c.querySelector('textarea.panel-action').value,
        dialogue: c.querySelector('textarea.panel-dialogue').value,
        shot: c.querySelector('select.panel-shot').value,
        duration: c.querySelector('input.panel-duration').value,
      }))
      return new Function('cards', 'arg', `return (${src})(cards, arg)`)(cards, a)
    },
    [predicate.toString(), arg],
    { timeout: WAIT_MS },
  )
}

function artifact(name) {
  mkdirSync(config.artifacts, { recursive: true })
  return join(config.artifacts, name)
}

/** Sign in and land on `next` (any page); errors and dialogs are collected, never shown. */
async function signInAt(browser, user, next, { viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const errors = []
  const dialogs = []
  page.on('pageerror', (e) => errors.push(String(e && e.message ? e.message : e)))
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss() })
  await page.goto(`${config.base}/accounts/login/?next=${encodeURIComponent(next)}`)
  await page.fill('#id_username', user.username)
  await page.fill('#id_password', user.password)
  await Promise.all([
    page.waitForURL((url) => decodeURIComponent(url.pathname) === next, { timeout: WAIT_MS }),
    page.click('main button[type=submit]'),
  ])
  return { context, page, errors, dialogs }
}

/** Submit the form holding `selector` and wait for the redirect back to the page's `hash`. */
async function submitAndReturn(page, selector, hash) {
  await Promise.all([
    page.waitForURL((url) => url.hash.startsWith(hash), { timeout: WAIT_MS }),
    page.click(selector),
  ])
  await page.waitForLoadState('load')
}

/** What an injected payload would leave behind in the page. */
const injection = (page) =>
  page.evaluate(() => ({
    xss: typeof window.__xss,
    images: document.querySelectorAll('img[src="x"], img[onerror]').length,
    handlers: document.querySelectorAll('[onerror], [onload]:not(body)').length,
    scripts: [...document.querySelectorAll('script')].filter((s) => s.textContent.includes('__xss')).length,
  }))

// ---------------------------------------------------------------- room-socket helpers

/** Wait until the room socket's snapshot has arrived (presence list is live). */
async function waitRoomLive(page) {
  await page.waitForFunction(() => window.troupe?.room?.state === 'open', null, { timeout: WAIT_MS })
}

const callIds = (page) => page.$$eval('#call-list > li.call', (els) => els.map((e) => e.dataset.callId))

const presenceIds = (page) => page.$$eval('#presence > li.avatar', (els) => els.map((e) => e.dataset.userId))

/** User ids in a page's document awareness (script and board), other than its own client. */
const awarenessIds = (page) =>
  page.evaluate(() =>
    Object.values(window.troupe.docs).flatMap((live) => {
      const aw = live.provider.awareness
      return [...aw.getStates()].filter(([cid]) => cid !== aw.clientID).map(([, st]) => String(st.user?.id))
    }),
  )

/** The first visible line of the script editor (what a scroll shows at the top). */
const editorTopLine = (page) =>
  page.evaluate(() => {
    const v = window.troupe.editor
    const rect = v.scrollDOM.getBoundingClientRect()
    const block = v.lineBlockAtHeight(v.scrollDOM.scrollTop + 4)
    return { text: v.state.doc.lineAt(block.from).text, scrollTop: v.scrollDOM.scrollTop, inView: rect.top < window.innerHeight && rect.bottom > 0 }
  })

/** A valid w x h PNG (solid colour), built here so the test needs no fixture files. */
async function pngBuffer(w = 4, h = 3, rgb = [200, 40, 40]) {
  const { deflateSync } = await import('node:zlib')
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (buf) => {
    let c = 0xffffffff
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const sum = Buffer.alloc(4)
    sum.writeUInt32BE(crc(body))
    return Buffer.concat([len, body, sum])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr[8] = 8
  ihdr[9] = 2
  const rows = []
  for (let y = 0; y < h; y++) rows.push(Buffer.from([0, ...Array.from({ length: w }, () => rgb).flat()]))
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

/** Write the script at once through Yjs (typing a long script key by key is slow). */
async function setScript(page, text) {
  await page.evaluate((t) => {
    const ytext = window.troupe.docs.script.doc.getText('content')
    ytext.doc.transact(() => {
      ytext.delete(0, ytext.length)
      ytext.insert(0, t)
    })
  }, text)
}

async function waitSynced(page) {
  await page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'synced', null, { timeout: WAIT_MS })
}

// ---------------------------------------------------------------- scenarios

const scenarios = {
  /** A record page opened by a member: rendered, the payload in its title inert, a screenshot. */
  async recordpage(browser) {
    const user = config.users.viewer
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await context.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e && e.message ? e.message : e)))
    page.on('dialog', (d) => { observed.dialog = d.message(); d.dismiss() })
    const next = `/records/${config.rid}`
    await page.goto(`${config.base}/accounts/login/?next=${encodeURIComponent(next)}`)
    await page.fill('#id_username', user.username)
    await page.fill('#id_password', user.password)
    await Promise.all([
      page.waitForURL((url) => decodeURIComponent(url.pathname) === next, { timeout: WAIT_MS }),
      page.click('button[type=submit]'),
    ])
    await page.waitForSelector('#family-tree', { timeout: WAIT_MS })
    await page.waitForLoadState('load')
    observed.title = await page.textContent('#record-title')
    observed.documentTitle = await page.title()
    observed.xss = await page.evaluate(() => typeof window.__xss)
    observed.injected = await page.evaluate(() => document.querySelectorAll('img[src="x"], .fountain-script script, #record-title *').length)
    observed.treeNodes = await page.$$eval('#family-tree g.node', (gs) => gs.map((g) => ({ rid: g.dataset.rid, level: Number(g.dataset.level), box: g.querySelector('rect').getBBox().height > 0 })))
    observed.treeLinks = await page.$$eval('#family-tree a', (as) => as.map((a) => a.getAttribute('href')))
    observed.citeLinks = await page.$$eval('a.cite', (as) => as.map((a) => a.getAttribute('href')))
    observed.scenes = await page.$$eval('.fountain-script section.scene', (s) => s.length)
    observed.overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    await page.screenshot({ path: artifact('record-page.png'), fullPage: true })
    // Following the ancestor's box opens its page.
    const parent = observed.treeNodes.find((n) => n.level === -1)
    await Promise.all([
      page.waitForURL((url) => decodeURIComponent(url.pathname) === `/records/${parent.rid}`, { timeout: WAIT_MS }),
      page.click(`#family-tree g.node[data-rid="${parent.rid}"] a`),
    ])
    observed.followed = decodeURIComponent(new URL(page.url()).pathname)
    observed.xssAfter = await page.evaluate(() => typeof window.__xss)
    observed.errors = errors
    await context.close()
  },
  /**
   * The proposal page: the countdown ticks; a contributor comments on their line and the
   * lead answers under it; the contributor accepts and sees it; the lead's edit makes the
   * acceptance stale; with a short window the countdown reaches "Window closed".
   */
  async proposal(browser) {
    const path = config.proposalPath
    const v = await signInAt(browser, config.users.viewer, path)
    const left = (page) => page.$eval('#countdown-left', (e) => e.textContent)
    observed.countdownFirst = await left(v.page)
    await v.page.waitForFunction((first) => document.querySelector('#countdown-left').textContent !== first, observed.countdownFirst, { timeout: WAIT_MS })
    observed.countdownNext = await left(v.page)
    observed.countdownState = await v.page.$eval('#countdown', (e) => e.dataset.state)

    // The contributor comments on their own line.
    const line = `#line-${config.viewerLine}`
    await v.page.click(`${line} details.comment-box > summary`)
    await v.page.fill(`#comment-on-${config.viewerLine}-body`, config.question)
    await submitAndReturn(v.page, `#comment-on-${config.viewerLine} button[type=submit]`, '#comment-')
    const questionId = new URL(v.page.url()).hash.slice('#comment-'.length)
    observed.questionInLine = await v.page.$eval(`${line} #comment-${questionId}`, (e) => ({
      text: e.querySelector('.body').textContent,
      needsAnswer: e.dataset.needsAnswer,
    }))

    // The lead answers it (the contributor's open page hears of it on the room socket).
    const live = (page) => page.waitForSelector('#proposal[data-live-state="connected"]', { timeout: WAIT_MS })
    await live(v.page)
    const l = await signInAt(browser, config.users.lead, path)
    await l.page.click(`#comment-${questionId} details.reply-box > summary`)
    observed.answerLabel = await l.page.$eval(`#comment-${questionId} details.reply-box > summary`, (e) => e.textContent)
    await l.page.fill(`#reply-${questionId}-body`, config.answer)
    await submitAndReturn(l.page, `#reply-${questionId} button[type=submit]`, '#comment-')
    const answerId = new URL(l.page.url()).hash.slice('#comment-'.length)
    const notice = (page) => page.$eval('#live-notice', (e) => ({ hidden: e.hidden, text: e.textContent.replace(/\s+/g, ' ').trim() }))
    await v.page.waitForSelector('#live-notice:not([hidden])', { timeout: WAIT_MS })
    observed.liveBeforeReload = await notice(v.page)
    await live(l.page)

    // The contributor sees the answer under the question.
    await v.page.reload()
    observed.thread = await v.page.evaluate(([q, a]) => {
      const question = document.getElementById(`comment-${q}`)
      const answer = document.getElementById(`comment-${a}`)
      const replies = question.parentElement.querySelector(':scope > ol.replies')
      return {
        answerUnderQuestion: Boolean(replies && replies.contains(answer)),
        answerText: answer.querySelector('.body').textContent,
        answerBadge: answer.querySelector('.badge')?.textContent ?? null,
        questionNeedsAnswer: question.dataset.needsAnswer,
        answerBox: answer.getBoundingClientRect().left > question.getBoundingClientRect().left,
      }
    }, [questionId, answerId])

    // The contributor accepts this version.
    await submitAndReturn(v.page, '#accept button[type=submit]', '#acceptances')
    const acceptance = (page) =>
      page.evaluate((user) => {
        const li = document.querySelector(`li.acceptance[data-user="${user}"]`)
        return {
          stale: li?.dataset.stale ?? null,
          text: li ? li.textContent.replace(/\s+/g, ' ').trim() : null,
          mine: document.querySelector('#my-acceptance')?.textContent ?? null,
          button: document.querySelectorAll('#accept button').length,
        }
      }, config.users.viewer.username)
    observed.accepted = await acceptance(v.page)
    await l.page.waitForSelector('#live-notice:not([hidden])', { timeout: WAIT_MS })
    observed.liveAccepted = await notice(l.page)

    // The lead edits another line: the acceptance no longer matches the proposal.
    await l.page.reload()
    const edited = `#line-${config.editorLine}`
    await l.page.click(`${edited} details > summary`)
    await l.page.fill(`#line-edit-${config.editorLine}-reasoning`, 'Rewrote the second act.')
    await submitAndReturn(l.page, `#line-edit-${config.editorLine} button[type=submit]`, `#line-${config.editorLine}`)
    await v.page.reload()
    observed.afterEdit = await acceptance(v.page)
    observed.logText = await v.page.$eval('#edit-log', (e) => e.textContent.replace(/\s+/g, ' '))
    await v.page.screenshot({ path: artifact('proposal-page.png'), fullPage: true })
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, storageState: await v.context.storageState() })
    const p = await phone.newPage()
    await p.goto(`${config.base}${path}`)
    observed.phoneOverflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    await p.screenshot({ path: artifact('proposal-page-phone.png'), fullPage: true })

    // A window about to close: the countdown reaches zero in both pages.
    await ask('short-window')
    await Promise.all([v.page.reload(), l.page.reload()])
    observed.beforeClose = await l.page.evaluate(() => ({
      state: document.querySelector('#countdown').dataset.state,
      left: document.querySelector('#countdown-left').textContent,
      finaliseDisabled: document.querySelector('#finalise').disabled,
    }))
    for (const page of [v.page, l.page]) {
      await page.waitForFunction(() => document.querySelector('#countdown').dataset.state === 'closed', null, { timeout: WAIT_MS })
    }
    const closed = (page) =>
      page.evaluate(() => ({
        left: document.querySelector('#countdown-left').textContent,
        status: document.querySelector('#window-status').textContent,
        finaliseDisabled: document.querySelector('#finalise')?.disabled ?? null,
        openForms: [...document.querySelectorAll('fieldset[data-closes-with-window]')].filter((f) => !f.disabled).length,
        closingForms: document.querySelectorAll('fieldset[data-closes-with-window]').length,
      }))
    observed.closedViewer = await closed(v.page)
    observed.closedLead = await closed(l.page)
    await v.page.reload()
    observed.serverAfterClose = await v.page.evaluate(() => ({
      state: document.querySelector('#countdown').dataset.state,
      left: document.querySelector('#countdown-left').textContent,
      commentForms: document.querySelectorAll('form.comment-form').length,
    }))
    observed.injection = await injection(v.page)
    observed.errors = [...v.errors, ...l.errors]
    observed.dialogs = [...v.dialogs, ...l.dialogs]
  },

  /**
   * Every page that shows user-written text, opened by each user given: payloads stay
   * text. `pages`: [{ path, room?: bool, noscript?: bool, expect?: [selector, text][] }]
   * (noscript: opened with JavaScript off, to see the server's own rendering).
   */
  async xsssweep(browser) {
    observed.pages = []
    for (const who of config.who) {
      const s = await signInAt(browser, config.users[who], '/')
      for (const spec of config.pages) {
        if (spec.noscript) {
          // What the server renders, with no script of ours run over it.
          const bare = await browser.newContext({ javaScriptEnabled: false, storageState: await s.context.storageState() })
          const page = await bare.newPage()
          await page.goto(`${config.base}${spec.path}`)
          await page.waitForLoadState('load')
          const shown = []
          for (const [selector, needle] of spec.expect ?? []) {
            shown.push(await page.evaluate(([sel, n]) => [...document.querySelectorAll(sel)].some((e) => e.textContent.includes(n)), [selector, needle]))
          }
          observed.pages.push({ who, path: `${spec.path} (no script)`, shown, ...(await injection(page)) })
          await bare.close()
          continue
        }
        await s.page.goto(`${config.base}${spec.path}`)
        await s.page.waitForLoadState('load')
        if (spec.room) {
          await waitReady(s.page)
          await s.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'synced', null, { timeout: WAIT_MS })
          await s.page.waitForFunction((needle) => document.querySelector('#preview').textContent.includes(needle), config.payloads[0], { timeout: WAIT_MS })
          await s.page.waitForFunction(() => document.querySelectorAll('#panels > li.panel').length > 0, null, { timeout: WAIT_MS })
        }
        for (const selector of spec.waitFor ?? []) await s.page.waitForSelector(selector, { timeout: WAIT_MS })
        const shown = []
        for (const [selector, needle] of spec.expect ?? []) {
          shown.push(await s.page.evaluate(([sel, n]) => [...document.querySelectorAll(sel)].some((e) => e.textContent.includes(n) || (e instanceof HTMLTextAreaElement && e.value.includes(n))), [selector, needle]))
        }
        observed.pages.push({ who, path: spec.path, shown, ...(await injection(s.page)) })
      }
      observed[`errors_${who}`] = s.errors
      observed[`dialogs_${who}`] = s.dialogs
      await s.context.close()
    }
  },
  /** Two people type in the same script; each sees the other's text and named cursor. */
  async coedit(browser) {
    const a = await signIn(browser, config.users.lead)
    const b = await signIn(browser, config.users.editor)
    await typeAtEnd(a.page, 'INT. KITCHEN - DAY\n\nAlice was here.\n')
    await waitEditorContains(b.page, ['Alice was here.'])
    await typeAtEnd(b.page, '\nBOB\nBob says hi.\n')
    await waitEditorContains(a.page, ['Bob says hi.'])
    // Each editor keeps focus on its own page: both cursors are broadcast.
    await a.page.click('.cm-content')
    await b.page.click('.cm-content')
    await a.page.keyboard.press('Control+End')
    await b.page.keyboard.press('Control+Home')
    const nameB = config.users.editor.display
    const nameA = config.users.lead.display
    await a.page.waitForFunction((n) => [...document.querySelectorAll('.cm-ySelectionInfo')].some((e) => e.textContent === n), nameB, { timeout: WAIT_MS })
    await b.page.waitForFunction((n) => [...document.querySelectorAll('.cm-ySelectionInfo')].some((e) => e.textContent === n), nameA, { timeout: WAIT_MS })
    await a.page.waitForFunction(() => document.querySelector('#presence').dataset.count === '2', null, { timeout: WAIT_MS })
    await a.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'synced', null, { timeout: WAIT_MS })
    // The scene list jumps the editor to the heading.
    await a.page.click('#scene-list .scene-link')
    observed.jumpHead = await a.page.evaluate(() => window.troupe.editor.state.selection.main.head)
    Object.assign(observed, {
      textA: await editorText(a.page),
      textB: await editorText(b.page),
      cursorsSeenByA: await cursorNames(a.page),
      cursorsSeenByB: await cursorNames(b.page),
      presenceA: await presenceNames(a.page),
      scenesA: await a.page.$$eval('#scene-list .scene-heading', (els) => els.map((e) => e.textContent)),
      previewCharacterA: await a.page.$$eval('#preview .fp-character', (els) => els.map((e) => e.textContent)),
      connectionA: await connection(a.page),
      errors: [...a.errors, ...b.errors],
    })
    await a.page.screenshot({ path: artifact('room-coedit-lead.png') })
  },

  /** A panel added and edited in one browser appears in the other; drag reorders. */
  async panels(browser) {
    const a = await signIn(browser, config.users.lead)
    const b = await signIn(browser, config.users.editor)
    await a.page.click('#add-panel')
    await a.page.locator('#panels > li.panel').nth(0).locator('textarea.panel-action').fill('Wide: the harbour at dawn')
    await a.page.locator('#panels > li.panel').nth(0).locator('textarea.panel-dialogue').fill('Not again.')
    await a.page.locator('#panels > li.panel').nth(0).locator('select.panel-shot').selectOption('EWS')
    await a.page.locator('#panels > li.panel').nth(0).locator('input.panel-duration').fill('3.5')
    await waitPanels(b.page, (cards) => cards.length === 1 && cards[0].action === 'Wide: the harbour at dawn' && cards[0].shot === 'EWS' && cards[0].duration === '3.5')
    // B adds a second panel; A sees it; then B drags panel 2 onto panel 1.
    await b.page.click('#add-panel')
    await b.page.locator('#panels > li.panel').nth(1).locator('textarea.panel-action').fill('Close on the bell')
    await waitPanels(a.page, (cards) => cards.length === 2 && cards[1].action === 'Close on the bell')
    const handle = b.page.locator('#panels > li.panel').nth(1).locator('.panel-handle')
    const target = b.page.locator('#panels > li.panel').nth(0)
    const hb = await handle.boundingBox()
    const tb = await target.boundingBox()
    await b.page.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2)
    await b.page.mouse.down()
    await b.page.mouse.move(tb.x + tb.width / 2, tb.y + 40, { steps: 8 })
    await b.page.mouse.up()
    await waitPanels(a.page, (cards) => cards.length === 2 && cards[0].action === 'Close on the bell' && cards[1].action === 'Wide: the harbour at dawn')
    // Keyboard reorder: A moves the first panel down again.
    await a.page.locator('#panels > li.panel').nth(0).locator('.panel-down').click()
    await waitPanels(b.page, (cards) => cards[0].action === 'Wide: the harbour at dawn')
    Object.assign(observed, {
      panelsA: await panelsOf(a.page),
      panelsB: await panelsOf(b.page),
      totalA: await a.page.$eval('#board-total', (e) => ({ text: e.textContent, ms: Number(e.dataset.ms) })),
      totalB: await b.page.$eval('#board-total', (e) => ({ text: e.textContent, ms: Number(e.dataset.ms) })),
      focusAfterMove: await a.page.evaluate(() => document.activeElement?.className ?? ''),
      errors: [...a.errors, ...b.errors],
    })
    await a.page.screenshot({ path: artifact('room-storyboard.png'), fullPage: true })
  },

  /**
   * One person types a long note into a panel while another moves that panel and others up
   * and down (buttons and Alt+arrows). The typist's textarea keeps the focus and the caret
   * after every move, and the note arrives whole.
   */
  async typingmoves(browser) {
    const mover = await signIn(browser, config.users.lead)
    const typist = await signIn(browser, config.users.editor)
    const count = 4
    const N = 1 // the typist's panel, by creation order
    for (let i = 0; i < count; i++) {
      await typist.page.click('#add-panel')
      await typist.page.locator('#panels > li.panel').nth(i).locator('textarea.panel-action').fill(`Panel ${i}`)
    }
    const idsOf = (page) => page.$$eval('#panels > li.panel', (cards) => cards.map((c) => c.dataset.panelId))
    const ids = await idsOf(typist.page)
    await mover.page.waitForFunction((want) => [...document.querySelectorAll('#panels > li.panel')].map((c) => c.dataset.panelId).join() === want.join(), ids, { timeout: WAIT_MS })
    const target = ids[N]
    observed.panelIds = ids
    observed.target = target
    const note = config.note
    const notes = typist.page.locator(`#panels > li.panel[data-panel-id="${target}"] textarea.panel-notes`)
    await notes.click()
    await typist.page.evaluate((id) => {
      window.__typistArea = document.querySelector(`#panels > li.panel[data-panel-id="${id}"] textarea.panel-notes`)
    }, target)
    let typingDone = false
    const typing = typist.page.keyboard.type(note, { delay: config.keyDelayMs }).then(() => { typingDone = true })
    const checks = []
    const moves = []
    Object.assign(observed, { moves, checks }) // reported even if a wait below fails
    // Each step: one move in the mover's page, seen there and then in the typist's page.
    const steps = [
      { how: 'button', panel: () => target, dir: 'up' },
      { how: 'button', panel: (order) => order[0], dir: 'down' },
      { how: 'keys', panel: () => target, dir: 'down' },
      { how: 'keys', panel: (order) => order[order.length - 1], dir: 'up' },
      { how: 'button', panel: () => target, dir: 'down' },
      { how: 'keys', panel: () => target, dir: 'up' },
    ]
    let step = 0
    while ((!typingDone || moves.length < config.minMoves) && moves.length < config.maxMoves) {
      const order = await idsOf(mover.page)
      const plan = steps[step++ % steps.length]
      const id = plan.panel(order)
      const index = order.indexOf(id)
      let dir = plan.dir
      if (dir === 'up' && index === 0) dir = 'down'
      if (dir === 'down' && index === order.length - 1) dir = 'up'
      const card = mover.page.locator(`#panels > li.panel[data-panel-id="${id}"]`)
      if (plan.how === 'button') {
        await card.locator(dir === 'up' ? '.panel-up' : '.panel-down').click()
      } else {
        await card.locator('textarea.panel-dialogue').focus()
        await mover.page.keyboard.press(dir === 'up' ? 'Alt+ArrowUp' : 'Alt+ArrowDown')
      }
      const expected = [...order]
      expected.splice(index, 1)
      expected.splice(dir === 'up' ? index - 1 : index + 1, 0, id)
      await mover.page.waitForFunction((want) => [...document.querySelectorAll('#panels > li.panel')].map((c) => c.dataset.panelId).join() === want.join(), expected, { timeout: WAIT_MS })
      const moverFocus = await mover.page.evaluate((pid) => {
        const a = document.activeElement
        return { panel: a?.closest('li.panel')?.dataset.panelId ?? null, cls: a?.className ?? '' }
      }, id)
      await typist.page.waitForFunction((want) => [...document.querySelectorAll('#panels > li.panel')].map((c) => c.dataset.panelId).join() === want.join(), expected, { timeout: WAIT_MS })
      checks.push(await typist.page.evaluate(() => {
        const area = window.__typistArea
        return {
          focused: document.activeElement === area,
          connected: area.isConnected,
          caretAtEnd: area.selectionStart === area.value.length && area.selectionEnd === area.value.length,
          length: area.value.length,
        }
      }))
      moves.push({ how: plan.how, dir, id, moverFocus, order: expected, duringTyping: !typingDone })
    }
    await typing
    await mover.page.waitForFunction(([id, want]) => document.querySelector(`#panels > li.panel[data-panel-id="${id}"] textarea.panel-notes`)?.value === want, [target, note], { timeout: WAIT_MS })
    Object.assign(observed, {
      moves,
      checks,
      typistEnd: await typist.page.evaluate(() => {
        const area = window.__typistArea
        return {
          focused: document.activeElement === area,
          value: area.value,
          selectionStart: area.selectionStart,
          selectionEnd: area.selectionEnd,
        }
      }),
      moverNote: await mover.page.locator(`#panels > li.panel[data-panel-id="${target}"] textarea.panel-notes`).inputValue(),
      finalOrderMover: await idsOf(mover.page),
      finalOrderTypist: await idsOf(typist.page),
      panelsMover: await panelsOf(mover.page),
      panelsTypist: await panelsOf(typist.page),
      errors: [...mover.errors, ...typist.errors],
    })
  },

  /**
   * Two panels with the same order key (what a rare concurrent insert into one gap leaves):
   * moving a third panel between them also gives the second of them a new key.
   */
  async collision(browser) {
    const lead = await signIn(browser, config.users.lead)
    for (const [i, caption] of ['A', 'B', 'C'].entries()) {
      await lead.page.click('#add-panel')
      await lead.page.locator('#panels > li.panel').nth(i).locator('textarea.panel-action').fill(caption)
    }
    const keys = () => lead.page.evaluate(() => {
      const board = window.troupe.docs.board.doc.getMap('board')
      return [...document.querySelectorAll('#panels > li.panel')].map((c) => ({
        action: c.querySelector('textarea.panel-action').value,
        id: c.dataset.panelId,
        order: board.get(c.dataset.panelId).get('order'),
      }))
    })
    const before = await keys()
    // Give the second card the first card's key (the cards then sort by id).
    await lead.page.evaluate(([first, second]) => {
      const board = window.troupe.docs.board.doc.getMap('board')
      board.get(second).set('order', board.get(first).get('order'))
    }, [before[0].id, before[1].id])
    await lead.page.waitForFunction((ids) => {
      const shown = [...document.querySelectorAll('#panels > li.panel')].slice(0, 2).map((c) => c.dataset.panelId)
      return shown.join() === [...ids].sort().join()
    }, [before[0].id, before[1].id], { timeout: WAIT_MS })
    observed.tied = await keys()
    // Move C up to the middle: between the two tied panels.
    await lead.page.locator('#panels > li.panel').nth(2).locator('.panel-up').click()
    await waitPanels(lead.page, (cards) => cards[1].action === 'C')
    Object.assign(observed, { after: await keys(), errors: lead.errors })
  },

  /**
   * A stock yjs + y-websocket client (driven by pytest) adds a panel and moves another; the
   * open page shows both live, moving the existing cards rather than rebuilding them.
   */
  async stockmove(browser) {
    const lead = await signIn(browser, config.users.lead)
    for (const [i, caption] of ['One', 'Two', 'Three'].entries()) {
      await lead.page.click('#add-panel')
      await lead.page.locator('#panels > li.panel').nth(i).locator('textarea.panel-action').fill(caption)
    }
    // What the stock client finds must be what the page wrote (stored, not just typed).
    await lead.page.waitForSelector('#connection[data-state="synced"]', { timeout: WAIT_MS })
    await lead.page.evaluate(() => {
      window.__cards = [...document.querySelectorAll('#panels > li.panel')]
      window.__sameDocument = true
    })
    observed.before = await panelsOf(lead.page)
    await ask('stock-move')
    await waitPanels(lead.page, (cards) => cards.map((c) => c.action).join() === 'Three,One,Two,Four (stock)')
    Object.assign(observed, {
      after: await panelsOf(lead.page),
      sameDocument: await lead.page.evaluate(() => window.__sameDocument === true),
      sameCards: await lead.page.evaluate(() => {
        const now = [...document.querySelectorAll('#panels > li.panel')]
        return window.__cards.every((c) => c.isConnected) && now[0] === window.__cards[2]
      }),
      titles: await lead.page.$$eval('#panels > li.panel .panel-title', (els) => els.map((e) => e.textContent)),
    })
    // Deleting a panel removes its key from the board (the confirm dialog is accepted).
    await lead.page.locator('#panels > li.panel').nth(1).locator('.panel-delete').click()
    await waitPanels(lead.page, (cards) => cards.map((c) => c.action).join() === 'Three,Two,Four (stock)')
    Object.assign(observed, { afterDelete: await panelsOf(lead.page), errors: lead.errors })
  },

  /** A viewer's editor and panels are read-only: typing changes nothing anywhere. */
  async viewer(browser) {
    const lead = await signIn(browser, config.users.lead)
    await typeAtEnd(lead.page, 'EXT. ROOF - NIGHT\n\nOnly writers write.\n')
    await lead.page.click('#add-panel')
    await lead.page.locator('textarea.panel-action').first().fill('Lead caption')
    const v = await signIn(browser, config.users.viewer)
    await waitEditorContains(v.page, ['Only writers write.'])
    await waitPanels(v.page, (cards) => cards.length === 1 && cards[0].action === 'Lead caption')
    const before = await editorText(v.page)
    await v.page.click('.cm-content')
    await v.page.keyboard.press('Control+End')
    await v.page.keyboard.type('VIEWER WAS HERE')
    await v.page.keyboard.press('Backspace')
    await v.page.keyboard.press('Enter')
    await v.page.locator('textarea.panel-action').first().click()
    await v.page.keyboard.type('viewer caption')
    // Give any write that slipped through time to travel to the lead.
    await lead.page.waitForTimeout(700)
    Object.assign(observed, {
      before,
      after: await editorText(v.page),
      leadText: await editorText(lead.page),
      viewerPanels: await panelsOf(v.page),
      leadPanels: await panelsOf(lead.page),
      addButton: await v.page.locator('#add-panel').count(),
      readonlyAttr: await v.page.$eval('.cm-content', (e) => e.getAttribute('aria-readonly')),
      viewerConnection: await connection(v.page),
      errors: [...lead.errors, ...v.errors],
    })
  },

  /** Typing offline is kept, counted as unsynced, and merged on reconnect. */
  async offline(browser) {
    const a = await signIn(browser, config.users.lead)
    const b = await signIn(browser, config.users.editor)
    await typeAtEnd(a.page, 'INT. TUNNEL - DAY\n\n')
    await waitEditorContains(b.page, ['INT. TUNNEL - DAY'])
    await a.context.setOffline(true)
    await a.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'offline', null, { timeout: WAIT_MS })
    await typeAtEnd(a.page, 'Typed while offline.XX\n')
    await a.page.keyboard.press('ArrowLeft')
    await a.page.keyboard.press('Backspace')
    await a.page.keyboard.press('Backspace')
    // A deletion of text the server already has (delete-only change): "DAY" -> "DA".
    await a.page.keyboard.press('Control+Home')
    await a.page.keyboard.press('End')
    await a.page.keyboard.press('Backspace')
    await a.page.locator('#add-panel').click()
    await a.page.locator('textarea.panel-action').first().fill('Offline panel')
    observed.whileOffline = await connection(a.page)
    await typeAtEnd(b.page, 'Typed by the one online.\n')
    await b.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'synced', null, { timeout: WAIT_MS })
    observed.bBeforeReconnect = await editorText(b.page)
    await a.context.setOffline(false)
    await waitEditorContains(a.page, ['Typed while offline.', 'Typed by the one online.'])
    await waitEditorContains(b.page, ['Typed while offline.', 'Typed by the one online.'])
    await waitPanels(b.page, (cards) => cards.length === 1 && cards[0].action === 'Offline panel')
    await a.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'synced', null, { timeout: WAIT_MS })
    Object.assign(observed, {
      afterReconnect: await connection(a.page),
      textA: await editorText(a.page),
      textB: await editorText(b.page),
      errors: [...a.errors, ...b.errors],
    })
  },

  /** Markup in the script, a caption and a user name is shown as text, never run. */
  async xss(browser) {
    const payloads = config.payloads
    const a = await signIn(browser, config.users.lead)
    const e = await signIn(browser, config.users.editor) // display name is a payload
    await typeAtEnd(e.page, `INT. ${payloads[0]} - DAY\n\n${payloads[0]}\n${payloads[1]}\n\n${payloads[1].toUpperCase()}\n${payloads[0]}\n\n[[${payloads[1]}]]\n`)
    await e.page.click('#add-panel')
    await e.page.locator('textarea.panel-action').first().fill(payloads.join(' '))
    await e.page.locator('textarea.panel-notes').first().fill(payloads[1])
    await e.page.click('.cm-content')
    await waitEditorContains(a.page, [payloads[0], payloads[1]])
    await waitPanels(a.page, (cards, p) => cards.length === 1 && cards[0].action === p, payloads.join(' '))
    await a.page.click('.cm-content')
    await a.page.waitForFunction((n) => [...document.querySelectorAll('.cm-ySelectionInfo')].some((el) => el.textContent === n), config.users.editor.display, { timeout: WAIT_MS })
    await a.page.waitForTimeout(300)
    const probe = (page) =>
      page.evaluate(() => ({
        xss: typeof window.__xss === 'undefined' ? null : window.__xss,
        injectedImages: document.querySelectorAll('img[src="x"]').length,
        injectedScripts: [...document.querySelectorAll('script')].filter((s) => s.textContent.includes('__xss')).length,
        previewText: document.querySelector('#preview').textContent,
        avatarNames: [...document.querySelectorAll('#presence .avatar-name')].map((el) => el.textContent),
        cursorNames: [...document.querySelectorAll('.cm-ySelectionInfo')].map((el) => el.textContent),
        sceneNames: [...document.querySelectorAll('#scene-list .scene-heading')].map((el) => el.textContent),
      }))
    Object.assign(observed, { lead: await probe(a.page), editor: await probe(e.page), errors: [...a.errors, ...e.errors] })
  },

  /**
   * Close codes: a member removed while connected gets 4403, sees why and is not
   * reconnected; a signed-out session gets 4401 on its next connect and is sent to sign in.
   */
  async closecodes(browser) {
    const v = await signIn(browser, config.users.viewer)
    await waitRoomLive(v.page)
    const sockets = []
    v.page.on('websocket', (ws) => sockets.push(ws.url()))
    const removed = await fetch(`${config.base}/api/projects/${config.project}/members/${config.users.viewer.username}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${config.leadToken}` },
    })
    observed.removeStatus = removed.status
    // The server applies access changes "within a second"; allow for a loaded CI machine.
    await v.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'stopped', null, { timeout: 2 * WAIT_MS })
    await v.page.waitForTimeout(2500) // longer than several backoff steps
    Object.assign(observed, {
      removedAlert: await v.page.$eval('#room-alert', (e) => ({ hidden: e.hidden, text: e.textContent })),
      socketsAfterRemoval: sockets,
      removedConnection: await connection(v.page),
      removedRoomSocket: await v.page.evaluate(() => window.troupe.room.state),
    })

    const e = await signIn(browser, config.users.editor)
    const other = await e.context.newPage()
    await other.goto(`${config.base}/`)
    await Promise.all([other.waitForURL((url) => url.pathname.startsWith('/accounts/login/')), other.click('header button[type=submit]')])
    // The open socket stays up; the next connect is refused with 4401.
    await e.context.setOffline(true)
    await e.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'offline', null, { timeout: WAIT_MS })
    await e.context.setOffline(false)
    await e.page.waitForURL((url) => url.pathname === '/accounts/login/', { timeout: WAIT_MS })
    observed.signedOutUrl = e.page.url()
    observed.errors = [...v.errors, ...e.errors]
  },

  /**
   * A storyboard socket closed with 4422 (the server refused a write outside the schema):
   * the page says it is out of date and asks for a reload, and stops. The close is made by
   * a route in front of the real socket, so no invalid write is needed.
   */
  async outdated(browser) {
    const e = await signIn(browser, config.users.editor)
    const routed = []
    await e.page.routeWebSocket((url) => url.pathname.endsWith(`/${config.project}/board`), (ws) => {
      ws.connectToServer()
      routed.push(ws)
    })
    await e.page.reload()
    await waitReady(e.page)
    observed.routed = routed.length
    await routed[0].close({ code: 4422, reason: 'update breaks the storyboard schema' })
    await e.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'stopped', null, { timeout: WAIT_MS })
    Object.assign(observed, {
      alert: await e.page.$eval('#room-alert', (el) => ({ hidden: el.hidden, text: el.textContent })),
      connection: await connection(e.page),
      boardState: await e.page.evaluate(() => window.troupe.docs.board.state),
      scriptState: await e.page.evaluate(() => window.troupe.docs.script.state),
      errors: e.errors,
    })
  },

  /** The server dies (close 1006): the page shows offline, retries with backoff, merges. */
  async restart(browser) {
    const a = await signIn(browser, config.users.lead)
    await typeAtEnd(a.page, 'Before restart.\n')
    await a.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'synced', null, { timeout: WAIT_MS })
    await a.page.waitForTimeout(300) // let the server's group commit write it
    const attempts = []
    a.page.on('websocket', (ws) => attempts.push({ at: Date.now(), url: ws.url() }))
    await ask('kill')
    const killedAt = Date.now()
    await a.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'offline', null, { timeout: WAIT_MS })
    await typeAtEnd(a.page, 'During the outage.\n')
    observed.duringOutage = await connection(a.page)
    await a.page.waitForTimeout(2000)
    observed.attemptsWhileDown = attempts.map((x) => x.at - killedAt)
    await ask('start')
    await a.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'synced', null, { timeout: 20_000 })
    Object.assign(observed, {
      afterRestart: await connection(a.page),
      text: await editorText(a.page),
      alertHidden: await a.page.$eval('#room-alert', (e) => e.hidden),
      errors: a.errors,
    })
  },

  /** Time to interactive (editor and storyboard synced) from navigation start; screenshots. */
  async perf(browser) {
    const a = await signIn(browser, config.users.lead, { viewport: { width: 1440, height: 900 } })
    // Content so the screenshots show a working room.
    await typeAtEnd(a.page, config.sampleScript)
    for (const [i, caption] of ['Wide: the city wakes', 'Medium: Mara at the window', 'Close-up: the letter'].entries()) {
      await a.page.click('#add-panel')
      await a.page.locator('#panels > li.panel').nth(i).locator('textarea.panel-action').fill(caption)
      await a.page.locator('#panels > li.panel').nth(i).locator('select.panel-shot').selectOption(['WS', 'MS', 'CU'][i])
    }
    await a.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'synced', null, { timeout: WAIT_MS })
    const b = await signIn(browser, config.users.editor)
    await b.page.click('.cm-content')
    const runs = []
    for (let i = 0; i < config.loads; i++) {
      await a.page.goto(`${config.base}/p/${config.project}/`)
      await waitReady(a.page)
      runs.push(
        await a.page.evaluate(() => {
          const nav = performance.getEntriesByType('navigation')[0]
          return {
            interactive: performance.getEntriesByName('troupe-interactive')[0].startTime,
            domContentLoaded: nav.domContentLoadedEventEnd,
            response: nav.responseEnd,
          }
        }),
      )
    }
    // A keystroke right after the room is ready lands in the editor.
    await a.page.click('.cm-content')
    await a.page.keyboard.press('Control+End')
    await a.page.keyboard.type('!')
    observed.typedAfterReady = (await editorText(a.page)).endsWith('!')
    await a.page.keyboard.press('Backspace')
    await a.page.waitForFunction((n) => [...document.querySelectorAll('.cm-ySelectionInfo')].some((e) => e.textContent === n), config.users.editor.display, { timeout: WAIT_MS })
    await a.page.waitForFunction(() => document.querySelector('#connection').dataset.state === 'synced', null, { timeout: WAIT_MS })
    await a.page.screenshot({ path: artifact('room-desktop.png') })
    await a.page.screenshot({ path: artifact('room-desktop-full.png'), fullPage: true })
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, storageState: await a.context.storageState() })
    const p = await phone.newPage()
    await p.goto(`${config.base}/p/${config.project}/`)
    await waitReady(p)
    observed.phoneOverflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    await p.screenshot({ path: artifact('room-phone.png') })
    await p.screenshot({ path: artifact('room-phone-full.png'), fullPage: true })
    observed.runs = runs
    observed.errors = [...a.errors, ...b.errors]
  },

  /** A call the lead posts from the calls panel appears live in a contributor's panel. */
  async callslive(browser) {
    const lead = await signIn(browser, config.users.lead)
    const ed = await signIn(browser, config.users.editor)
    await waitRoomLive(lead.page)
    await waitRoomLive(ed.page)
    observed.editorIdsBefore = await callIds(ed.page)
    await ed.page.waitForSelector('#bell[data-state="online"]', { timeout: WAIT_MS })
    observed.editorBellBefore = Number(await ed.page.getAttribute('#bell', 'data-count'))
    const sockets = []
    ed.page.on('framenavigated', () => sockets.push('navigated'))
    await lead.page.click('#calls summary')
    await lead.page.fill('#call-title', config.callTitle)
    await lead.page.selectOption('#call-interest', 'illustration')
    await lead.page.fill('#call-instructions', config.callInstructions)
    await lead.page.click('#call-submit')
    await ed.page.waitForFunction((t) => [...document.querySelectorAll('#call-list > li.call .call-title')].some((e) => e.textContent === t), config.callTitle, { timeout: WAIT_MS })
    observed.editorIdsAfter = await callIds(ed.page)
    // The same call reaches the contributor's bell, live, on the same page.
    await ed.page.waitForFunction((n) => Number(document.querySelector('#bell').dataset.count) > n, observed.editorBellBefore, { timeout: WAIT_MS })
    observed.editorBellAfter = Number(await ed.page.getAttribute('#bell', 'data-count'))
    observed.editorBellText = await ed.page.textContent('#bell-count')
    observed.editorBellAnnounced = await ed.page.textContent('#bell-live')
    observed.leadIdsAfter = await callIds(lead.page)
    observed.editorCall = await ed.page.$eval('#call-list > li.call', (e) => ({
      id: e.dataset.callId,
      state: e.dataset.state,
      title: e.querySelector('.call-title').textContent,
      meta: e.querySelector('.call-meta').textContent,
      instructions: e.querySelector('.call-instructions').textContent,
      titleHtml: e.querySelector('.call-title').innerHTML,
    }))
    observed.reloaded = sockets.length
    // The editor responds; the lead sees the response under the call without reloading.
    const call = ed.page.locator('#call-list > li.call').first()
    await call.locator('.call-respond summary').click()
    await call.locator('textarea.call-response-text').fill('I can draw the harbour.')
    await call.locator('button.call-response-submit').click()
    await lead.page.waitForFunction(() => document.querySelectorAll('#call-list > li.call .call-response').length === 1, null, { timeout: WAIT_MS })
    observed.leadResponse = await lead.page.$eval('#call-list > li.call .call-response', (e) => ({ text: e.textContent, href: e.querySelector('a').getAttribute('href') }))
    observed.formErrorHidden = await lead.page.$eval('#call-form-error', (e) => e.hidden)
    observed.editorHasLeadTools = await ed.page.locator('#call-list .call-close').count()
    // The lead closes the call from the panel: the contributor sees it closed, without Respond.
    await lead.page.locator('#call-list > li.call').first().locator('button.call-close').click()
    await ed.page.waitForSelector('#call-list > li.call[data-state="closed"]', { timeout: WAIT_MS })
    observed.editorClosed = await ed.page.$eval('#call-list > li.call', (e) => ({ meta: e.querySelector('.call-meta').textContent, respondHidden: e.querySelector('.call-respond').hidden }))
    // A lead's session and the panel, for the screenshot.
    await lead.page.fill('#session-title', 'Harbour table read')
    await lead.page.click('#session-start')
    await ed.page.waitForSelector('#session-join:not([hidden])', { timeout: WAIT_MS })
    observed.editorSessionStatus = await ed.page.textContent('#session-status')
    await ed.page.click('#session-join')
    await lead.page.waitForFunction(() => document.querySelector('#session-status').textContent.includes('2 in it'), null, { timeout: WAIT_MS })
    await lead.page.setViewportSize({ width: 1280, height: 1400 })
    await lead.page.screenshot({ path: artifact('room-calls-session.png'), fullPage: true })
    observed.phoneOverflow = await ed.page.setViewportSize({ width: 390, height: 844 }).then(() => ed.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth))
    await ed.page.screenshot({ path: artifact('room-calls-session-phone.png'), fullPage: true })
    observed.errors = [...lead.errors, ...ed.errors]
  },

  /**
   * A lead spotlights a scene, then a panel: the editor accepts and is moved (and keeps
   * following); the viewer declines and stays; the editor scrolls away and stops following.
   */
  async spotlight(browser) {
    const lead = await signIn(browser, config.users.lead)
    await setScript(lead.page, config.script)
    await lead.page.click('#add-panel')
    await lead.page.click('#add-panel')
    await waitSynced(lead.page)
    const ed = await signIn(browser, config.users.editor)
    const vw = await signIn(browser, config.users.viewer)
    for (const x of [lead, ed, vw]) await waitRoomLive(x.page)
    await waitPanels(ed.page, (cards) => cards.length === 2)
    await lead.page.fill('#session-title', 'Blocking pass')
    await lead.page.click('#session-start')
    for (const x of [ed, vw]) {
      await x.page.waitForSelector('#session-join:not([hidden])', { timeout: WAIT_MS })
      await x.page.click('#session-join')
    }
    await lead.page.waitForFunction(() => document.querySelector('#session-status').textContent.includes('3 in it'), null, { timeout: WAIT_MS })
    // The lead goes to the third scene (scene list) and spotlights it.
    await lead.page.locator('#scene-list .scene-link').nth(2).click()
    await lead.page.waitForFunction(() => JSON.stringify(window.troupe.tracker.known.anchor) === '{"scene":2}', null, { timeout: WAIT_MS })
    observed.viewerTopBefore = await editorTopLine(vw.page)
    observed.viewerScrollBefore = await vw.page.evaluate(() => window.scrollY)
    await lead.page.click('#session-spotlight')
    for (const x of [ed, vw]) await x.page.waitForSelector('#follow-prompt:not([hidden])', { timeout: WAIT_MS })
    observed.promptText = await ed.page.textContent('#follow-text')
    await ed.page.click('#follow-accept')
    await vw.page.click('#follow-decline')
    await ed.page.waitForSelector('#session-bar[data-follow="following"]', { timeout: WAIT_MS })
    await ed.page.waitForFunction((h) => {
      const v = window.troupe.editor
      return v.state.doc.lineAt(v.lineBlockAtHeight(v.scrollDOM.scrollTop + 4).from).text === h
    }, config.sceneHeadings[2], { timeout: WAIT_MS })
    observed.editorTop = await editorTopLine(ed.page)
    await vw.page.waitForFunction(() => document.querySelector('#follow-prompt').hidden && document.querySelector('#follow-status').textContent.includes('declined'), null, { timeout: WAIT_MS })
    observed.viewerTopAfter = await editorTopLine(vw.page)
    observed.viewerScrollAfter = await vw.page.evaluate(() => window.scrollY)
    observed.viewerFollow = await vw.page.$eval('#session-bar', (e) => e.dataset.follow)
    // The lead's presence list shows the editor where the spotlight took them.
    await lead.page.waitForFunction((id) => [...document.querySelectorAll('#presence > li.avatar')].some((e) => e.dataset.userId === id && e.textContent.includes('scene 3')), String(config.ids.editor), { timeout: WAIT_MS })
    observed.leadSeesEditorAt = await lead.page.$eval(`#presence > li.avatar[data-user-id="${config.ids.editor}"] .avatar-name`, (e) => e.textContent)

    // Second spotlight, on panel 2: the follower moves without being asked; the viewer is asked again.
    await lead.page.locator('#panels > li.panel').nth(1).locator('textarea.panel-action').click()
    const panelId = await lead.page.locator('#panels > li.panel').nth(1).getAttribute('data-panel-id')
    await lead.page.waitForFunction((id) => window.troupe.tracker.known.anchor?.panel === id, panelId, { timeout: WAIT_MS })
    await lead.page.click('#session-spotlight')
    await ed.page.waitForFunction((id) => {
      const card = document.querySelector(`#panels > li.panel[data-panel-id="${id}"]`)
      const r = card.getBoundingClientRect()
      return document.querySelector('#session-bar').dataset.follow === 'following' && r.top >= 0 && r.bottom <= window.innerHeight
    }, panelId, { timeout: WAIT_MS })
    observed.editorPromptOnSecond = await ed.page.$eval('#follow-prompt', (e) => e.hidden)
    observed.editorFollowText = await ed.page.textContent('#follow-status')
    await vw.page.waitForSelector('#follow-prompt:not([hidden])', { timeout: WAIT_MS })
    observed.viewerScrollSecond = await vw.page.evaluate(() => window.scrollY)

    // The editor scrolls away: the follow ends; the next spotlight asks again.
    await ed.page.mouse.move(640, 400)
    await ed.page.mouse.wheel(0, -3000)
    await ed.page.waitForSelector('#session-bar[data-follow="idle"]', { timeout: WAIT_MS })
    observed.endedText = await ed.page.textContent('#follow-status')
    await lead.page.click('#session-spotlight')
    await ed.page.waitForSelector('#follow-prompt:not([hidden])', { timeout: WAIT_MS })
    observed.editorFollowAfterLeaving = await ed.page.$eval('#session-bar', (e) => e.dataset.follow)
    await lead.page.screenshot({ path: artifact('room-session-lead.png') })
    await ed.page.screenshot({ path: artifact('room-session-follower.png') })
    // The lead ends the session: everyone's bar goes back to idle.
    await lead.page.click('#session-end')
    await vw.page.waitForSelector('#session-bar[data-state="none"]', { timeout: WAIT_MS })
    observed.errors = [...lead.errors, ...ed.errors, ...vw.errors]
  },

  /** Invisible mode hides the user from others' presence list and awareness, and back. */
  async invisible(browser) {
    const lead = await signIn(browser, config.users.lead)
    const ed = await signIn(browser, config.users.editor)
    await waitRoomLive(lead.page)
    await waitRoomLive(ed.page)
    await lead.page.click('.cm-content')
    const leadId = String(config.ids.lead)
    await ed.page.waitForFunction((id) => [...document.querySelectorAll('#presence > li.avatar')].some((e) => e.dataset.userId === id), leadId, { timeout: WAIT_MS })
    observed.awarenessBefore = await awarenessIds(ed.page)
    observed.toggleInitial = await lead.page.$eval('#invisible-toggle', (e) => e.checked)
    await lead.page.check('#invisible-toggle')
    await lead.page.waitForFunction(() => { const t = document.querySelector('#invisible-toggle'); return t.checked && !t.disabled }, null, { timeout: WAIT_MS })
    await ed.page.waitForFunction((id) => ![...document.querySelectorAll('#presence > li.avatar')].some((e) => e.dataset.userId === id), leadId, { timeout: WAIT_MS })
    await ed.page.waitForFunction((id) => !Object.values(window.troupe.docs).some((l) => [...l.provider.awareness.getStates().values()].some((s) => String(s.user?.id) === id)), leadId, { timeout: WAIT_MS })
    observed.presenceWhileInvisible = await presenceIds(ed.page)
    observed.leadSeesSelf = await lead.page.$eval(`#presence > li.avatar[data-user-id="${leadId}"] .avatar-name`, (e) => e.textContent)
    // Moving and typing while invisible leaks nothing either.
    await lead.page.click('.cm-content')
    await lead.page.keyboard.type('Quietly. ')
    await lead.page.locator('#panels').scrollIntoViewIfNeeded()
    await waitEditorContains(ed.page, ['Quietly.'])
    observed.awarenessWhileInvisible = await awarenessIds(ed.page)
    // The preference is stored: a reload starts invisible, without a flash of presence.
    const seen = []
    await ed.page.exposeFunction('__sawLead', () => seen.push(1))
    await ed.page.evaluate((id) => {
      const check = () => { if ([...document.querySelectorAll('#presence > li.avatar')].some((e) => e.dataset.userId === id)) window.__sawLead() }
      new MutationObserver(check).observe(document.querySelector('#presence'), { childList: true, subtree: true })
      for (const l of Object.values(window.troupe.docs)) l.provider.awareness.on('change', () => { if ([...l.provider.awareness.getStates().values()].some((s) => String(s.user?.id) === id)) window.__sawLead() })
    }, leadId)
    await lead.page.reload()
    await waitReady(lead.page)
    observed.toggleAfterReload = await lead.page.$eval('#invisible-toggle', (e) => e.checked)
    await waitRoomLive(lead.page)
    await lead.page.click('.cm-content')
    await lead.page.keyboard.type('Still quiet. ')
    await waitEditorContains(ed.page, ['Still quiet.'])
    observed.sawLeadAfterReload = seen.length
    observed.presenceAfterReload = await presenceIds(ed.page)
    // Visible again: back in the list and in awareness.
    await lead.page.uncheck('#invisible-toggle')
    await ed.page.waitForFunction((id) => [...document.querySelectorAll('#presence > li.avatar')].some((e) => e.dataset.userId === id), leadId, { timeout: WAIT_MS })
    await lead.page.click('.cm-content')
    await lead.page.keyboard.press('Control+Home')
    await ed.page.waitForFunction((id) => Object.values(window.troupe.docs).some((l) => [...l.provider.awareness.getStates().values()].some((s) => String(s.user?.id) === id)), leadId, { timeout: WAIT_MS })
    observed.presenceAfterVisible = await presenceIds(ed.page)
    observed.toggleFinal = await lead.page.$eval('#invisible-toggle', (e) => e.checked)
    observed.errors = [...lead.errors, ...ed.errors]
  },

  /** The snapshot button makes a record of the script and links to its page; a refusal is shown. */
  async snapshot(browser) {
    const lead = await signIn(browser, config.users.lead)
    await typeAtEnd(lead.page, 'INT. ARCHIVE - DAY\n\nEverything is kept.\n')
    await waitSynced(lead.page)
    // Let the server's group commit store the edit the snapshot freezes.
    await lead.page.waitForFunction(async (u) => (await (await fetch(u)).text()).includes('Everything is kept.'), `/api/projects/${config.project}/documents/script/content`, { timeout: WAIT_MS, polling: 200 })
    await lead.page.click('#snapshot-button')
    observed.dialogOpen = await lead.page.$eval('#snapshot-dialog', (e) => e.open)
    await lead.page.fill('#snapshot-title', config.snapshotTitle)
    await lead.page.click('#snapshot-create')
    await lead.page.waitForSelector('#snapshot-result a.snapshot-link', { timeout: WAIT_MS })
    observed.link = await lead.page.$eval('#snapshot-result a.snapshot-link', (a) => ({ href: a.getAttribute('href'), text: a.textContent }))
    observed.errorHiddenAfterFirst = await lead.page.$eval('#snapshot-error', (e) => e.hidden)
    // Unchanged since: the server refuses and the dialog says why.
    await lead.page.click('#snapshot-create')
    await lead.page.waitForSelector('#snapshot-error:not([hidden])', { timeout: WAIT_MS })
    observed.secondError = await lead.page.textContent('#snapshot-error')
    await lead.page.screenshot({ path: artifact('room-snapshot-dialog.png') })
    await Promise.all([
      lead.page.waitForURL((url) => url.pathname.startsWith('/records/'), { timeout: WAIT_MS }),
      lead.page.click('#snapshot-result a.snapshot-link'),
    ])
    await lead.page.waitForSelector('#record-title', { timeout: WAIT_MS })
    observed.recordPath = decodeURIComponent(new URL(lead.page.url()).pathname)
    observed.recordTitle = await lead.page.textContent('#record-title')
    observed.errors = lead.errors
  },

  /** An image attached to a panel in one browser shows in the other's card. */
  async panelimage(browser) {
    const lead = await signIn(browser, config.users.lead)
    const ed = await signIn(browser, config.users.editor)
    await lead.page.click('#add-panel')
    await waitPanels(ed.page, (cards) => cards.length === 1)
    const input = lead.page.locator('#panels > li.panel').first().locator('input.panel-image-input')
    // Checked in the browser: a text file is refused before any upload.
    const uploads = []
    lead.page.on('request', (r) => { if (r.url().endsWith('/api/blobs')) uploads.push(r.url()) })
    await input.setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') })
    observed.typeError = await lead.page.$eval('#panels > li.panel .panel-image-error', (e) => (e.hidden ? null : e.textContent))
    observed.uploadsAfterTypeError = uploads.length
    // Refused by the server: declared PNG, but the bytes are not.
    await input.setInputFiles({ name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('GIF89a-not-really-a-png') })
    await lead.page.waitForFunction(() => { const e = document.querySelector('#panels > li.panel .panel-image-error'); return !e.hidden && e.textContent.includes('not attached') }, null, { timeout: WAIT_MS })
    observed.serverError = await lead.page.textContent('#panels > li.panel .panel-image-error')
    await input.setInputFiles({ name: 'harbour.png', mimeType: 'image/png', buffer: await pngBuffer(6, 4) })
    await ed.page.waitForFunction(() => {
      const img = document.querySelector('#panels > li.panel img.panel-image')
      return img && !img.hidden && img.complete && img.naturalWidth > 0
    }, null, { timeout: WAIT_MS })
    observed.editorImage = await ed.page.$eval('#panels > li.panel', (c) => {
      const img = c.querySelector('img.panel-image')
      return { rid: c.dataset.image, src: img.getAttribute('src'), w: img.naturalWidth, h: img.naturalHeight, alt: img.alt }
    })
    observed.leadImage = await lead.page.$eval('#panels > li.panel', (c) => c.dataset.image)
    observed.leadErrorHidden = await lead.page.$eval('#panels > li.panel .panel-image-error', (e) => e.hidden)
    await ed.page.locator('#panels > li.panel').first().screenshot({ path: artifact('room-panel-image.png') })
    observed.errors = [...lead.errors, ...ed.errors]
  },
}

// ---------------------------------------------------------------- site pages (projects, calls, inbox)

/** Sign in and land on `path` (a site page, not a room). */
async function openAs(browser, user, path, { viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e && e.message ? e.message : e)))
  page.on('dialog', (d) => { observed.dialog = d.message(); d.dismiss() })
  const target = new URL(path, config.base)
  await page.goto(`${config.base}/accounts/login/?next=${encodeURIComponent(path)}`)
  await page.fill('#id_username', user.username)
  await page.fill('#id_password', user.password)
  await Promise.all([
    page.waitForURL((url) => url.pathname === target.pathname, { timeout: WAIT_MS }),
    page.click('button[type=submit]'),
  ])
  return { context, page, errors }
}

/** Submit a form whose answer is the same address (an error, or a redirect back). */
async function submitAndReload(page, button) {
  await Promise.all([page.waitForEvent('load', { timeout: WAIT_MS }), page.click(button)])
}

const overflowOf = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)

const xssProbe = (page) =>
  page.evaluate(() => ({
    xss: typeof window.__xss === 'undefined' ? null : window.__xss,
    injected:
      document.querySelectorAll('img[src="x"]').length +
      [...document.querySelectorAll('script')].filter((s) => s.textContent.includes('__xss')).length,
  }))

const bellOf = (page) =>
  page.$eval('#bell', (b) => {
    const count = b.querySelector('#bell-count')
    return { count: b.dataset.count, text: count.textContent, hidden: count.hidden, state: b.dataset.state, label: b.getAttribute('aria-label') }
  })

const callsPageIds = (page) => page.$$eval('#calls li.call', (items) => items.map((li) => Number(li.dataset.call)))

const siteScenarios = {
  /** Create a project from a template through the form (errors first), land in its room. */
  async sitecreate(browser) {
    const a = await openAs(browser, config.users.lead, '/projects/')
    await Promise.all([a.page.waitForURL((url) => url.pathname === '/projects/new', { timeout: WAIT_MS }), a.page.click('#new-project')])
    observed.templates = await a.page.$$eval('.template-choice', (cs) => cs.map((c) => c.textContent.replace(/\s+/g, ' ').trim()))
    await submitAndReload(a.page, '#project-form button[type=submit]')
    observed.emptyTitle = {
      error: await a.page.textContent('#id_title_error'),
      invalid: await a.page.getAttribute('#id_title', 'aria-invalid'),
      describedBy: await a.page.getAttribute('#id_title', 'aria-describedby'),
    }
    await a.page.fill('#id_title', config.title)
    await a.page.fill('#id_slug', config.takenSlug)
    await a.page.fill('#id_logline', config.title)
    await a.page.check('#id_visibility_0')
    await a.page.check('#template-life-narrated')
    await submitAndReload(a.page, '#project-form button[type=submit]')
    observed.takenSlug = {
      error: await a.page.textContent('#id_slug_error'),
      titleKept: await a.page.inputValue('#id_title'),
      templateKept: await a.page.isChecked('#template-life-narrated'),
    }
    observed.xssForm = await xssProbe(a.page)
    await a.page.fill('#id_slug', config.slug)
    await Promise.all([
      a.page.waitForURL((url) => url.pathname === `/p/${config.slug}/`, { timeout: WAIT_MS }),
      a.page.click('#project-form button[type=submit]'),
    ])
    await waitReady(a.page)
    observed.room = await a.page.$eval('#room', (e) => ({
      project: e.dataset.project,
      title: e.dataset.projectTitle,
      role: e.dataset.role,
      documents: JSON.parse(e.dataset.documents).map((d) => d.slug),
      heading: e.querySelector('h1').textContent,
    }))
    observed.xssRoom = await xssProbe(a.page)
    await a.page.goto(`${config.base}/projects/`)
    observed.listed = await a.page.$eval(`#my-projects li[data-slug="${config.slug}"]`, (li) => ({
      text: li.textContent.replace(/\s+/g, ' ').trim(),
      href: li.querySelector('a').getAttribute('href'),
      title: li.querySelector('a').textContent,
    }))
    observed.xssList = await xssProbe(a.page)
    await a.page.screenshot({ path: artifact('projects-page.png'), fullPage: true })
    observed.errors = a.errors
  },

  /** The calls page: payloads inert, the GET filter narrows (also without JS), interests saved. */
  async sitecalls(browser) {
    const v = await openAs(browser, config.users.viewer, '/calls/')
    observed.all = await callsPageIds(v.page)
    observed.titles = await v.page.$$eval('#calls .call-title', (hs) => hs.map((h) => h.textContent))
    observed.instructions = await v.page.$$eval('#calls .instructions', (ps) => ps.map((p) => p.textContent))
    observed.projects = await v.page.$$eval('#calls .call-project', (as) => as.map((a) => ({ text: a.textContent, href: a.getAttribute('href') })))
    observed.xss = await xssProbe(v.page)
    await v.page.screenshot({ path: artifact('calls-page.png'), fullPage: true })
    await v.page.check('label.filter-chip[data-interest="music"] input')
    await Promise.all([
      v.page.waitForURL((url) => url.searchParams.getAll('interest').join(',') === 'music', { timeout: WAIT_MS }),
      v.page.click('#calls-filter button[type=submit]'),
    ])
    observed.filteredUrl = v.page.url()
    observed.music = await callsPageIds(v.page)
    observed.musicInterests = await v.page.$$eval('#calls li.call', (ls) => ls.map((l) => l.dataset.interest))
    observed.countText = (await v.page.textContent('#calls-count')).trim()
    // Interests saved from this page come back marked, with a shortcut to filter by them.
    await v.page.$eval('details.interests', (d) => { d.open = true })
    await v.page.check('#interests-form input[value="writing"]')
    await v.page.check('#interests-form input[value="music"]')
    await submitAndReload(v.page, '#interests-form button[type=submit]')
    observed.afterSave = {
      url: v.page.url(),
      message: (await v.page.textContent('.messages')).trim(),
      starred: await v.page.$$eval('label.filter-chip .saved', (es) => es.map((e) => e.closest('label').dataset.interest)),
      shortcut: await v.page.getAttribute('#my-interests-filter', 'href'),
    }
    // The filtered address works as a plain page, without JavaScript.
    const state = await v.context.storageState()
    const noJs = await browser.newContext({ javaScriptEnabled: false, storageState: state })
    const n = await noJs.newPage()
    await n.goto(observed.filteredUrl)
    observed.noJsMusic = await callsPageIds(n)
    await noJs.close()
    // Phone width: no page scrolls sideways.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, storageState: state })
    const p = await phone.newPage()
    observed.phoneOverflow = {}
    for (const path of ['/', '/projects/', '/projects/new', '/calls/', '/inbox/']) {
      await p.goto(`${config.base}${path}`)
      observed.phoneOverflow[path] = await overflowOf(p)
      if (path === '/calls/') await p.screenshot({ path: artifact('calls-phone.png'), fullPage: true })
    }
    await phone.close()
    observed.errors = v.errors
  },

  /** The bell counts up live, the inbox lists the entry, marking it read brings it down. */
  async sitebell(browser) {
    const v = await openAs(browser, config.users.viewer, '/projects/')
    await v.page.waitForSelector('#bell[data-state="online"]', { timeout: WAIT_MS })
    observed.before = await bellOf(v.page)
    await ask('notify')
    await v.page.waitForFunction(() => document.querySelector('#bell').dataset.count === '1', null, { timeout: WAIT_MS })
    observed.after = await bellOf(v.page)
    observed.live = await v.page.textContent('#bell-live')
    observed.liveAttrs = await v.page.$eval('#bell-live', (e) => ({ live: e.getAttribute('aria-live'), role: e.getAttribute('role') }))
    observed.xssLive = await xssProbe(v.page)
    await Promise.all([v.page.waitForURL((url) => url.pathname === '/inbox/', { timeout: WAIT_MS }), v.page.click('#bell')])
    observed.inbox = await v.page.$$eval('#inbox li.entry', (ls) => ls.map((li) => ({
      id: Number(li.dataset.id),
      read: li.dataset.read,
      reason: li.querySelector('.reason').textContent,
      href: li.querySelector('a.reason')?.getAttribute('href') ?? null,
    })))
    observed.bellOnInbox = await bellOf(v.page)
    observed.xssInbox = await xssProbe(v.page)
    await v.page.screenshot({ path: artifact('inbox.png'), fullPage: true })
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, storageState: await v.context.storageState() })
    const p = await phone.newPage()
    await p.goto(`${config.base}/inbox/`)
    observed.inboxPhoneOverflow = await overflowOf(p)
    await p.screenshot({ path: artifact('inbox-phone.png'), fullPage: true })
    await phone.close()
    const id = observed.inbox[0].id
    await Promise.all([
      v.page.waitForURL((url) => url.hash === `#n-${id}`, { timeout: WAIT_MS }),
      v.page.click(`#n-${id} form.mark-read button`),
    ])
    observed.afterRead = await bellOf(v.page)
    observed.entryAfterRead = await v.page.$eval(`#n-${id}`, (li) => li.dataset.read)
    await v.page.waitForSelector('#bell[data-state="online"]', { timeout: WAIT_MS })
    observed.afterReadLive = await bellOf(v.page)
    // Signed out elsewhere: the next connect is refused with 4401 and the bell stops.
    const other = await v.context.newPage()
    await other.goto(`${config.base}/projects/`)
    await Promise.all([other.waitForURL((url) => url.pathname.startsWith('/accounts/login/'), { timeout: WAIT_MS }), other.click('header button[type=submit]')])
    await v.context.setOffline(true)
    await v.page.waitForSelector('#bell[data-state="offline"]', { timeout: WAIT_MS })
    await v.context.setOffline(false)
    await v.page.waitForSelector('#bell[data-state="stopped"]', { timeout: 2 * WAIT_MS })
    observed.stopped = await bellOf(v.page)
    observed.errors = v.errors
  },
}

// ---------------------------------------------------------------- offline copies (IndexedDB)

/**
 * Sign in with the page's document sockets behind a gate (`gate.block(part)` refuses those
 * whose path contains `part`, all by default, at once, as an unreachable server would, and
 * closes the open ones; `gate.hold(part)` leaves new ones open but unanswered; `gate.open()`
 * lets them through, closing the held ones) and a log of every socket's creation, open and
 * close code in `window.__sockets`.
 */
async function signInGated(browser, user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  await context.addInitScript(() => {
    const Native = window.WebSocket
    const log = (window.__sockets = [])
    window.WebSocket = class extends Native {
      constructor(url, protocols) {
        super(url, protocols)
        const entry = { url: String(url).split('?')[0], openedAt: performance.now(), openAt: null, code: null, reason: '', closedAt: null }
        log.push(entry)
        this.addEventListener('open', () => (entry.openAt = performance.now()))
        this.addEventListener('close', (e) => Object.assign(entry, { code: e.code, reason: e.reason, closedAt: performance.now() }))
      }
    }
  })
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e && e.message ? e.message : e)))
  page.on('dialog', (d) => d.accept())
  const routes = new Map() // page side -> server side
  const held = new Set() // page sides answered by nobody
  const refuse = (ws) => ws.close({ code: 1011, reason: 'unreachable (test gate)' }).catch(() => {})
  const gate = {
    mode: null, // null: through; 'block': refused at once; 'hold': open, never answered
    part: '',
    block(part = '/ws/yjs/') {
      Object.assign(gate, { mode: 'block', part })
      for (const [ws, server] of routes) {
        if (!ws.url().includes(part)) continue
        refuse(ws)
        server.close().catch(() => {})
        routes.delete(ws)
      }
    },
    hold(part) {
      Object.assign(gate, { mode: 'hold', part })
    },
    open() {
      gate.mode = null
      for (const ws of held) refuse(ws)
      held.clear()
    },
  }
  await page.routeWebSocket((url) => url.pathname.startsWith('/ws/yjs/'), (ws) => {
    if (gate.mode !== null && ws.url().includes(gate.part)) {
      if (gate.mode === 'hold') held.add(ws)
      else refuse(ws)
      return
    }
    const server = ws.connectToServer()
    routes.set(ws, server)
    // (An onClose handler turns off Playwright's forwarding of closes: do it here.)
    ws.onClose((code, reason) => {
      routes.delete(ws)
      server.close({ code, reason }).catch(() => {})
    })
  })
  const next = `/p/${config.project}/`
  await page.goto(`${config.base}/accounts/login/?next=${encodeURIComponent(next)}`)
  await page.fill('#id_username', user.username)
  await page.fill('#id_password', user.password)
  await Promise.all([
    page.waitForURL((url) => url.pathname === next, { timeout: WAIT_MS }),
    page.click('main button[type=submit]'),
  ])
  await waitReady(page)
  return { context, page, errors, gate }
}

const waitState = (page, state, timeout = WAIT_MS) =>
  page.waitForFunction((s) => document.querySelector('#connection').dataset.state === s, state, { timeout })

/** The names of this origin's IndexedDB databases that are offline copies of documents. */
const offlineStores = (page) =>
  page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name).filter((n) => n.startsWith('troupe-doc:')).sort())

/** The network is back: the page reconnects at once (the 'online' event), not at its next retry. */
async function networkBack(ctx) {
  await ctx.context.setOffline(true)
  await waitState(ctx.page, 'offline')
  await ctx.context.setOffline(false)
}

/** Reload with the sockets still refused; when the script first shows `needle` (ms after
 * navigation start) and what the page showed then. */
async function reloadOffline(page, needle) {
  await page.reload({ waitUntil: 'commit' })
  const shown = await page.waitForFunction(
    (n) => (window.troupe?.editor?.state.doc.toString().includes(n) ? performance.now() : false),
    needle,
    { timeout: WAIT_MS, polling: 'raf' },
  )
  return {
    shownAtMs: Math.round(await shown.jsonValue()),
    text: await editorText(page),
    synced: await page.evaluate(() => Object.values(window.troupe.docs).map((d) => d.synced)),
    documentSocketsGreeted: await page.evaluate(() => window.__sockets.filter((s) => s.url.includes('/ws/yjs/') && s.code === null).length),
  }
}

const offlineScenarios = {
  /**
   * Typed while the server is down, reloaded while it is still unreachable: the text is
   * there at once from IndexedDB, and reaches the fresh server process once it is back.
   */
  async offlinereload(browser) {
    const e = await signInGated(browser, config.users.editor)
    await typeAtEnd(e.page, config.before)
    await waitSynced(e.page)
    e.gate.block()
    await ask('stop')
    await waitState(e.page, 'offline')
    await typeAtEnd(e.page, config.offline)
    observed.beforeReload = await connection(e.page)
    await ask('start') // a fresh process; the document sockets stay refused
    observed.afterReload = await reloadOffline(e.page, config.offline.trim())
    observed.connectionAfterReload = await connection(e.page)
    observed.storesBefore = await offlineStores(e.page)
    e.gate.open()
    await networkBack(e)
    await waitState(e.page, 'synced', 20_000)
    observed.afterSync = await connection(e.page)
    observed.text = await editorText(e.page)
    observed.closeCodes = await e.page.evaluate(() => [...new Set(window.__sockets.map((s) => s.code).filter((c) => c !== null))])
    // Signing out deletes the copies (before the form is posted).
    const signOutAt = Date.now()
    await Promise.all([
      e.page.waitForURL((url) => url.pathname.startsWith('/accounts/login/'), { timeout: WAIT_MS }),
      e.page.click('#sign-out button[type=submit]'),
    ])
    observed.signOutMs = Date.now() - signOutAt
    observed.storesAfterSignOut = await offlineStores(e.page)
    observed.errors = e.errors
  },

  /**
   * A snapshot is restored on the server (a forward edit) and the log compacted while the
   * page is cut off with an edit of its own; the reloaded page's copy predates the restore
   * and still merges: no refusal, the same text on both sides.
   */
  async offlinerestore(browser) {
    const e = await signInGated(browser, config.users.editor)
    await typeAtEnd(e.page, config.first)
    await waitSynced(e.page)
    await ask('snapshot')
    await typeAtEnd(e.page, config.second)
    await waitSynced(e.page)
    e.gate.block()
    await waitState(e.page, 'offline')
    await typeAtEnd(e.page, config.offline)
    await ask('restore') // and wait for the room to unload and compact
    observed.afterReload = await reloadOffline(e.page, config.offline.trim())
    e.gate.open()
    await networkBack(e)
    await waitState(e.page, 'synced', 20_000)
    // Let the restore's deletion show (it arrives with the sync).
    await e.page.waitForFunction((t) => !window.troupe.editor.state.doc.toString().includes(t), config.second.trim(), { timeout: WAIT_MS })
    observed.afterSync = await connection(e.page)
    observed.text = await editorText(e.page)
    observed.alertHidden = await e.page.$eval('#room-alert', (el) => el.hidden)
    observed.closeCodes = await e.page.evaluate(() => [...new Set(window.__sockets.map((s) => s.code).filter((c) => c !== null))])
    // Access removed: both documents are closed with 4403 and their copies deleted.
    observed.storesBeforeRemoval = await offlineStores(e.page)
    await ask('remove-editor')
    await waitState(e.page, 'stopped', 2 * WAIT_MS)
    await e.page.waitForFunction(async () => !(await indexedDB.databases()).some((d) => d.name.startsWith('troupe-doc:')), null, { timeout: WAIT_MS })
    observed.storesAfterRemoval = await offlineStores(e.page)
    observed.errors = e.errors
  },

  /**
   * A server admitting one connection at a time, none waiting, while the database is held.
   * The storyboard's socket gets the slot and waits (accepted, not yet greeted) while the
   * user types into a panel made offline: nothing of it may reach the server before the
   * sync (it builds on structs the server lacks: 4422). The script's socket is answered
   * 1013; it retries after at least a second with jitter, keeps what was typed meanwhile,
   * and both end synced.
   */
  async busy(browser) {
    const e = await signInGated(browser, config.users.editor)
    await typeAtEnd(e.page, config.before)
    await waitSynced(e.page)
    await e.context.setOffline(true)
    await waitState(e.page, 'offline')
    await typeAtEnd(e.page, config.offline)
    await e.page.locator('#add-panel').click()
    await e.page.locator('textarea.panel-action').first().fill(config.panel)
    const before = await e.page.evaluate(() => window.__sockets.length)
    // The room and bell sockets authenticate on the database before they are accepted:
    // they would sit in CONNECTING, and Chromium opens one socket per host at a time.
    await e.page.routeWebSocket((url) => !url.pathname.startsWith('/ws/yjs/'), () => {})
    await ask('hold') // the database is held: the one admission in progress hangs
    e.gate.hold('/script') // so that the storyboard's socket is the one that waits
    await e.context.setOffline(false)
    await e.page.waitForFunction(
      (n) => window.__sockets.slice(n).some((s) => s.url.endsWith('/board') && s.openAt !== null && s.code === null),
      before,
      { timeout: WAIT_MS },
    )
    // Typed into the offline panel while its socket is open but not greeted.
    await e.page.locator('textarea.panel-action').first().click()
    await e.page.keyboard.press('End')
    await e.page.keyboard.type(config.panelMore)
    e.gate.open() // the script's socket is closed and retried: the server answers 1013
    await e.page.waitForFunction(
      (n) => window.__sockets.slice(n).some((s) => s.url.endsWith('/script') && s.code === 1013),
      before,
      { timeout: WAIT_MS },
    )
    await typeAtEnd(e.page, config.during)
    observed.whileRefused = await connection(e.page)
    await ask('release')
    await waitState(e.page, 'synced', 20_000)
    observed.sockets = await e.page.evaluate((n) => window.__sockets.slice(n).filter((s) => s.url.includes('/ws/yjs/')), before)
    observed.afterSync = await connection(e.page)
    observed.text = await editorText(e.page)
    observed.panels = await panelsOf(e.page)
    observed.alertHidden = await e.page.$eval('#room-alert', (el) => el.hidden)
    observed.errors = e.errors
  },
}

// ---------------------------------------------------------------- main

const scenario = scenarios[scenarioName] ?? siteScenarios[scenarioName] ?? offlineScenarios[scenarioName]
if (!scenario) {
  process.stdout.write(JSON.stringify({ ok: false, error: `unknown scenario ${scenarioName}` }) + '\n')
  process.exit(2)
}
let browser
try {
  browser = await chromium.launch({ executablePath: config.chromium, args: CHROMIUM_FLAGS, timeout: 30_000 })
  await scenario(browser)
  process.stdout.write(JSON.stringify({ ok: true, ...observed }) + '\n')
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e), ...observed }) + '\n')
} finally {
  await browser?.close().catch(() => {})
}
// stdin stays open for ask(): leave explicitly (stdout to a pipe is synchronous on Linux).
process.exit(0)
