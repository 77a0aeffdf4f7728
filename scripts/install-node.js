#!/usr/bin/env node
// `npm install` hook of the polyfuse package: makes sure `polyfuse.<platform>.node` next to
// index.js is present and built from the sources beside it, building it with cargo only when it
// is missing or stale.
//
// A build writes a stamp next to the module (`polyfuse.<platform>.node.stamp`): a hash of the
// Rust sources and Cargo.lock it was built from, and a hash of the module itself. The module is
// fresh when both still match, so a later `npm install` (in a consumer app linking a checkout,
// or in a copy of a built checkout) does nothing, and never replaces a fresh module with one from
// another cargo target dir. A module without a stamp outside a git checkout is a prebuilt one and
// is used as it is. `POLYFUSE_BUILD_FROM_SOURCE=1` forces a build.
//
// A build runs `cargo build --release --locked -p polyfuse-node` (needs Rust and a C compiler;
// minutes on a small machine) in $CARGO_TARGET_DIR (default ~/.cache/polyfuse/target, outside
// node_modules, reused). Cargo's output goes to a log file; a progress line is printed every few
// seconds and the log's end and path on failure. `node scripts/install-node.js --check` only says
// what it would do (exit 0 when nothing is to be built).
'use strict'
const { spawn } = require('node:child_process')
const { createHash } = require('node:crypto')
const fs = require('node:fs')
const { homedir } = require('node:os')
const { join, relative, resolve } = require('node:path')

/** The files a build of polyfuse-node depends on, relative to the package root. */
const SOURCES = ['Cargo.toml', 'Cargo.lock', 'core/Cargo.toml', 'core/src', 'bindings-node/Cargo.toml', 'bindings-node/build.rs', 'bindings-node/src']
const PROGRESS_EVERY_MS = 10_000

