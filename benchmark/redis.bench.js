'use strict'

// leakless/redis: a NearCache against plain GETs over loopback, with the same
// client, and against node-redis 5's own client-side cache.
//
//   node benchmark/redis.bench.js        (re-spawns itself with --expose-gc)
//
// Starts its own redis-server on a free 127.0.0.1 port (persistence off);
// fails, naming `apt-get install -y redis-server`, when there is none.
//
// 1. Reads of 1 KiB values, one at a time (each read awaited before the
//    next: what a request handler sees) and 32 in flight (the client
//    pipelines them): local hits per second against plain GETs with the same
//    client (target: at least 20x), both clients, and node-redis's
//    client-side cache (RESP3) on the same keys. 3 rounds of 0.5 s a case in
//    alternating order; the median is reported.
// 2. An Express route (its own process) reading a 1 KiB value under
//    autocannon, 9 requests in 10 on 100 hot keys and 1 in 10 on a key
//    never read before (so about 90 % local hits), against the same route
//    always GETting (target: at least 3x the requests per second), and a
//    route answering a constant string (the ceiling of the machine's HTTP
//    stack and load generator). 1 and 32 connections, 3 s a case.
// 3. Invalidation latency: process A SETs a key that B holds locally; the
//    time from A's write to B's drop, over 1,000 writes, p50 and p99.
// 4. Memory of 10,000 cached 1 KiB values: heap (after GC) and leakless's
//    native bytes, NearCache off-heap and heap, and node-redis's cache.

const { spawn, spawnSync, fork } = require('node:child_process')

