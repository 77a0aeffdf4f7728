// The Node bench runner: one process per client (`--client NAME`, see clients.mjs), driven by
// the harness (bench/harness/bench.py) over stdin/stdout in JSON lines, with the same commands
// and answers as bench/python/runner.py: `measure`, `in_flight`, `growth`, `quit`. Answers are
// stdout lines starting with `@@bench `; anything else on stdout is ignored by the harness.
import { readFileSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

import { makeClient } from './clients.mjs'

const now = () => performance.now() / 1e3

function cpuS() {
  const u = process.cpuUsage() // getrusage(RUSAGE_SELF): every thread of the process
  return (u.user + u.system) / 1e6
}

/** VmRSS and VmHWM of this process in MB. */
export function mem() {
  const status = readFileSync('/proc/self/status', 'utf8')
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 }
}

/** Resets VmHWM to the current RSS, so that a phase reports its own peak. */
function resetPeakRss() {
  try {
    writeFileSync('/proc/self/clear_refs', '5')
    return true
  } catch {
    return false
  }
}

function pct(sorted, p) {
  if (!sorted.length) return null
  const k = Math.max(0, Math.min(sorted.length - 1, Math.round((p / 100) * sorted.length + 0.5) - 1))
  return sorted[k] * 1e3
}

async function runCalls(op, job, concurrency, maxCalls, deadline) {
  const lat = []
  const ttft = []
  const errors = []
  let left = maxCalls
  const worker = async () => {
    while (left > 0 && (deadline === null || now() < deadline)) {
      left--
      const t = now()
      let first
      try {
        first = await op(job)
      } catch (err) {
        errors.push(String(err?.stack ?? err).slice(0, 300))
        if (errors.length > 50 && !lat.length) return // everything fails: stop instead of spinning
        continue
      }
      lat.push(now() - t)
      if (first !== null && first !== undefined) ttft.push(first)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { lat, ttft, errors }
}

async function measure(op, job, cmd) {
  const concurrency = cmd.concurrency
  const warm = cmd.warmup_calls ?? concurrency
  await runCalls(op, job, concurrency, warm, now() + (cmd.warmup_s ?? 30))
  globalThis.gc?.()
  const peakIsPhase = resetPeakRss()
  const c0 = cpuS()
  const t0 = now()
  const out = await runCalls(op, job, concurrency, cmd.max_calls ?? 1e12, t0 + cmd.duration_s)
  const wall = now() - t0
  const used = cpuS() - c0
  const lat = out.lat.sort((a, b) => a - b)
  const ttft = out.ttft.sort((a, b) => a - b)
  const calls = lat.length
  const m = mem()
  return {
    calls,
    errors: out.errors.length,
    first_error: out.errors[0] ?? null,
    wall_s: wall,
    cpu_s: used,
    calls_per_s: wall > 0 ? calls / wall : 0,
    cpu_us_per_call: calls ? (used / calls) * 1e6 : null,
    p50_ms: pct(lat, 50),
    p99_ms: pct(lat, 99),
    ttft_p50_ms: pct(ttft, 50),
    ttft_p99_ms: pct(ttft, 99),
    peak_rss_mb: m.hwmMb,
    peak_is_phase: peakIsPhase,
    rss_mb: m.rssMb,
  }
}

async function inFlight(op, job, cmd) {
  const n = cmd.n
  await runCalls(op, job, Math.min(n, 50), 100, null) // warm: connections, JIT
  globalThis.gc?.()
  const before = mem()
  resetPeakRss()
  let started = 0
  let allOpen
  const opened = new Promise((resolve) => (allOpen = resolve))
  const live = { ...job, onFirst: () => ++started === n && allOpen(true) }
  const t0 = now()
  const settled = Array.from({ length: n }, () => op(live).then(() => null, (err) => String(err).slice(0, 300)))
  let timer
  const reached = await Promise.race([
    opened,
    new Promise((resolve) => (timer = setTimeout(() => resolve(false), (cmd.deadline_s ?? 120) * 1e3))),
  ])
  clearTimeout(timer)
  const ramp = now() - t0
  const during = mem()
  const errors = (await Promise.all(settled)).filter((e) => e !== null)
  globalThis.gc?.()
  const after = mem()
  return {
    n,
    all_in_flight: reached,
    in_flight_reached: started,
    ramp_s: ramp,
    total_s: now() - t0,
    errors: errors.length,
    first_error: errors[0] ?? null,
    rss_before_mb: before.rssMb,
    rss_in_flight_mb: during.rssMb,
    peak_rss_mb: during.hwmMb,
    rss_after_mb: after.rssMb,
    kb_per_stream: ((during.rssMb - before.rssMb) * 1024) / n,
  }
}

async function growth(ops, job, cmd) {
  const checkpoints = [...cmd.checkpoints].sort((a, b) => a - b)
  let turn = 0
  const mixed = (j) => ops[++turn % ops.length](j)
  let done = 0
  let errors = 0
  let firstError = null
  const points = []
  const t0 = now()
  for (const cp of checkpoints) {
    const out = await runCalls(mixed, job, cmd.concurrency, cp - done, null)
    done = cp
    errors += out.errors.length
    firstError ??= out.errors[0] ?? null
    globalThis.gc?.()
    // The V8 heap in use after a full collection: a leak of JS objects shows here even while
    // V8 keeps RSS level (or grows it lazily).
    points.push({ calls: cp, rss_mb: mem().rssMb, heap_mb: process.memoryUsage().heapUsed / 2 ** 20, s: now() - t0 })
  }
  return { points, errors, first_error: firstError }
}

const reply = (obj) => process.stdout.write(`@@bench ${JSON.stringify(obj)}\n`)

const { values: args } = parseArgs({ options: { client: { type: 'string' }, 'base-url': { type: 'string' } } })
if (!args.client || !args['base-url']) {
  console.error('usage: node runner.mjs --client NAME --base-url http://127.0.0.1:PORT/v1')
  process.exit(2)
}
const contender = await makeClient(args.client, args['base-url'])
const op = (name) => {
  const fn = contender.ops[name]
  if (!fn) throw new Error(`this client has no op '${name}' (it has ${Object.keys(contender.ops).join(', ')})`)
  return fn
}
reply({ ready: true, client: args.client, ops: Object.keys(contender.ops).sort(), versions: contender.versions })

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line)
  if (cmd.cmd === 'quit') {
    await contender.close?.()
    reply({ bye: true })
    break
  }
  try {
    const job = { model: cmd.model, expect: cmd.expect, params: cmd.params ?? {} }
    if (cmd.cmd === 'measure') reply({ ok: true, ...(await measure(op(cmd.op), job, cmd)) })
    else if (cmd.cmd === 'in_flight') reply({ ok: true, ...(await inFlight(op(cmd.op), job, cmd)) })
    else if (cmd.cmd === 'growth') reply({ ok: true, ...(await growth(cmd.ops.map(op), job, cmd)) })
    else reply({ ok: false, error: `unknown command '${cmd.cmd}'` })
  } catch (err) {
    reply({ ok: false, error: String(err?.message ?? err), trace: String(err?.stack ?? '') })
  }
}
process.exit(0)
