// What `npm pack` (and `npm install --install-links`) takes from the repository: every file an
// entry of the exports map points at, the licence files, the install script, what it hashes to
// decide whether to build, and the built module with its stamp.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { test } from 'node:test'

import { ROOT } from './helpers.mjs'

const require = createRequire(import.meta.url)
const { SOURCES } = require('../../scripts/install-node.js')

test('npm pack carries the entries, typings, licences, install script, its sources and the built module', () => {
  const [report] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' }))
  const packed = new Set(report.files.map((f) => f.path))
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  const targets = (v) => (typeof v === 'string' ? [v] : Object.values(v).flatMap(targets))
  const wanted = [...targets(pkg.exports), ...targets(pkg.bin), pkg.main, pkg.types, 'LICENSE-MIT', 'LICENSE-APACHE', 'scripts/install-node.js'].map((p) => p.replace(/^\.\//, ''))
  for (const path of wanted) assert.ok(packed.has(path), `${path} is not packed`)
  for (const source of SOURCES) {
    assert.ok([...packed].some((p) => p === source || p.startsWith(`${source}/`)), `${source} is not packed (install-node.js hashes it)`)
  }
  const module = readdirSync(ROOT).find((f) => /^polyfuse\..+\.node$/.test(f))
  assert.ok(module && packed.has(module) && packed.has(`${module}.stamp`), 'the built module and its stamp are not packed')
  assert.equal(pkg.license, 'MIT OR Apache-2.0')
  assert.match(readFileSync(join(ROOT, 'LICENSE-MIT'), 'utf8'), /^MIT License/)
  assert.match(readFileSync(join(ROOT, 'LICENSE-APACHE'), 'utf8'), /Apache License\s+Version 2\.0/)
})
