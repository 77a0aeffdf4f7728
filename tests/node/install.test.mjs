// scripts/install-node.js (the `npm install` hook) builds only when the native module is missing
// or stale, never replaces a fresh module with one from another cargo target dir, and reports a
// long build's progress.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'

import { ROOT } from './helpers.mjs'

const require = createRequire(import.meta.url)
const { decide, progressLine, SOURCES } = require('../../scripts/install-node.js')
const SCRIPT = join(ROOT, 'scripts', 'install-node.js')
const moduleName = readdirSync(ROOT).find((f) => /^polyfuse\..+\.node$/.test(f))
const sha = (path) => createHash('sha256').update(readFileSync(path)).digest('hex')

describe('install-node.js', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'polyfuse-install-'))
  after(() => rmSync(scratch, { recursive: true, force: true }))

  test('the checkout has a module with a stamp that matches its sources (npm install ran)', () => {
    assert.ok(moduleName, 'no polyfuse.<platform>.node at the root: run npm install')
    const d = decide(ROOT, {})
    assert.equal(d.build, false, d.reason)
    assert.match(d.reason, /up to date/)
  })

  test('npm install again with another CARGO_TARGET_DIR: no cargo run, the module untouched', () => {
    const otherTarget = join(scratch, 'other-target')
    mkdirSync(otherTarget)
    const module = join(ROOT, moduleName)
    const before = { sha: sha(module), mtime: statSync(module).mtimeMs }
    const out = execFileSync(process.execPath, [SCRIPT], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, CARGO_TARGET_DIR: otherTarget, POLYFUSE_BUILD_FROM_SOURCE: '' },
    })
    assert.match(out, /up to date/)
    assert.deepEqual(readdirSync(otherTarget), [], 'cargo ran in the other target dir')
    assert.deepEqual({ sha: sha(module), mtime: statSync(module).mtimeMs }, before)
  })

  test('a copy of the package: fresh, then stale when a source, Cargo.lock or the module changes', () => {
    const pkg = join(scratch, 'pkg')
    for (const path of [...SOURCES, moduleName, `${moduleName}.stamp`]) {
      if (existsSync(join(ROOT, path))) cpSync(join(ROOT, path), join(pkg, path), { recursive: true })
    }
    const d = (env = {}) => decide(pkg, env)
    assert.deepEqual([d().build, d().reason], [false, `${moduleName} is up to date (built from these sources)`])

    const lib = join(pkg, 'core', 'src', 'lib.rs')
    const original = readFileSync(lib)
    appendFileSync(lib, '\n// changed\n')
    assert.equal(d().build, true)
    assert.match(d().reason, /sources or Cargo.lock changed/)
    writeFileSync(lib, original)
    assert.equal(d().build, false)

    const lock = join(pkg, 'Cargo.lock')
    const lockText = readFileSync(lock)
    appendFileSync(lock, '\n')
    assert.match(d().reason, /sources or Cargo.lock changed/)
    writeFileSync(lock, lockText)

    const module = join(pkg, moduleName)
    const bytes = readFileSync(module)
    appendFileSync(module, 'x')
    assert.equal(d().build, true)
    assert.match(d().reason, /changed since it was built/)
    writeFileSync(module, bytes)

    assert.equal(d({ POLYFUSE_BUILD_FROM_SOURCE: '1' }).build, true)

    // No stamp: a prebuilt module outside a git checkout, an unknown one inside.
    rmSync(`${module}.stamp`)
    assert.deepEqual([d().build, d().reason], [false, `using the prebuilt ${moduleName}`])
    mkdirSync(join(pkg, '.git'))
    assert.equal(d().build, true)
    assert.match(d().reason, /no build stamp/)

    rmSync(module)
    assert.equal(d().build, true)
    assert.match(d().reason, /is missing/)
  })

  test('a long build prints its elapsed time and the crate being compiled', () => {
    const log = join(scratch, 'build.log')
    writeFileSync(log, '   Compiling tokio v1.48.0\n   Compiling reqwest v0.13.5\n')
    assert.equal(progressLine(log, 1_000, 43_400), 'polyfuse: building the native module ... 42 s (compiling reqwest)')
    assert.equal(progressLine(join(scratch, 'absent.log'), 0, 5_000), 'polyfuse: building the native module ... 5 s')
  })
})
