'use strict'

// leakless/redis when Redis goes away: the server is killed (SIGKILL) and
// restarted empty on the same port. The near cache must flush (and count it),
// serve nothing it held before, pass the client's errors on while Redis is
// down, and track again once it is back.

const test = require('ava')
const { KINDS } = require('./helpers/redis-clients')
const { redisFixture, waitFor } = require('./helpers/redis-fixture')

const redis = redisFixture(test)
const { nearCache } = redis
const client = (kind, options) => redis.client(kind, undefined, options)

function isReady(c) {
  return typeof c.status === 'string' ? c.status === 'ready' : c.isReady
}

/** `waitFor` with room for a server restart, polling every 2 ms. */
const waitLong = (check) => waitFor(check, 2)

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

      await redis.server.kill()
      await waitLong(() => near.stats().flushes === 1)
      t.like(near.stats(), { size: 0, tracking: false })

      // Down: the local copy is gone, so the read goes to the client, which fails.
      const err = await t.throwsAsync(near.get(key), { code: 'ERR_LEAKLESS_REDIS' })
      t.truthy(err.cause, "the client's error is attached")
      t.true(err.cause instanceof Error)

      await redis.server.restart()
      await waitLong(() => isReady(c))
      // Restarted empty: what the near cache held before is not served.
      t.is(await near.get(key), undefined)
      const plain = await client('ioredis')
      await plain.set(key, 'after the restart')
      t.is(await near.get(key), 'after the restart')

      await waitLong(() => near.stats().tracking)
      t.is(near.stats().flushes, 1, 'one outage, one counted flush')
      t.is(await near.get(key), 'after the restart')
      const { localHits, invalidations } = near.stats()
      t.is(await near.get(key), 'after the restart')
      t.is(near.stats().localHits, localHits + 1, 'local hits again')
      await plain.set(key, 'written later')
      await waitLong(() => near.stats().invalidations > invalidations)
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

    await redis.server.kill()
    await waitLong(() => near.stats().flushes === flushes + 1)
    const during = near.get(key)
    await redis.server.restart()
    const plain = await client('ioredis')
    await plain.set(key, 'new')
    // The client may also fail the queued read when its socket closes under
    // it: a rejection with the client's error is an answer too, the old value
    // never is.
    const value = await during.then(
      (v) => v,
      (err) => {
        t.is(err.code, 'ERR_LEAKLESS_REDIS')
        t.truthy(err.cause, "the client's error is attached")
        return undefined
      },
    )
    t.true(value === undefined || value === 'new', `read during the outage: ${value}`)
    await waitLong(() => near.stats().tracking)
    t.is(await near.get(key), 'new')
  })
}
