#!/usr/bin/env node
// `npx polyfuse`: the command line, the same as Python's `python -m polyfuse`.
//
//   npx polyfuse report usage.db -o report.html [--model M] [--route R] [--tag KEY=VALUE]
//                                               [--since-ms T] [--until-ms T]
//
// `report` writes the HTML usage report of a ledger (the core's writeReport) and prints where.
// This file only turns argv into writeReport's arguments; errors name the argument and exit 2.
'use strict'
const { parseArgs } = require('node:util')

const USAGE = `usage: polyfuse report LEDGER [-o OUTPUT] [--model M] [--route R] [--tag KEY=VALUE]...
                       [--since-ms T] [--until-ms T]

Writes the HTML usage report of a usage ledger (usage.ledger in the config).
  LEDGER               the ledger file
  -o, --output FILE    the HTML file to write (default: usage-report.html)
  --model M            only calls of this model (exactly, as requested)
  --route R            only calls of this route
  --tag KEY=VALUE      only calls with this tag (repeatable)
  --since-ms T         only calls that started at or after this time (ms since the epoch)
  --until-ms T         only calls that started before this time (ms since the epoch)`

class UsageError extends Error {}

function integer(flag, text) {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} expects an integer (ms since the epoch), got ${JSON.stringify(text)}`)
  return Number(text)
}

function tags(pairs) {
  if (!pairs || pairs.length === 0) return undefined
  const out = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--tag expects KEY=VALUE, got ${JSON.stringify(pair)}`)
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}

/** `argv` (without node and the script) → `[ledger, output, filter]`, or throws a UsageError. */
function reportArgs(argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        output: { type: 'string', short: 'o' },
        model: { type: 'string' },
        route: { type: 'string' },
        tag: { type: 'string', multiple: true },
        'since-ms': { type: 'string' },
        'until-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (e) {
    throw new UsageError(e.message)
  }
  const { values, positionals } = parsed
  if (values.help) return null
  if (positionals.length === 0) throw new UsageError('the LEDGER argument (the ledger file) is missing')
  if (positionals.length > 1) throw new UsageError(`one LEDGER file, got ${positionals.length}: ${positionals.join(' ')}`)
  const filter = {
    model: values.model,
    route: values.route,
    tags: tags(values.tag),
    sinceMs: integer('--since-ms', values['since-ms']),
    untilMs: integer('--until-ms', values['until-ms']),
  }
  return [positionals[0], values.output ?? 'usage-report.html', filter]
}

async function main(argv) {
  const [command, ...rest] = argv
  if (command === undefined || command === '-h' || command === '--help') {
    console.log(USAGE)
    return command === undefined ? 2 : 0
  }
  if (command !== 'report') {
    console.error(`polyfuse: unknown command ${JSON.stringify(command)} (the command is \`report\`)\n\n${USAGE}`)
    return 2
  }
  let args
  try {
    args = reportArgs(rest)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    console.error(`polyfuse report: ${e.message}\n\n${USAGE}`)
    return 2
  }
  if (args === null) {
    console.log(USAGE)
    return 0
  }
  const polyfuse = require('../index.js')
  try {
    const s = await polyfuse.writeReport(...args)
    console.log(`polyfuse: wrote ${s.path} (${s.calls} calls, ${s.attempts} attempts, ${s.charts} charts)`)
    return 0
  } catch (e) {
    if (!(e instanceof polyfuse.PolyfuseError)) throw e
    console.error(`polyfuse report: ${e.message}`)
    return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    console.error(e)
    process.exitCode = 1
  },
)