if (typeof global.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const assert = require('node:assert/strict')
const path = require('node:path')
const autocannon = require('autocannon')
const { createClient } = require('redis')
const { NearCache } = require('../lib/redis')
const { RedisServer } = require('../__test__/helpers/redis-server')
const { KINDS, connectClient } = require('../__test__/helpers/redis-clients')
const { machineLine, printTable, saveResults, opsPerSec } = require('./lib/report')

const VALUE = 'x'.repeat(1024)
const HOT = 100
const COLD = 40_000
const ROUNDS = 3
const ROUND_MS = 500
const IN_FLIGHT = [1, 32]
const HTTP_WARMUP_SECONDS = 1
const HTTP_SECONDS = 3
const HTTP_CONNECTIONS = [1, 32]
const WRITES = 1000
const MEMORY_ENTRIES = 10_000

const hotKey = (i) => `hot:${i}`
const coldKey = (i) => `cold:${i}`
const memKey = (i) => `mem:${i}`
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/** Reads per second of `read(key)` over the hot keys, `inFlight` at a time, for ROUND_MS. */
async function readsPerSecond(read, inFlight) {
  let ops = 0
  const started = performance.now()
  const deadline = started + ROUND_MS
  const worker = async (w) => {
    let i = w
    while (performance.now() < deadline) {
      for (let j = 0; j < 32; j++) {
        await read(hotKey(i++ % HOT))
        ops++
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)))
  return (ops / (performance.now() - started)) * 1000
}

async function checkAnswers(read) {
  for (let i = 0; i < HOT; i++) assert.equal(await read(hotKey(i)), VALUE, `answer for ${hotKey(i)}`)
}

// ------------------------------------------------------------- 1. reads

async function readThroughput(server, results) {
  console.log(`\n### Reads of 1 KiB values over 100 keys (median of ${ROUNDS} rounds of ${ROUND_MS} ms)\n`)
  const cases = []
  const closers = []
  for (const kind of KINDS) {
    const { client, close } = await connectClient(kind, server.port)
    const near = new NearCache({ client, maxSize: 16 * 2 ** 20 })
    assert.equal(await near.ready(), true)
    closers.push(async () => {
      await near.close()
      close()
    })
    const plainGet = (key) => client.get(key)
    cases.push({ name: `${kind}: plain GET`, kind, read: plainGet })
    cases.push({ name: `${kind}: NearCache local hit`, vs: `${kind}: plain GET`, read: (key) => near.get(key) })
    if (kind === 'ioredis') {
      const onHeap = new NearCache({ client, maxSize: 16 * 2 ** 20, storage: 'heap' })
      assert.equal(await onHeap.ready(), true)
      closers.unshift(() => onHeap.close())
      cases.push({
        name: `${kind}: NearCache local hit, heap storage`,
        vs: `${kind}: plain GET`,
        read: (key) => onHeap.get(key),
      })
    }
  }
  let csc = null
  try {
    const client = createClient({
      socket: { host: '127.0.0.1', port: server.port },
      RESP: 3,
      clientSideCache: { ttl: 0, maxEntries: 0, evictPolicy: 'LRU' },
    })
    client.on('error', () => {})
    await client.connect()
    closers.push(() => client.destroy())
    csc = client
    cases.push({
      name: 'node-redis: its own client-side cache (RESP3)',
      vs: 'node-redis: plain GET',
      read: (key) => client.get(key),
    })
  } catch (err) {
    console.log(`(node-redis client-side cache did not start: ${err.message})`)
  }

  for (const c of cases) await checkAnswers(c.read)
  const samples = new Map(cases.flatMap((c) => IN_FLIGHT.map((n) => [`${c.name}/${n}`, []])))
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? cases : [...cases].reverse()
    for (const c of order) {
      for (const n of IN_FLIGHT) samples.get(`${c.name}/${n}`).push(await readsPerSecond(c.read, n))
    }
  }
  const rows = []
  const out = {}
  for (const c of cases) {
    const row = [c.name]
    out[c.name] = {}
    for (const n of IN_FLIGHT) {
      const rate = median(samples.get(`${c.name}/${n}`))
      const base = c.vs ? median(samples.get(`${c.vs}/${n}`)) : rate
      out[c.name][`inFlight${n}`] = { readsPerSec: Math.round(rate), vsPlainGet: +(rate / base).toFixed(1) }
      row.push(opsPerSec(rate), `${(rate / base).toFixed(1)}x`)
    }
    rows.push(row)
  }
  printTable(['case', ...IN_FLIGHT.flatMap((n) => [`reads/s, ${n} in flight`, 'vs plain GET'])], rows)
  if (csc !== null) {
    const s = csc.clientSideCache.stats()
    console.log(`\nnode-redis cache: ${s.hitCount} hits, ${s.missCount} misses`)
  }
  for (const close of closers) await close()
  results.reads = out
}

// ------------------------------------------------------------ 2. Express

function startApp(port, kind) {
  const child = spawn(process.execPath, [path.join(__dirname, 'redis', 'app.js'), String(port), kind], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      out += chunk
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line) resolve({ child, port: JSON.parse(line).port })
    })
    child.once('exit', (code) => reject(new Error(`app.js exited with ${code}`)))
  })
}

async function getJson(port, p) {
  const res = await fetch(`http://127.0.0.1:${port}${p}`)
  return res.json()
}

async function cannon(port, route, connections, seconds, next) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    timeout: 10,
    requests: [{ setupRequest: (req) => ({ ...req, path: `/${route}/${next()}` }) }],
  })
  assert.equal(result.errors, 0, 'request errors')
  assert.equal(result.non2xx, 0, 'non-2xx answers')
  return result
}

