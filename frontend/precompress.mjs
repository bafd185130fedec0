// A Vite plugin (plain JavaScript: the TypeScript check has no Node types): writes
// <file>.gz and <file>.br beside each built script and stylesheet, from the files as
// written (after every other plugin's last change). whitenoise serves them to clients that
// accept the encoding, with "Vary: Accept-Encoding"; it compresses nothing at run time.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'

export function precompress() {
  return {
    name: 'troupe-precompress',
    apply: 'build',
    enforce: 'post',
    writeBundle(options, bundle) {
      for (const fileName of Object.keys(bundle)) {
        if (!/\.(js|css)$/.test(fileName)) continue
        const path = join(options.dir, fileName)
        const bytes = readFileSync(path)
        writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }))
        const params = { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length }
        writeFileSync(`${path}.br`, brotliCompressSync(bytes, { params }))
      }
    },
  }
}
