'use strict'

// Shared by every benchmark suite: what machine it ran on, tables, and
// benchmark/results.json (one key per suite, merged).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const RESULTS = path.join(__dirname, '..', 'results.json')

function machine() {
  const cpus = os.cpus()
  return {
    cpu: cpus.length > 0 ? cpus[0].model.trim() : 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
  }
}

function machineLine(m = machine()) {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, ${m.date.slice(0, 10)}`
}

/** Prints rows (arrays of cells) as a Markdown table. */
function printTable(header, rows) {
  const all = [header, ...rows].map((r) => r.map(String))
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)))
  const line = (r) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`
  console.log(line(all[0]))
  console.log(`|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`)
  for (const r of all.slice(1)) console.log(line(r))
}

/** Merges `data` under `suite` into benchmark/results.json. */
function saveResults(suite, data) {
  let all = {}
  try {
    all = JSON.parse(fs.readFileSync(RESULTS, 'utf8'))
  } catch {
    // No results yet (or unreadable ones): start afresh.
  }
  all[suite] = { machine: machine(), ...data }
  fs.writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`)
}

/** Formats operations per second with thousands separators. */
function opsPerSec(n) {
  return Math.round(n).toLocaleString('en-US')
}

module.exports = { machine, machineLine, printTable, saveResults, opsPerSec }
