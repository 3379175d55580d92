'use strict'

// leakless/redis when Redis goes away: the server is killed (SIGKILL) and
// restarted empty on the same port. The near cache must flush (and count it),
// serve nothing it held before, pass the client's errors on while Redis is
// down, and track again once it is back.

const assert = require('node:assert/strict')
const test = require('ava')
const { NearCache } = require('leakless/redis')
const { RedisServer } = require('./helpers/redis-server')
const { KINDS, connectClient } = require('./helpers/redis-clients')

let server
const opened = []

test.before(async () => {
  server = await RedisServer.start()
})

test.after.always(async () => {
  for (const close of opened.splice(0).reverse()) await close()
  if (server) await server.stop()
})

async function client(kind, options) {
  const c = await connectClient(kind, server.port, options)
  opened.push(c.close)
  return c.client
}

async function nearCache(options) {
  const near = new NearCache({ maxSize: 1 << 20, ...options })
  opened.push(() => near.close())
  assert.equal(await near.ready(), true, 'tracking is on')
  return near
}

function isReady(c) {
  return typeof c.status === 'string' ? c.status === 'ready' : c.isReady
}

/** Polls `check` every few milliseconds until it is true; a failure bound, not a timing assertion. */
async function waitFor(check, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

for (const kind of KINDS) {
  test.serial(
    `${kind}: Redis killed and restarted: flushed, errors passed on, nothing stale, tracking back`,
    async (t) => {
      const c = await client(kind, { offlineQueue: false })
      const near = await nearCache({ client: c })
      const key = `outage:${kind}`
      await near.set(key, 'before the outage')
      t.is(await near.get(key), 'before the outage')
      t.like(near.stats(), { size: 1, flushes: 0, localHits: 1 })

      await server.kill()
      await waitFor(() => near.stats().flushes === 1, 'the flush')
      t.like(near.stats(), { size: 0, tracking: false })

      // Down: the local copy is gone, so the read goes to the client, which fails.
      const err = await t.throwsAsync(near.get(key), { code: 'ERR_LEAKLESS_REDIS' })
      t.truthy(err.cause, "the client's error is attached")
      t.true(err.cause instanceof Error)

      await server.restart()
      await waitFor(() => isReady(c), 'the client to reconnect')
      // Restarted empty: what the near cache held before is not served.
      t.is(await near.get(key), undefined)
      const plain = await client('ioredis')
      await plain.set(key, 'after the restart')
      t.is(await near.get(key), 'after the restart')

      await waitFor(() => near.stats().tracking, 'tracking to come back')
      t.is(near.stats().flushes, 1, 'one outage, one counted flush')
      t.is(await near.get(key), 'after the restart')
      const { localHits, invalidations } = near.stats()
      t.is(await near.get(key), 'after the restart')
      t.is(near.stats().localHits, localHits + 1, 'local hits again')
      await plain.set(key, 'written later')
      await waitFor(() => near.stats().invalidations > invalidations, 'an invalidation after the restart')
      t.is(await near.get(key), 'written later')
    },
  )

  test.serial(`${kind}: a read queued by the client during an outage never returns the old value`, async (t) => {
    const c = await client(kind)
    const near = await nearCache({ client: c })
    const key = `queued:${kind}`
    await near.set(key, 'old')
    t.is(await near.get(key), 'old')
    const flushes = near.stats().flushes

    await server.kill()
    await waitFor(() => near.stats().flushes === flushes + 1, 'the flush')
    const during = near.get(key)
    await server.restart()
    const plain = await client('ioredis')
    await plain.set(key, 'new')
    const value = await during
    t.true(value === undefined || value === 'new', `read during the outage: ${value}`)
    await waitFor(() => near.stats().tracking, 'tracking to come back')
    t.is(await near.get(key), 'new')
  })
}
