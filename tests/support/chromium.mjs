/**
 * The system Chromium through the frontend's playwright-core, with the flags every
 * browser test launches it with (headless, no sandbox, no background traffic).
 */
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const FRONTEND = resolve(HERE, '..', '..', 'frontend')
const require = createRequire(join(FRONTEND, 'package.json'))

export const { chromium } = require('playwright-core')

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
