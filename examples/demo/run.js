'use strict'

// npm run demo: the same Express service twice, first leaking
// (examples/express-leaky.js) then on leakless (examples/express-leakless.js),
// each in its own process on 127.0.0.1 under the same bounded load. Prints a
// side-by-side table and writes demo-report.html (the table and a chart of
// memory over requests, in one file with inline SVG).
//
//   npm run demo                       about 30 seconds of load per app
//   npm run demo -- --seconds 5        shorter
//   npm run demo -- --requests 50000   a number of requests instead
//   options: --connections N (default 10), --out FILE (default demo-report.html),
//            --only leaky|leakless (run one of the two)

const fs = require('node:fs')
const path = require('node:path')
const { fork } = require('node:child_process')
const { parseArgs } = require('node:util')
const { formatTable, renderHtml } = require('./report')
const { load, get } = require('./load')

const ROOT = path.join(__dirname, '..', '..')
const APPS = [
  { name: 'leaky', file: path.join(__dirname, '..', 'express-leaky.js'), what: 'Map, listeners, Buffers' },
  {
    name: 'leakless',
    file: path.join(__dirname, '..', 'express-leakless.js'),
    what: 'LRU, ListenerRegistry.of(req), BufferPool',
  },
]

function usage(message) {
  if (message) console.error(`demo: ${message}`)
  console.error(
    'usage: npm run demo -- [--seconds N | --requests N] [--connections N] [--out FILE] [--only leaky|leakless]',
  )
  process.exit(2)
}

function positiveInteger(value, name) {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n <= 0) usage(`--${name} must be a positive integer, got ${value}`)
  return n
}

function options() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        seconds: { type: 'string' },
        requests: { type: 'string' },
        connections: { type: 'string', default: '10' },
        out: { type: 'string', default: path.join(ROOT, 'demo-report.html') },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    usage(err.message)
  }
  if (values.help) usage()
  if (values.seconds !== undefined && values.requests !== undefined) usage('give --seconds or --requests, not both')
  const requests = values.requests === undefined ? undefined : positiveInteger(values.requests, 'requests')
  const seconds = requests === undefined ? positiveInteger(values.seconds ?? '30', 'seconds') : undefined
  const apps = values.only === undefined ? APPS : APPS.filter((app) => app.name === values.only)
  if (apps.length === 0) usage(`--only takes ${APPS.map((app) => app.name).join(' or ')}, got ${values.only}`)
  const connections = positiveInteger(values.connections, 'connections')
  return { seconds, requests, connections, out: values.out, apps }
}

// The harness's sampling: a sample every 250 ms, and one in so many of them
// right after a forced full GC, so that the monitor gets about 15 post-GC
// samples per window (a forced GC of a large leaking heap takes a few hundred
// ms, so they are kept few). The monitor's window is the length of the run,
// and at least 10 s: in the first seconds a process still compiles its hot
// code (V8's code space grows by a few hundred KiB), which a shorter window
// would take for a trend. A run counted in requests, whose length is not
// known up front, uses 20 s.
function harnessConfig({ seconds }) {
  const windowMs = seconds === undefined ? 20_000 : Math.max(10, seconds) * 1000
  const sampleMs = 250
  const gcEvery = Math.max(1, Math.min(8, Math.floor(windowMs / 15 / sampleMs)))
  return { sampleMs, gcEvery, windowMs }
}

// Starts the harness for one app. Its output is shown prefixed with the
// app's name; `exited` resolves when it is gone, however it went.
function startServer(app, config) {
  const child = fork(path.join(__dirname, 'server.js'), [app.file, JSON.stringify(config)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  const output = [child.stdout, child.stderr].map(
    (stream) =>
      new Promise((resolve) => {
        let rest = ''
        const show = (line) => console.log(`  [${app.name}] ${line}`)
        stream.setEncoding('utf8')
        stream.on('data', (chunk) => {
          const lines = (rest + chunk).split('\n')
          rest = lines.pop()
          lines.forEach(show)
        })
        stream.on('end', () => {
          if (rest) show(rest)
          resolve()
        })
      }),
  )
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => Promise.all(output).then(() => resolve({ code, signal })))
  })
  // A message that never comes because the child died fails instead of hanging.
  const next = (type) =>
    new Promise((resolve, reject) => {
      const onMessage = (message) => {
        if (message.type !== type) return
        child.off('message', onMessage)
        resolve(message)
      }
      child.on('message', onMessage)
      exited.then(({ code, signal }) => reject(new Error(`the ${app.name} server exited (${signal ?? code})`)))
    })
  // Sending to a child that just died is reported by `next`, not thrown here.
  const send = (message) => child.connected && child.send(message, () => {})
  child.on('error', () => {})
  return { child, exited, next, send }
}

// Requests not measured, so that start-up work (compiling the hot code,
// Express's first-request setup) does not count as growth of the run.
const WARMUP_REQUESTS = 3000

async function runApp(app, opts) {
  const server = startServer(app, harnessConfig(opts))
  try {
    const { port } = await server.next('listening')
    const check = await get(port, '/report/42?t=check')
    if (check.status !== 200) throw new Error(`${app.name}: GET /report/42 answered ${check.status}`)
    const reported = server.next('report')
    reported.catch(() => {}) // awaited below; a failure meanwhile is not unhandled

    const amount =
      opts.requests === undefined ? `${opts.seconds} s` : `${opts.requests.toLocaleString('en-US')} requests`
    console.log(`${app.name} (${app.what}): ${amount} of load, ${opts.connections} connections, port ${port}`)
    await load(port, { requests: WARMUP_REQUESTS, connections: opts.connections })
    server.send({ type: 'start' })
    const result = await load(port, opts)
    server.send({ type: 'stop' })
    const report = await reported
    const { code, signal } = await server.exited
    if (code !== 0) throw new Error(`${app.name} server exited with ${signal ?? code}`)
    return { ...app, check: JSON.parse(check.body), result, report }
  } finally {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill()
  }
}

// Both apps must answer the same thing: the demo compares memory, not work.
function sameResponses(runs) {
  const [a, b] = runs.map((run) => JSON.stringify({ ...run.check, generatedAt: undefined }))
  if (a !== b) throw new Error(`the apps answered differently:\n${a}\n${b}`)
}

function loadErrors(run) {
  const { errors, timeouts, non2xx } = run.result
  if (errors || timeouts || non2xx)
    return `${run.name}: ${errors} errors, ${timeouts} timeouts, ${non2xx} non-2xx responses`
  return null
}

async function main() {
  const opts = options()
  const runs = []
  for (const app of opts.apps) runs.push(await runApp(app, opts))
  if (runs.length > 1) sameResponses(runs)
  const machine = machineLine()
  console.log()
  console.log(machine)
  console.log()
  console.log(formatTable(runs))
  fs.writeFileSync(opts.out, renderHtml(runs, { machine, opts }))
  console.log()
  console.log(`Chart and table: ${path.relative(process.cwd(), opts.out) || opts.out}`)
  const problems = runs.map(loadErrors).filter(Boolean)
  if (problems.length > 0) {
    console.error(`demo: some requests failed: ${problems.join('; ')}`)
    process.exitCode = 1
  }
}

function machineLine() {
  const os = require('node:os')
  const cpus = os.cpus()
  const model = (cpus[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim()
  const gib = Math.round(os.totalmem() / 2 ** 30)
  const system = `${os.type()} ${os.release()} ${os.arch()}`
  return `${model}, ${cpus.length} cores, ${gib} GiB, ${system}, Node ${process.version}`
}

main().catch((err) => {
  console.error(`demo failed: ${err.stack ?? err}`)
  process.exit(1)
})
