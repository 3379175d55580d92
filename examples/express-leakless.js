'use strict'

// The service of examples/express-leaky.js, on leakless. Same routes, same
// responses; each of its three leaks is replaced by a bounded primitive:
//
// 1. the Map cache          -> an LRU with a size bound (off-heap storage)
// 2. per-request listeners  -> ListenerRegistry.of(req), removed when the response closes
// 3. a fresh Buffer per req -> a BufferPool Buffer, released when the response closes
//
// Run it on its own:   node examples/express-leakless.js
// Compare the two:     npm run demo

const { EventEmitter } = require('node:events')
const express = require('express')
// In your app: require('leakless')
const { LRU, ListenerRegistry, BufferPool } = require('..')
const { REPORT_BYTES, renderReport } = require('./report')

// The same long-lived emitter. No need to raise its listener limit: the
// registry below warns, with the registering line, if listeners pile up.
const db = new EventEmitter()

// 1. At most 16 MiB of reports, kept in native memory the garbage collector
//    never has to trace. `get` returns a copy, which `res.send` can own.
const reports = new LRU({ maxSize: 16 * 2 ** 20, storage: 'offheap' })

// 3. Render Buffers come from a pool: at most 8 MiB kept for reuse, and a
//    Buffer that is never released is reported as a leak.
const pool = new BufferPool({ bufferSize: REPORT_BYTES, maxBytes: 8 * 2 ** 20 })

function createApp() {
  const app = express()

  // 2. Every request gets a scope, `ListenerRegistry.of(req)`, disposed when its response
  //    finishes or closes. maxListeners counts over concurrent requests.
  app.use(ListenerRegistry.express({ maxListeners: 1000 }))

  app.get('/report/:id', (req, res) => {
    ListenerRegistry.of(req).on(db, 'error', () => {
      if (!res.headersSent) res.status(503).end()
    })

    // The same key as the leaky app (a better one would leave out `?t=`):
    // every request still adds an entry, but the cache cannot pass its bound.
    const cached = reports.get(req.originalUrl)
    if (cached !== undefined) {
      res.type('json').send(cached)
      return
    }
    const buf = pool.acquire(REPORT_BYTES)
    // The socket may still be writing `buf` after send() returns; 'close'
    // comes once the response is finished or aborted, and it is done with it.
    res.once('close', () => pool.release(buf))
    const body = buf.subarray(0, renderReport(req.params.id, buf))
    reports.set(req.originalUrl, body) // copies the bytes into the cache
    res.type('json').send(body)
  })

  return app
}

module.exports = { createApp, db, reports, pool }

if (require.main === module) {
  const server = createApp().listen(3000, '127.0.0.1', () => {
    console.log(`leakless app on http://127.0.0.1:${server.address().port}/report/42?t=1`)
  })
}
