import { defineConfig } from 'vite'
import { precompress } from './precompress.mjs'

// Built into dist/ (git-ignored); Django serves dist/ as static files (STATICFILES_DIRS),
// and workspace/pages/bundles.py finds the hashed file names in dist/.vite/manifest.json.
//
// Every file under troupe/ is named <name>-<8-character hash>.<ext>: config/settings.py's
// WHITENOISE_IMMUTABLE_FILE_TEST matches exactly that, and such files are served with
// "Cache-Control: max-age=315360000, public, immutable" (a new build has new names).
const HASHED = 'troupe/[name]-[hash]'

export default defineConfig({
  base: '/static/',
  plugins: [precompress()],
  build: {
    outDir: 'dist',
    assetsDir: 'troupe',
    emptyOutDir: true,
    manifest: true,
    target: 'es2022',
    sourcemap: false,
    // No polyfill (every supported browser has <link rel=modulepreload>), but a dynamic
    // import fetches the chunks it imports in parallel with itself. The entry's own
    // static imports are preloaded by the page (workspace/pages/bundles.py).
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: { room: 'src/main.ts', app: 'src/app.ts', proposal: 'src/proposal.ts' },
      output: {
        entryFileNames: `${HASHED}.js`,
        chunkFileNames: `${HASHED}.js`,
        assetFileNames: `${HASHED}[extname]`,
      },
    },
  },
})
