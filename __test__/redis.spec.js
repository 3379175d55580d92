'use strict'

// leakless/redis against a real redis-server (started here on a free port,
// persistence off), with both clients it supports. Writes come from the test
// process's own plain client, from a second process, and through near caches;
// the near cache under test must never serve a value after its invalidation
// arrived. The outage tests (Redis killed and restarted) are in
// redis.outage.spec.js.

const test = require('ava')
const Redis = require('ioredis')
const { NearCache } = require('leakless/redis')
const { KINDS, connectClient } = require('./helpers/redis-clients')
const { redisFixture, waitFor } = require('./helpers/redis-fixture')
const { Peer } = require('./helpers/redis-peer')

const DATA = 'leakless-near-cache-data'
const TRACKING = 'leakless-near-cache-tracking'

const redis = redisFixture(test)
const { client, nearCache } = redis

/** A raw command through either client. */
function command(c, args) {
  return typeof c.call === 'function' ? c.call(...args) : c.sendCommand(args)
}

/** CLIENT KILL of every connection named `name` (through `plain`); returns how many. */
async function killConnections(plain, name) {
  const list = await command(plain, ['CLIENT', 'LIST'])
  const ids = list
    .split('\n')
    .filter((l) => l.includes(`name=${name}`))
    .map((l) => /\bid=(\d+)/.exec(l)[1])
  for (const id of ids) await command(plain, ['CLIENT', 'KILL', 'ID', id])
  return ids.length
}

/** A plain ioredis client, and a near cache (of a `kind` client) whose connections go through a proxy. */
async function behindProxy(kind, options) {
  const plain = await client('ioredis')
  const proxy = redis.proxy()
  const near = await nearCache({ client: await client(kind, await proxy.listen()), ...options })
  return { plain, proxy, near }
}

/**
 * Starts `near.get(key)` with the data connection held at the proxy, and
 * waits until Redis's answer `reply` sits in the proxy. Returns `{ read }`,
 * the pending get.
 */
