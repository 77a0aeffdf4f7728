// The Node demo (examples/demo.mjs: a routed call, a stream, a fusion) and the README's Node quick start run, as an app would run
// them, and print the same output on every run.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'

import { ROOT } from './helpers.mjs'

const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.endsWith('_API_KEY')))

function runTwice(file, cwd) {
  return [0, 1].map(() => execFileSync(process.execPath, [file], { cwd, env, encoding: 'utf8', timeout: 60_000 }))
}

/** The first ```lang block under the README heading `## section`. */
function codeBlock(section, lang) {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const body = readme.split(`\n## ${section}\n`)[1].split('\n## ')[0]
  return body.split(`\`\`\`${lang}\n`)[1].split('\n```')[0]
}

const scratch = mkdtempSync(join(tmpdir(), 'polyfuse-demo-'))
after(() => rmSync(scratch, { recursive: true, force: true }))

test('examples/demo.mjs prints the same output every run, usage events last', () => {
  const [first, second] = runTwice(join(ROOT, 'examples', 'demo.mjs'), ROOT)
  assert.equal(first, second)
  const lines = first.trimEnd().split('\n')
  assert.deepEqual(lines.slice(-4), [
    "usage events (one per call; attempts have their own; a fusion's members are under its own):",
    '  chat ok: 10 in / 7 out, 2 attempt(s)',
    '  mock/storyteller ok (stream): 12 in / 10 out, 1 attempt(s)',
    '  fusion ok: 256 in / 39 out, 4 attempt(s)',
  ])
  assert.ok(lines.includes('  Once upon a time, a request found its way home.'))
  // The fusion: the judge's (scripted) winner returned verbatim, every member answered.
  assert.ok(lines.includes('  The capital of France is Paris. (candidate B, mock/analyst-b)'))
  assert.ok(lines.includes('  scores {"A":7,"B":9,"C":1}; 4 calls; parse path json'))
})

test("the README's Node quick start runs as quickstart.mjs in an app and prints the same output every run", () => {
  const app = join(scratch, 'app')
  mkdirSync(join(app, 'node_modules'), { recursive: true })
  symlinkSync(ROOT, join(app, 'node_modules', 'polyfuse'), 'dir')
  writeFileSync(join(app, 'quickstart.mjs'), codeBlock('Node quick start', 'js'))
  const [first, second] = runTwice(join(app, 'quickstart.mjs'), app)
  assert.equal(first, second)
  const lines = first.trimEnd().split('\n')
  assert.equal(lines[0], 'Hello 1')
  assert.match(lines.at(-3), /^InvalidRequestError \(invalid_request\), retry later: false$/)
  assert.deepEqual(lines.slice(-2).map((l) => l.split(' ').slice(0, 3).join(' ')), ['usage: mock/echo ok', 'usage: mock/storyteller ok'])
})
