#!/usr/bin/env node
// `npm install` hook of the polyfuse package: uses a prebuilt native module when one for this
// platform is present (polyfuse.<platform>.node next to index.js) and this is not a git checkout,
// otherwise builds it from source with cargo (needs Rust; the build takes a couple of minutes). Cargo's target directory
// is $CARGO_TARGET_DIR, default ~/.cache/polyfuse/target: outside node_modules and reused.
'use strict'
const { execFileSync } = require('node:child_process')
const { copyFileSync, existsSync, readdirSync } = require('node:fs')
const { homedir } = require('node:os')
const { join, resolve } = require('node:path')

const root = resolve(__dirname, '..')

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

const target = join(root, `polyfuse.${platformSuffix()}.node`)
// In a git checkout (developing polyfuse) always run cargo, which is a no-op when nothing
// changed, so a stale module never outlives a source change.
const checkout = existsSync(join(root, '.git'))
if (existsSync(target) && !checkout && !process.env.POLYFUSE_BUILD_FROM_SOURCE) {
  console.log(`polyfuse: using the prebuilt ${target}`)
  process.exit(0)
}

const cargoTarget = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'polyfuse', 'target')
console.log(`polyfuse: building the native module for ${platformSuffix()} from source with cargo (target dir ${cargoTarget})`)
try {
  execFileSync('cargo', ['build', '--release', '--locked', '-p', 'polyfuse-node'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, CARGO_TARGET_DIR: cargoTarget },
  })
} catch (e) {
  console.error('polyfuse: building the native module failed. Install Rust (https://rustup.rs) and retry, or use a prebuilt package.')
  process.exit(1)
}
const libName = { darwin: 'libpolyfuse_node.dylib', win32: 'polyfuse_node.dll' }[process.platform] || 'libpolyfuse_node.so'
const built = join(cargoTarget, 'release', libName)
if (!existsSync(built)) {
  console.error(`polyfuse: cargo finished but ${built} is missing; found: ${readdirSync(join(cargoTarget, 'release')).join(', ')}`)
  process.exit(1)
}
copyFileSync(built, target)
console.log(`polyfuse: built ${target}`)
