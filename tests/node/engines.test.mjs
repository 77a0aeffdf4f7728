// The Node this runs on satisfies the `engines` of every package the test command installs (the
// dev tools at the root and Next.js in tests/nextjs), so `npm install` prints no EBADENGINE, and
// the documented minimum (scripts/env.sh, README) is what those packages allow.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { test } from 'node:test'

import { ROOT } from './helpers.mjs'

const require = createRequire(import.meta.url)
const semver = require('semver')

/** `[path, engines.node]` of every package of the lockfile at `dir` that is installed. */
function installedEngines(dir) {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'))
  return Object.entries(lock.packages)
    .filter(([path, p]) => path && p.engines?.node && existsSync(join(dir, path)))
    .map(([path, p]) => [path, p.engines.node])
}

for (const dir of [ROOT, join(ROOT, 'tests', 'nextjs')]) {
  test(`every installed package of ${dir === ROOT ? 'the root' : 'tests/nextjs'} accepts Node ${process.version}`, (t) => {
    if (!existsSync(join(dir, 'node_modules'))) return t.skip('not installed (scripts/test.sh installs it)')
    const engines = installedEngines(dir)
    assert.ok(engines.length > 5)
    const refused = engines.filter(([, range]) => !semver.satisfies(process.version, range))
    assert.deepEqual(refused, [])
  })
}

test('the documented minimum, Node 20.17, is accepted by every package the test command installs', () => {
  const engines = [ROOT, join(ROOT, 'tests', 'nextjs')].filter((d) => existsSync(join(d, 'node_modules'))).flatMap(installedEngines)
  const refused = engines.filter(([, range]) => !semver.satisfies('20.17.0', range))
  assert.deepEqual(refused, [])
  assert.match(readFileSync(join(ROOT, 'scripts', 'env.sh'), 'utf8'), /Node\.js >= 20\.17/)
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  assert.ok(semver.satisfies('20.17.0', pkg.engines.node) && semver.satisfies(process.version, pkg.engines.node))
})
