'use strict'

// An Express app as a user writes it, with leakless from the registry.
// Serves on 127.0.0.1, on a port the system picks, and prints that port.

const express = require('express')
const { LRU } = require('leakless')

const users = new LRU({ max: 100 })
let lookups = 0

const app = express()
app.get('/users/:id', (req, res) => {
  let user = users.get(req.params.id)
  if (user === undefined) {
    lookups++
    user = { id: req.params.id, name: `user ${req.params.id}` }
    users.set(req.params.id, user)
  }
  res.json(user)
})
app.get('/cache', (req, res) => res.json({ lookups, ...users.stats() }))

const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
