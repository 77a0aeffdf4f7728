// Nothing here is needed for polyfuse. This app sits inside the polyfuse repository, where
// Next.js would take the repository (which has its own lockfile) for the workspace root; an app
// of your own is its own root. Pinning the root to this directory makes the test see what your
// app sees: only what is inside it (polyfuse copied into node_modules, see .npmrc).
import { fileURLToPath } from 'node:url'

export default {
  turbopack: { root: fileURLToPath(new URL('.', import.meta.url)) },
}
