import { defineConfig } from 'vite'

// Built into dist/ (git-ignored); Django serves dist/ as static files (STATICFILES_DIRS),
// and workspace/pages.py finds the hashed file names in dist/.vite/manifest.json.
export default defineConfig({
  base: '/static/',
  build: {
    outDir: 'dist',
    assetsDir: 'troupe',
    emptyOutDir: true,
    manifest: true,
    target: 'es2022',
    sourcemap: false,
    modulePreload: false,
    rollupOptions: {
      input: { room: 'src/main.ts', app: 'src/app.ts', proposal: 'src/proposal.ts' },
    },
  },
})