async function expressRoute(server, results) {
  console.log(
    `\n### Express route, 1 KiB values, autocannon for ${HTTP_SECONDS} s a case (after ${HTTP_WARMUP_SECONDS} s of warm-up), app in its own process\n`,
  )
  console.log(
    'The route answering a constant string is the ceiling of this machine (HTTP stack and load generator);\n' +
      '9 requests in 10 read one of 100 hot keys, 1 in 10 a key never read before.\n',
  )
  const rows = []
  const out = {}
  let cold = 0
  for (const kind of KINDS) {
    const { child, port } = await startApp(server.port, kind)
    try {
      for (const route of ['near', 'plain']) {
        const body = await fetch(`http://127.0.0.1:${port}/${route}/${hotKey(1)}`).then((r) => r.text())
        assert.equal(body, VALUE, `the ${route} route's answer`)
      }
      out[kind] = {}
      for (const connections of HTTP_CONNECTIONS) {
        const rates = {}
        for (const route of ['const', 'plain', 'near']) {
          let n = 0
          const next = () => (++n % 10 === 0 ? coldKey(cold++) : hotKey(n % HOT))
          await cannon(port, route, connections, HTTP_WARMUP_SECONDS, next)
          const before = await getJson(port, '/stats')
          const result = await cannon(port, route, connections, HTTP_SECONDS, next)
          const after = await getJson(port, '/stats')
          assert.ok(cold < COLD, 'cold keys were reused')
          const local = after.localHits - before.localHits
          const remote = after.remoteHits - before.remoteHits + after.misses - before.misses
          rates[route] = {
            reqPerSec: Math.round(result.requests.average),
            meanMs: +result.latency.mean.toFixed(2),
            p99Ms: result.latency.p99,
            localHitRatio: route === 'near' ? +(local / (local + remote)).toFixed(3) : null,
          }
        }
        const label = { const: 'constant string', plain: 'always GET', near: 'NearCache' }
        for (const route of ['const', 'plain', 'near']) {
          const r = rates[route]
          rows.push([
            `${kind}, ${connections} conn.: ${label[route]}`,
            opsPerSec(r.reqPerSec),
            r.meanMs,
            r.p99Ms,
            r.localHitRatio === null ? '' : `${(r.localHitRatio * 100).toFixed(1)} %`,
            route === 'const' ? '' : `${(r.reqPerSec / rates.plain.reqPerSec).toFixed(1)}x`,
          ])
        }
        out[kind][`connections${connections}`] = rates
      }
    } finally {
      child.kill('SIGTERM')
    }
  }
  printTable(['route', 'req/s', 'mean ms', 'p99 ms', 'local hits', 'vs always GET'], rows)
  results.express = out
}

// --------------------------------------------------- 3. invalidation delay

async function invalidationLatency(server, results) {
  console.log(`\n### Invalidation: a SET in process A to the drop of the local copy in process B, ${WRITES} writes\n`)
  const rows = []
  const out = {}
  for (const kind of KINDS) {
    const writer = fork(path.join(__dirname, 'redis', 'writer.js'), [String(server.port), kind])
    await new Promise((resolve) => writer.once('message', resolve))
    const { client, close } = await connectClient(kind, server.port)
    // The drop is timed where it happens (onInvalidate), with this process
    // idle until then: a loop polling stats() would keep one of the
    // machine's cores busy and delay the writer and Redis it waits for.
    let onDrop = null
    const near = new NearCache({
      client,
      maxSize: 1 << 20,
      onInvalidate: () => onDrop?.(process.hrtime.bigint()),
    })
    assert.equal(await near.ready(), true)
    const key = `latency:${kind}`
    await client.set(key, 'v0')
    const ns = []
    for (let i = 1; i <= WRITES; i++) {
      await near.get(key)
      const { localHits } = near.stats()
      assert.equal(await near.get(key), `v${i - 1}`)
      assert.equal(near.stats().localHits, localHits + 1, 'held locally before the write')
      const before = near.stats().invalidations
      const answered = new Promise((resolve) => writer.once('message', resolve))
      const drop = new Promise((resolve) => {
        onDrop = resolve
      })
      writer.send({ key, value: `v${i}` })
      const dropped = await drop
      onDrop = null
      assert.equal(near.stats().invalidations, before + 1)
      const { t0 } = await answered
      ns.push(Number(dropped - BigInt(t0)))
    }
    assert.equal(await near.get(key), `v${WRITES}`)
    ns.sort((a, b) => a - b)
    const ms = (v) => +(v / 1e6).toFixed(3)
    out[kind] = { p50Ms: ms(percentile(ns, 50)), p99Ms: ms(percentile(ns, 99)), maxMs: ms(ns.at(-1)) }
    rows.push([kind, out[kind].p50Ms, out[kind].p99Ms, out[kind].maxMs])
    writer.send({ exit: true })
    await near.close()
    close()
  }
  printTable(['client', 'p50 ms', 'p99 ms', 'max ms'], rows)
  results.invalidation = out
}

