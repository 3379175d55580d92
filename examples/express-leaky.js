'use strict'

// A typical Express service that leaks, three ways. Nothing here looks wrong
// in a code review of one request; each request leaves something behind.
// examples/express-leakless.js is the same service on leakless.
//
// Run it on its own:   node examples/express-leaky.js
// Compare the two:     npm run demo

const { EventEmitter } = require('node:events')
const express = require('express')
const { REPORT_BYTES, renderReport } = require('./report')

// A long-lived emitter, as a database client or a pub/sub connection is.
const db = new EventEmitter()
// Node warns once past 10 listeners; services often "fix" the warning like this.
db.setMaxListeners(0)

// LEAK 1: a module-level cache with no bound. Its key is the whole URL, and
// clients add a cache-busting query (`?t=...`), so every request is a new entry.
const reports = new Map()

function createApp() {
  const app = express()

  app.get('/report/:id', (req, res) => {
    // LEAK 2: a listener per request on the long-lived emitter, never removed.
    // It closes over `res`, so every response object stays reachable too.
    db.on('error', () => {
      if (!res.headersSent) res.status(503).end()
    })

    let body = reports.get(req.originalUrl)
    if (body === undefined) {
      // LEAK 3: a fresh Buffer per request, kept by the cache above: memory
      // outside the JS heap that no heap snapshot's "retained size" shows.
      const buf = Buffer.alloc(REPORT_BYTES)
      body = buf.subarray(0, renderReport(req.params.id, buf))
      reports.set(req.originalUrl, body)
    }
    res.type('json').send(body)
  })

  return app
}

module.exports = { createApp, db }

if (require.main === module) {
  const server = createApp().listen(3000, '127.0.0.1', () => {
    console.log(`leaky app on http://127.0.0.1:${server.address().port}/report/42?t=1`)
  })
}