async function heldRead(proxy, near, key, reply) {
  proxy.hold(DATA)
  const from = proxy.link(DATA).received.length
  const read = near.get(key)
  await proxy.waitForReply(DATA, reply, from)
  return { read }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

let keyCounter = 0
const newKey = (name) => `${name}:${++keyCounter}`

// ----------------------------------------------------------------- basics

for (const kind of KINDS) {
  test.serial(`${kind}: get, set, delete, with local hits after the first read`, async (t) => {
    const c = await client(kind)
    const near = await nearCache({ client: c })
    const key = newKey('basic')
    t.is(await near.get(newKey('absent')), undefined)
    await command(c, ['SET', key, 'from redis'])
    t.is(await near.get(key), 'from redis')
    t.is(await near.get(key), 'from redis')
    t.like(near.stats(), { misses: 1, remoteHits: 1, localHits: 1, size: 1, tracking: true })

    t.is(await near.set(key, 'from the near cache'), near)
    t.is(await command(c, ['GET', key]), 'from the near cache')
    t.is(await near.get(key), 'from the near cache')
    t.is(near.stats().localHits, 2, 'its own write is visible at once, locally')

    t.true(await near.delete(key))
    t.false(await near.delete(key))
    t.is(await command(c, ['EXISTS', key]), 0)
    t.is(await near.get(key), undefined)
    t.like(near.stats(), { sets: 1, deletes: 2, misses: 2, size: 0 })
  })

  test.serial(`${kind}: a write by a plain client drops the local copy (SET, DEL, EXPIRE, FLUSHALL)`, async (t) => {
    const c = await client(kind)
    const plain = await client(kind === 'ioredis' ? 'node-redis' : 'ioredis')
    const near = await nearCache({ client: c })
    const key = newKey('plain')
    await near.set(key, 'v1')
    const before = near.stats().invalidations

    await command(plain, ['SET', key, 'v2'])
    await waitFor(() => near.stats().invalidations === before + 1)
    t.is(await near.get(key), 'v2')
    t.is(await near.get(key), 'v2')

    await command(plain, ['DEL', key])
    await waitFor(() => near.stats().invalidations === before + 2)
    t.is(await near.get(key), undefined)

    // A read of a missing key is tracked too.
    await command(plain, ['SET', key, 'v3'])
    await waitFor(() => near.stats().invalidations === before + 3)
    t.is(await near.get(key), 'v3')
    t.is(await near.get(key), 'v3')
    const { localHits } = near.stats()
    await command(plain, ['PEXPIRE', key, '1'])
    await waitFor(() => near.stats().invalidations >= before + 4)
    await sleep(5)
    t.is(await near.get(key), undefined)
    t.is(near.stats().localHits, localHits)

    await command(plain, ['SET', key, 'v4'])
    await waitFor(() => near.stats().invalidations >= before + 5)
    t.is(await near.get(key), 'v4')
    t.is(near.stats().size, 1)
    const flushes = near.stats().flushes
    await command(plain, ['FLUSHALL'])
    await waitFor(() => near.stats().flushes === flushes + 1)
    t.is(near.stats().size, 0)
    t.is(await near.get(key), undefined)
    t.true(near.stats().tracking)
  })

  test.serial(`${kind}: onInvalidate hears each dropped key, and null when everything was flushed`, async (t) => {
    const plain = await client('ioredis')
    const heard = []
    const near = await nearCache({ client: await client(kind), onInvalidate: (key) => heard.push(key) })
    const key = newKey('hook')
    await near.set(key, 'v1')
    t.is(await near.get(key), 'v1')
    await command(plain, ['SET', key, 'v2'])
    await waitFor(() => heard.length === 1)
    t.deepEqual(heard, [key])
    t.is(near.stats().invalidations, 1, 'called once the local copy is gone')
    t.is(await near.get(key), 'v2')
    await command(plain, ['FLUSHALL'])
    await waitFor(() => heard.length === 2)
    t.deepEqual(heard, [key, null])
    t.is(near.stats().size, 0)
  })

  test.serial(`${kind}: process A's writes reach process B's near cache, DELs included`, async (t) => {
    const peer = await Peer.start(redis.server.port, kind)
    redis.closeAtEnd(() => peer.stop())
    const near = await nearCache({ client: await client(kind) })
    const key = newKey('peer')
    const delays = []
    const seen = async (op, value, expected) => {
      await near.get(key) // read, so tracked and kept locally
      const before = near.stats().invalidations
      const started = process.hrtime.bigint()
      await peer.run(op, key, value)
      await waitFor(() => near.stats().invalidations > before)
      delays.push(Number(process.hrtime.bigint() - started) / 1e6)
      t.is(await near.get(key), expected, `after ${op}`)
    }
    await peer.run('set', key, 'a0')
    t.is(await near.get(key), 'a0')
    await seen('set', 'a1', 'a1')
    await seen('nearSet', 'a2', 'a2')
    await seen('del', undefined, undefined)
    await peer.run('set', key, 'a3')
    t.is(await near.get(key), 'a3')
    await seen('nearDelete', undefined, undefined)
    await peer.run('nearSet', key, 'a4')
    t.is(await near.get(key), 'a4')
    await seen('set', 'a5', 'a5')
    t.log(`write in A to drop in B, ms: ${delays.map((d) => d.toFixed(2)).join(', ')}`)
  })

  test.serial(`${kind}: an invalidation that arrives while a GET is in flight keeps its reply out`, async (t) => {
    const { plain, proxy, near } = await behindProxy(kind)
    const key = newKey('race')
    await command(plain, ['SET', key, 'old'])

    // Redis has answered the near cache's GET with "old", but the answer is
    // held in the proxy; meanwhile "new" is written and its invalidation
    // reaches the near cache first.
    const { read } = await heldRead(proxy, near, key, 'old')
    const trackedFrom = proxy.link(TRACKING).received.length
    const invalidations = near.stats().invalidations
    await command(plain, ['SET', key, 'new'])
    await proxy.waitForReply(TRACKING, key, trackedFrom)
    // The near cache has read the invalidation before the held reply.
    await waitFor(() => near.stats().invalidations > invalidations)
    proxy.release(DATA)

    t.is(await read, 'old', 'the read returns what Redis answered')
    const { localHits } = near.stats()
    t.is(await near.get(key), 'new', 'and the old answer was not kept')
    t.is(near.stats().localHits, localHits)
    t.is(await near.get(key), 'new')
    t.is(near.stats().localHits, localHits + 1)
  })

  test.serial(`${kind}: a local write while a GET is in flight is not overwritten by the GET's reply`, async (t) => {
    const { plain, proxy, near } = await behindProxy(kind)
    const key = newKey('own-write')
    await command(plain, ['SET', key, 'old'])
    const { read } = await heldRead(proxy, near, key, 'old')
    const write = near.set(key, 'mine')
    proxy.release(DATA)
    t.is(await read, 'old')
    await write
    t.is(await near.get(key), 'mine')
    t.is(await command(plain, ['GET', key]), 'mine')
  })

  test.serial(`${kind}: CLIENT KILL of the tracking connection flushes, then tracking comes back`, async (t) => {
    const plain = await client('ioredis')
    const near = await nearCache({ client: await client(kind) })
    const key = newKey('kill')
    await near.set(key, 'before')
    t.is(await near.get(key), 'before')
    t.is(near.stats().size, 1)

    t.true((await killConnections(plain, TRACKING)) >= 1)
    await waitFor(() => near.stats().flushes === 1)
    t.is(near.stats().size, 0, 'nothing kept from before')

    // Written while tracking may be off: never served stale.
    await command(plain, ['SET', key, 'during'])
    t.is(await near.get(key), 'during')
    await waitFor(() => near.stats().tracking)
    t.is(await near.get(key), 'during')
    t.is(await near.get(key), 'during')
    const before = near.stats().invalidations
    await command(plain, ['SET', key, 'after'])
    await waitFor(() => near.stats().invalidations === before + 1)
    t.is(await near.get(key), 'after')
  })

  test.serial(`${kind}: CLIENT KILL of the data connection flushes too`, async (t) => {
    const plain = await client('ioredis')
    const near = await nearCache({ client: await client(kind) })
    const key = newKey('kill-data')
    await near.set(key, 'before')
    await killConnections(plain, DATA)
    await waitFor(() => near.stats().flushes === 1)
    await command(plain, ['SET', key, 'during'])
    t.is(await near.get(key), 'during')
    await waitFor(() => near.stats().tracking)
    t.is(await near.get(key), 'during')
    await command(plain, ['SET', key, 'after'])
    await waitFor(() => near.stats().invalidations === 1)
    t.is(await near.get(key), 'after')
  })

  test.serial(`${kind}: a read in flight when the data connection is killed is answered by the client`, async (t) => {
    const { plain, proxy, near } = await behindProxy(kind)
    const key = newKey('killed-read')
    await command(plain, ['SET', key, 'value'])
    const { read } = await heldRead(proxy, near, key, 'value')
    proxy.link(DATA).client.destroy() // the reply never arrives: the connection is gone
    proxy.release(DATA)
    t.is(await read, 'value')
    await waitFor(() => near.stats().flushes === 1)
    await waitFor(() => near.stats().tracking)
    t.is(await near.get(key), 'value')
  })

  test.serial(`${kind}: a tracking connection that stops answering is noticed by the heartbeat`, async (t) => {
    // A network cut: no FIN, no error, the connection just goes silent.
    const { plain, proxy, near } = await behindProxy(kind, { heartbeatMs: 50 })
    const key = newKey('silent')
    await near.set(key, 'before')
    t.is(await near.get(key), 'before')
    proxy.hold(TRACKING)
    await command(plain, ['SET', key, 'during'])
    await waitFor(() => near.stats().flushes === 1)
    t.like(near.stats(), { size: 0, tracking: false, invalidations: 0 })
    t.is(await near.get(key), 'during', 'the invalidation never arrived, yet nothing stale is served')
    proxy.release(TRACKING)
    await waitFor(() => near.stats().tracking)
    t.is(await near.get(key), 'during')
    t.is(near.stats().flushes, 1)
  })

  test.serial(`${kind}: many concurrent fetches of a key run load once`, async (t) => {
    const near = await nearCache({ client: await client(kind) })
    const key = newKey('fetch')
    let loads = 0
    const load = async (k) => {
      loads++
      await sleep(10)
      return `loaded ${k}`
    }
    const results = await Promise.all(Array.from({ length: 500 }, () => near.fetch(key, load)))
    t.is(loads, 1)
    t.deepEqual(new Set(results), new Set([`loaded ${key}`]))
    t.like(near.stats(), { loads: 1, misses: 1 })
    t.is(await near.fetch(key, load), `loaded ${key}`)
    t.is(loads, 1)

    // A second near cache (another process would be the same): finds it in Redis.
    const other = await nearCache({ client: await client(kind) })
    t.is(await other.fetch(key, load), `loaded ${key}`)
    t.is(loads, 1)
    t.like(other.stats(), { remoteHits: 1, loads: 0 })

    // A value written while load runs is not overwritten by the loaded one.
    const racedKey = newKey('fetch-raced')
    const plain = await client('ioredis')
    const raced = await near.fetch(racedKey, async () => {
      await command(plain, ['SET', racedKey, 'written meanwhile'])
      return 'loaded'
    })
    t.is(raced, 'loaded', 'the caller gets what it loaded')
    t.is(await command(plain, ['GET', racedKey]), 'written meanwhile')
    t.is(await near.get(racedKey), 'written meanwhile')
    t.is(await near.get(racedKey), 'written meanwhile')

    // A loader that fails: every waiter gets its error, and the next fetch loads again.
    const failKey = newKey('fetch-fail')
    const boom = new Error('db down')
    const failing = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        near.fetch(failKey, async () => {
          loads++
          throw boom
        }),
      ),
    )
    t.true(failing.every((r) => r.status === 'rejected' && r.reason === boom))
    t.is(loads, 2)
    t.is(await near.fetch(failKey, load), `loaded ${failKey}`)
    t.is(loads, 3)
  })

  test.serial(`${kind}: TTLs: set with ttl sets PX, and the local copy expires with Redis's key`, async (t) => {
    const c = await client(kind)
    const near = await nearCache({ client: c })
    const key = newKey('ttl')
    // Real clocks on both sides: TTLs long enough that a loaded machine
    // cannot expire the key before it is read back.
    await near.set(key, 'short', { ttl: 500 })
    const pttl = Number(await command(c, ['PTTL', key]))
    t.true(pttl > 0 && pttl <= 500, `PTTL ${pttl}`)
    t.is(await near.get(key), 'short')
    await sleep(700)
    t.is(await near.get(key), undefined)

    await command(c, ['SET', key, 'remote', 'PX', '500'])
    t.is(await near.get(key), 'remote')
    await sleep(700)
    t.is(await near.get(key), undefined)
  })

  test.serial(`${kind}: Buffers, and objects through serialize/deserialize`, async (t) => {
    const c = await client(kind)
    const bytes = await nearCache({ client: c, valueType: 'buffer' })
    const key = newKey('buffer')
    const value = Buffer.from([0, 255, 1, 254, 10, 13])
    await bytes.set(key, value)
    t.deepEqual(await bytes.get(key), value)
    const other = await nearCache({ client: c, valueType: 'buffer', storage: 'heap' })
    t.deepEqual(await other.get(key), value)
    t.deepEqual(await other.get(key), value)
    t.is(other.stats().localHits, 1)

    const users = await nearCache({ client: c, deserialize: (s) => JSON.parse(s) })
    const userKey = newKey('user')
    await users.set(userKey, { id: 42, name: 'Ada' })
    t.is(await command(c, ['GET', userKey]), '{"id":42,"name":"Ada"}')
    t.deepEqual(await users.get(userKey), { id: 42, name: 'Ada' })
    t.deepEqual(await users.fetch(newKey('user'), () => ({ id: 7 })), { id: 7 })
  })

  test.serial(`${kind}: bad input is refused with ERR_* codes`, async (t) => {
    t.throws(() => new NearCache(), { code: 'ERR_INVALID_ARG_TYPE' })
    t.throws(() => new NearCache({ maxSize: 1024 }), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: /options\.client.*ioredis or node-redis 5/,
    })
    t.throws(() => new NearCache({ client: { get() {} }, maxSize: 1024 }), { code: 'ERR_INVALID_ARG_TYPE' })
    const cluster = new Redis.Cluster([{ host: '127.0.0.1', port: redis.server.port }], { lazyConnect: true })
    t.throws(() => new NearCache({ client: cluster, maxSize: 1024 }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /Cluster/,
    })
    const c = await client(kind)
    t.throws(() => new NearCache({ client: c }), { code: 'ERR_LEAKLESS_UNBOUNDED' })
    t.throws(() => new NearCache({ client: c, maxSize: 1024, storage: 'disk' }), { code: 'ERR_INVALID_ARG_VALUE' })
    t.throws(() => new NearCache({ client: c, maxSize: 1024, storage: 'shared' }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /departed thread/,
    })
    t.throws(() => new NearCache({ client: c, maxSize: 1024, heartbeatMs: 0 }), { code: 'ERR_OUT_OF_RANGE' })
    t.throws(() => new NearCache({ client: c, maxSize: 1024, onInvalidate: 'log' }), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: /options\.onInvalidate/,
    })

    const { client: idle, close } = await connectClient(kind, redis.server.port)
    close()
    // ioredis reports the end on a later turn; node-redis at once.
    await waitFor(() => (kind === 'ioredis' ? idle.status === 'end' : !idle.isReady))
    t.throws(() => new NearCache({ client: idle, maxSize: 1024 }), {
      code: 'ERR_LEAKLESS_REDIS_NOT_CONNECTED',
      message: /not connected/,
    })

    const near = await nearCache({ client: c })
    await t.throwsAsync(near.get(42), { code: 'ERR_INVALID_ARG_TYPE', message: /"key"/ })
    await t.throwsAsync(near.get(Buffer.from('k')), { code: 'ERR_INVALID_ARG_TYPE' })
    await t.throwsAsync(near.set(undefined, 'v'), { code: 'ERR_INVALID_ARG_TYPE' })
    await t.throwsAsync(near.delete(null), { code: 'ERR_INVALID_ARG_TYPE' })
    await t.throwsAsync(
      near.fetch({}, () => 'v'),
      { code: 'ERR_INVALID_ARG_TYPE' },
    )
    await t.throwsAsync(near.fetch('k', 'not a function'), { code: 'ERR_INVALID_ARG_TYPE' })
    await t.throwsAsync(near.set('k', 'v', { ttl: -1 }), { code: 'ERR_OUT_OF_RANGE' })

    const key = newKey('unstorable')
    for (const value of [undefined, Symbol('s'), () => 1, 10n]) {
      await t.throwsAsync(near.set(key, value), { code: 'ERR_INVALID_ARG_TYPE', message: /"value"/ })
    }
    await t.throwsAsync(near.set(key, Number.NaN), { code: 'ERR_INVALID_ARG_VALUE' })
    const circular = {}
    circular.self = circular
    const err = await t.throwsAsync(near.set(key, circular), { code: 'ERR_INVALID_ARG_VALUE' })
    t.true(err.cause instanceof TypeError)
    await t.throwsAsync(
      near.fetch(key, () => Symbol('s')),
      { code: 'ERR_INVALID_ARG_TYPE' },
    )
    t.is(await command(c, ['EXISTS', key]), 0, 'nothing was written')

    // A Redis error reaches the caller with the client's error attached.
    await command(c, ['LPUSH', key, 'a list'])
    const wrongType = await t.throwsAsync(near.get(key), { code: 'ERR_LEAKLESS_REDIS', message: /WRONGTYPE/ })
    t.truthy(wrongType.cause)
    t.regex(wrongType.cause.message, /WRONGTYPE/)

    await near.close()
    await t.throwsAsync(near.get('k'), { code: 'ERR_LEAKLESS_NEAR_CACHE_CLOSED' })
    t.is(await command(c, ['PING']), 'PONG', "close() leaves the caller's client open")
  })
}

test.serial('ioredis keyPrefix: keys and invalidations are mapped through the prefix', async (t) => {
  const prefixed = await client('ioredis', redis.server.port, { keyPrefix: 'app:' })
  const plain = await client('ioredis')
  const near = await nearCache({ client: prefixed })
  const key = newKey('prefixed')
  await near.set(key, 'v1')
  t.is(await command(plain, ['GET', `app:${key}`]), 'v1')
  await command(plain, ['SET', `app:${key}`, 'v2'])
  await waitFor(() => near.stats().invalidations === 1)
  t.is(await near.get(key), 'v2')
})

test.serial("close() closes the near cache's own connections only", async (t) => {
  const plain = await client('ioredis')
  const names = async () =>
    (await command(plain, ['CLIENT', 'LIST'])).split('\n').filter((l) => /name=leakless-near-cache/.test(l)).length
  const baseline = await names()
  const c = await client('node-redis')
  const near = await nearCache({ client: c })
  t.is(await names(), baseline + 2)
  await near.close()
  // Redis drops a closed connection from CLIENT LIST shortly after.
  await waitFor(async () => (await names()) === baseline, 5)
  t.is(await names(), baseline)
  t.true(c.isReady)
})