// ---------------------------------------------------------------- 4. memory

function heapUsed() {
  for (let i = 0; i < 4; i++) global.gc()
  return process.memoryUsage().heapUsed
}

async function memory(server, results) {
  console.log(`\n### Memory of ${MEMORY_ENTRIES.toLocaleString('en-US')} cached 1 KiB values\n`)
  const cases = [
    { name: 'NearCache, off-heap (ioredis)', kind: 'ioredis', storage: 'offheap' },
    { name: 'NearCache, heap (ioredis)', kind: 'ioredis', storage: 'heap' },
    { name: 'NearCache, off-heap (node-redis)', kind: 'node-redis', storage: 'offheap' },
    { name: 'node-redis client-side cache (RESP3)', kind: 'csc' },
  ]
  const rows = []
  const out = {}
  for (const c of cases) {
    let client
    let cache
    let done
    if (c.kind === 'csc') {
      client = createClient({
        socket: { host: '127.0.0.1', port: server.port },
        RESP: 3,
        clientSideCache: { ttl: 0, maxEntries: 0, evictPolicy: 'LRU' },
      })
      client.on('error', () => {})
      await client.connect()
      done = () => client.destroy()
    } else {
      const conn = await connectClient(c.kind, server.port)
      client = conn.client
      cache = new NearCache({ client, maxSize: 64 * 2 ** 20, storage: c.storage })
      assert.equal(await cache.ready(), true)
      done = async () => {
        await cache.close()
        conn.close()
      }
    }
    const read = cache ? (k) => cache.get(k) : (k) => client.get(k)
    await read(memKey(0))
    const baseHeap = heapUsed()
    const baseNative = cache ? cache.stats().externalBytes : 0
    for (let i = 0; i < MEMORY_ENTRIES; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => read(memKey(i + j))))
    }
    const held = cache ? cache.stats().size : client.clientSideCache.size()
    assert.ok(held >= MEMORY_ENTRIES, `${c.name} holds ${held} entries`)
    assert.equal(await read(memKey(7)), VALUE)
    const heap = heapUsed() - baseHeap
    const native = cache ? cache.stats().externalBytes - baseNative : 0
    out[c.name] = { heapBytes: heap, nativeBytes: native, entries: held }
    const mib = (b) => (b / 2 ** 20).toFixed(1)
    rows.push([c.name, mib(heap), mib(native), mib(heap + native)])
    await done()
  }
  printTable(['cache', 'heap MiB', 'native MiB', 'total MiB'], rows)
  results.memory = out
}

// ------------------------------------------------------------------- main

async function main() {
  console.log(machineLine())
  const server = await RedisServer.start()
  console.log(
    `redis-server ${server.port} (${spawnSync(server.bin, ['--version'], { encoding: 'utf8' }).stdout.trim()})`,
  )
  const results = {}
  try {
    const { client, close } = await connectClient('ioredis', server.port)
    const pipe = client.pipeline()
    for (let i = 0; i < HOT; i++) pipe.set(hotKey(i), VALUE)
    for (let i = 0; i < COLD; i++) pipe.set(coldKey(i), VALUE)
    for (let i = 0; i < MEMORY_ENTRIES; i++) pipe.set(memKey(i), VALUE)
    await pipe.exec()
    close()
    await readThroughput(server, results)
    await expressRoute(server, results)
    await invalidationLatency(server, results)
    await memory(server, results)
  } finally {
    await server.stop()
  }
  saveResults('redis', results)
}

main().catch((err) => {
  console.error(err.stack ?? err)
  process.exit(1)
})