function platformSuffix() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
    const glibc = report?.header?.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'darwin') return `darwin-${arch}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function files(root, path) {
  const full = join(root, path)
  if (!fs.existsSync(full)) return []
  if (!fs.statSync(full).isDirectory()) return [path]
  return fs
    .readdirSync(full)
    .sort()
    .flatMap((name) => files(root, join(path, name)))
}

/** A hash of every source file a build depends on (paths and contents). */
function sourcesHash(root) {
  const hash = createHash('sha256')
  for (const path of SOURCES.flatMap((p) => files(root, p))) {
    hash.update(`${path.split('\\').join('/')}\0`)
    hash.update(fs.readFileSync(join(root, path)))
    hash.update('\0')
  }
  return hash.digest('hex')
}

function fileHash(path) {
  return createHash('sha256').update(fs.readFileSync(path)).digest('hex')
}

function paths(root) {
  const module = join(root, `polyfuse.${platformSuffix()}.node`)
  return { module, stamp: `${module}.stamp` }
}

function readStamp(path) {
  try {
    return JSON.parse(fs.readFileSync(path, 'utf8'))
  } catch {
    return null
  }
}

/**
 * What to do for the package at `root`: `{ build: false, reason }` when the module is fresh or
 * prebuilt, `{ build: true, reason }` when it is missing, stale or a build is forced.
 */
function decide(root, env = process.env) {
  const { module, stamp } = paths(root)
  if (env.POLYFUSE_BUILD_FROM_SOURCE) return { build: true, reason: 'POLYFUSE_BUILD_FROM_SOURCE is set' }
  if (!fs.existsSync(module)) return { build: true, reason: `${relative(root, module)} is missing` }
  const built = readStamp(stamp)
  if (!built) {
    if (fs.existsSync(join(root, '.git'))) {
      return { build: true, reason: `${relative(root, module)} has no build stamp (built by another tool)` }
    }
    return { build: false, reason: `using the prebuilt ${relative(root, module)}` }
  }
  if (built.sources !== sourcesHash(root)) return { build: true, reason: 'the Rust sources or Cargo.lock changed since the last build' }
  if (built.module !== fileHash(module)) return { build: true, reason: `${relative(root, module)} changed since it was built` }
  return { build: false, reason: `${relative(root, module)} is up to date (built from these sources)` }
}

/** The progress line for a build running since `startedAt`, from the end of its log. */
function progressLine(logPath, startedAt, now = Date.now()) {
  let tail = ''
  try {
    const fd = fs.openSync(logPath, 'r')
    const size = fs.fstatSync(fd).size
    const buf = Buffer.alloc(Math.min(size, 4096))
    fs.readSync(fd, buf, 0, buf.length, size - buf.length)
    fs.closeSync(fd)
    tail = buf.toString('utf8')
  } catch {}
  const compiled = [...tail.matchAll(/^\s*Compiling (\S+)/gm)].at(-1)?.[1]
  const seconds = Math.round((now - startedAt) / 1000)
  return `polyfuse: building the native module ... ${seconds} s${compiled ? ` (compiling ${compiled})` : ''}`
}

function lastLines(path, n) {
  try {
    return fs.readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n')
  } catch {
    return ''
  }
}

async function build(root) {
  const cargoTarget = resolve(process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'polyfuse', 'target'))
  fs.mkdirSync(cargoTarget, { recursive: true })
  const logPath = join(cargoTarget, 'polyfuse-node-build.log')
  const sources = sourcesHash(root)
  console.log(`polyfuse: building the native module for ${platformSuffix()} with cargo (release; target dir ${cargoTarget}; log ${logPath})`)
  const log = fs.openSync(logPath, 'w')
  const startedAt = Date.now()
  const code = await new Promise((done) => {
    const child = spawn('cargo', ['build', '--release', '--locked', '-p', 'polyfuse-node'], {
      cwd: root,
      stdio: ['ignore', log, log],
      env: { ...process.env, CARGO_TARGET_DIR: cargoTarget, CARGO_TERM_COLOR: 'never' },
    })
    const timer = setInterval(() => console.log(progressLine(logPath, startedAt)), PROGRESS_EVERY_MS)
    child.once('error', (e) => {
      clearInterval(timer)
      fs.writeSync(log, `\npolyfuse: could not run cargo: ${e.message}\n`)
      done(-1)
    })
    child.once('exit', (c) => {
      clearInterval(timer)
      done(c ?? -1)
    })
  })
  fs.closeSync(log)
  if (code !== 0) {
    console.error(lastLines(logPath, 30))
    console.error(`polyfuse: building the native module failed (full log: ${logPath}).`)
    console.error('It needs Rust (https://rustup.rs) and a C compiler (cc / gcc / clang) on the PATH.')
    process.exit(1)
  }
  const libName = { darwin: 'libpolyfuse_node.dylib', win32: 'polyfuse_node.dll' }[process.platform] || 'libpolyfuse_node.so'
  const lib = join(cargoTarget, 'release', libName)
  if (!fs.existsSync(lib)) {
    console.error(`polyfuse: cargo finished but ${lib} is missing (log: ${logPath})`)
    process.exit(1)
  }
  // Copy then rename, so a process that has the old module loaded keeps a valid file.
  const { module, stamp } = paths(root)
  const partial = `${module}.${process.pid}.partial`
  fs.copyFileSync(lib, partial)
  fs.renameSync(partial, module)
  const record = { sources, module: fileHash(module), profile: 'release', cargoTargetDir: cargoTarget, builtAt: new Date().toISOString() }
  fs.writeFileSync(stamp, `${JSON.stringify(record, null, 2)}\n`)
  console.log(`polyfuse: built ${module} in ${Math.round((Date.now() - startedAt) / 1000)} s`)
}

async function main() {
  const root = resolve(__dirname, '..')
  const decision = decide(root)
  if (process.argv.includes('--check')) {
    console.log(`polyfuse: ${decision.build ? 'would build' : 'nothing to build'}: ${decision.reason}`)
    process.exit(decision.build ? 1 : 0)
  }
  if (!decision.build) {
    console.log(`polyfuse: ${decision.reason}`)
    return
  }
  console.log(`polyfuse: ${decision.reason}`)
  await build(root)
}

if (require.main === module) main()

module.exports = { decide, progressLine, sourcesHash, SOURCES }
