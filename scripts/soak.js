'use strict'

// npm run soak: the demo's leakless service (examples/express-leakless.js)
// under steady load for a while, its memory sampled by the demo's harness
// (examples/demo/server.js). After a warm-up, fits a line to heap used after
// GC, external memory and RSS against requests served, reports each slope per
// 100,000 requests, and fails when one grows beyond noise.
//
//   npm run soak                      5 minutes
//   npm run soak -- --seconds 30      what CI runs
//   options: --connections N (default 10), --app FILE (another app exporting
//            createApp(), e.g. examples/express-leaky.js to see a failure)
//
// "Beyond noise": a slope is a finding when the line explains the samples
// (R² of at least 0.5) and it adds more than the allowance below over the
// measured part of the run. Post-GC heap moves by a few hundred KiB between
// samples (code compiled or dropped, objects settling), and RSS by a few MiB
// (the allocator keeps and returns pages as it likes).

const { fork } = require('node:child_process')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { load } = require('../examples/demo/load')
const { fitLine } = require('../lib/monitor/trend')

const ROOT = path.join(__dirname, '..')
const APP = path.join(ROOT, 'examples', 'express-leakless.js')
const HARNESS = path.join(ROOT, 'examples', 'demo', 'server.js')
const MiB = 2 ** 20
// Growth allowed over the measured part of the run, by metric.
const ALLOWANCE = { heapUsed: 2 * MiB, external: 2 * MiB, rss: 24 * MiB }
const MIN_R2 = 0.5
// The first part of the run (after the warm-up requests) is still filling
// the cache and the pool; it is not measured.
const SETTLE_FRACTION = 0.2

function options() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '300' },
      connections: { type: 'string', default: '10' },
      app: { type: 'string', default: APP },
    },
  })
  const seconds = Number(values.seconds)
  const connections = Number(values.connections)
  if (!Number.isSafeInteger(seconds) || seconds < 5) throw new Error(`--seconds must be an integer >= 5`)
  if (!Number.isSafeInteger(connections) || connections < 1) throw new Error(`--connections must be a positive integer`)
  return { seconds, connections, app: path.resolve(values.app) }
}

async function main() {
  const opts = options()
  const windowMs = opts.seconds * 1000
  const child = fork(HARNESS, [opts.app, JSON.stringify({ sampleMs: 500, gcEvery: 2, windowMs })], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const next = (type) =>
    new Promise((resolve, reject) => {
      child.on('message', (m) => m.type === type && resolve(m))
      child.once('exit', (code) => reject(new Error(`the server exited (${code}) before sending ${type}`)))
    })
  try {
    const { port } = await next('listening')
    console.log(`soak: ${opts.seconds} s of load on ${path.relative(ROOT, opts.app)}, ${opts.connections} connections`)
    await load(port, { requests: 5000, connections: opts.connections })
    const reported = next('report')
    child.send({ type: 'start' })
    const result = await load(port, opts)
    child.send({ type: 'stop' })
    const report = await reported
    if (result.errors || result.timeouts || result.non2xx) {
      throw new Error(`failed requests: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`)
    }
    const samples = report.samples
    const from = samples.at(-1).requests * SETTLE_FRACTION
    const measured = samples.filter((s) => s.requests >= from)
    const span = measured.at(-1).requests - measured[0].requests
    console.log(
      `\n${report.served.toLocaleString('en-US')} requests served; measured over the last ${span.toLocaleString('en-US')}\n`,
    )
    console.log('| metric | per 100,000 requests | R² | over the measured run | allowance | verdict |')
    console.log('|:--|--:|--:|--:|--:|:--|')
    let failed = false
    for (const metric of ['heapUsed', 'external', 'rss']) {
      // Heap and external are read right after a forced full GC, so garbage
      // does not count; RSS is read at every sample.
      const points = metric === 'rss' ? measured : measured.filter((s) => s.postGc)
      const { slope, r2 } = fitLine(
        points.map((s) => s.requests),
        points.map((s) => s[metric]),
      ) ?? { slope: 0, r2: 0 }
      const total = slope * span
      const finding = r2 >= MIN_R2 && total > ALLOWANCE[metric]
      failed ||= finding
      console.log(
        `| ${metric} | ${((slope * 100_000) / 1024).toFixed(1)} KiB | ${r2.toFixed(2)} | ` +
          `${(total / MiB).toFixed(2)} MiB | ${(ALLOWANCE[metric] / MiB).toFixed(0)} MiB | ${finding ? 'GROWS' : 'flat'} |`,
      )
    }
    const last = samples.at(-1)
    console.log(
      `\nat the end: leakless native ${(last.leakless / MiB).toFixed(1)} MiB, ${last.lruEntries} cache entries, ` +
        `${last.listeners} listeners, ${last.poolInUseBytes} pool bytes lent, ${last.poolLeaked} pool leaks`,
    )
    if (last.poolLeaked > 0) {
      console.log('soak: the pool reported leaked Buffers')
      failed = true
    }
    await new Promise((resolve) => child.once('exit', resolve))
    process.exitCode = failed ? 1 : 0
    if (failed) console.log('soak: FAILED, memory grows')
  } finally {
    if (child.exitCode === null) child.kill()
  }
}

main().catch((err) => {
  console.error(`soak failed: ${err.stack ?? err}`)
  process.exit(1)
})
