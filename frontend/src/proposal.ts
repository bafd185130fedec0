/**
 * The proposal page's countdown: ticks the comment window down each second from the
 * deadline the server rendered (`#countdown[data-deadline]`), measured on the server's
 * clock (`data-now`, so a wrong clock on this device does not move the deadline), and at
 * zero says "Window closed" and closes the forms that only work while the window is open.
 * Without this script the page still shows the deadline as a date.
 */

const SECOND = 1000

/** `ms` as "2 days 03:04:05 left" (days only when there are any). */
function remaining(ms: number): string {
  const total = Math.ceil(ms / SECOND)
  const days = Math.floor(total / 86_400)
  const clock = [Math.floor(total / 3600) % 24, Math.floor(total / 60) % 60, total % 60]
    .map((n) => String(n).padStart(2, '0'))
    .join(':')
  const prefix = days > 0 ? `${days} day${days === 1 ? '' : 's'} ` : ''
  return `${prefix}${clock} left`
}

function closeWindow(box: HTMLElement, left: HTMLElement): void {
  box.dataset.state = 'closed'
  left.textContent = 'Window closed'
  const status = document.getElementById('window-status')
  if (status) status.textContent = 'The comment window has closed.'
  for (const set of document.querySelectorAll<HTMLFieldSetElement>('fieldset[data-closes-with-window]')) {
    set.disabled = true
  }
  for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-opens-with-close]')) {
    button.disabled = false
  }
}

function start(): void {
  const box = document.getElementById('countdown')
  const left = document.getElementById('countdown-left')
  if (!box || !left || box.dataset.state !== 'open') return
  const deadline = Date.parse(box.dataset.deadline ?? '')
  const serverNow = Date.parse(box.dataset.now ?? '')
  if (Number.isNaN(deadline)) return
  const skew = Number.isNaN(serverNow) ? 0 : serverNow - Date.now()
  const tick = (): void => {
    const ms = deadline - (Date.now() + skew)
    if (ms <= 0) {
      closeWindow(box, left)
      return
    }
    left.textContent = remaining(ms)
    // Wake on the next whole second of what is left, so the display never lags a second.
    setTimeout(tick, ms % SECOND || SECOND)
  }
  tick()
}

start()
