'use strict'

// What the leakless/redis spec files share: one redis-server per file
// (started before the tests, stopped after them), and clients, near caches
// and proxies that are closed at the end, the last opened first.

const assert = require('node:assert/strict')
const { NearCache } = require('leakless/redis')
const { RedisServer } = require('./redis-server')
const { RedisProxy } = require('./redis-proxy')
const { connectClient } = require('./redis-clients')

/** Registers the server's start and the closing of everything on `test`; returns the helpers. */
function redisFixture(test) {
  const opened = []
  let server = null

  test.before(async () => {
    server = await RedisServer.start()
  })

  test.after.always(async () => {
    for (const close of opened.splice(0).reverse()) await close()
    if (server) await server.stop()
  })

  return {
    /** The RedisServer (set once `test.before` ran). */
    get server() {
      return server
    },
    /** Registers `close` to run at the end. */
    closeAtEnd(close) {
      opened.push(close)
    },
    /** A connected client of `kind` (ioredis or node-redis), to the server or to `port`. */
    async client(kind, port = server.port, options) {
      const c = await connectClient(kind, port, options)
      opened.push(c.close)
      return c.client
    },
    /** A NearCache with tracking on. */
    async nearCache(options) {
      const near = new NearCache({ maxSize: 1 << 20, ...options })
      opened.push(() => near.close())
      assert.equal(await near.ready(), true, 'tracking is on')
      return near
    },
    /** A RedisProxy in front of the server (call `listen()` for its port). */
    proxy() {
      const proxy = new RedisProxy(server.port)
      opened.push(() => proxy.close())
      return proxy
    },
  }
}

/**
 * Polls `check` (which may return a promise) every `everyMs` until it is
 * true. No deadline of its own: an event that never comes fails the test
 * through AVA's timeout, so no test depends on how fast the machine is.
 */
async function waitFor(check, everyMs = 1) {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, everyMs))
}

module.exports = { redisFixture, waitFor }
