'use strict'

// npm run bench: runs every benchmark/*.bench.js suite in turn, each in its
// own process. `npm run bench -- lru` runs the suites whose name matches.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { machineLine } = require('./lib/report')

const filter = process.argv.slice(2)
const suites = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => filter.length === 0 || filter.some((w) => f.includes(w)))
  .sort()

console.log(`# leakless benchmarks\n\n${machineLine()}\n`)
let failed = 0
for (const suite of suites) {
  console.log(`\n## ${suite.replace('.bench.js', '')}\n`)
  const r = spawnSync(process.execPath, [path.join(__dirname, suite)], { stdio: 'inherit' })
  if (r.status !== 0) {
    failed++
    console.log(`(suite ${suite} exited with ${r.status ?? r.signal})`)
  }
}
process.exit(failed === 0 ? 0 : 1)
