'use strict'

// The Express app of the redis bench, in its own process so that autocannon
// (in the parent) does not share its event loop:
//
//   node benchmark/redis/app.js <redis port> <ioredis|node-redis>
//
// GET /near/:key   reads through a NearCache (local hit, else Redis)
// GET /plain/:key  always GETs from Redis with the same client
// GET /const/:key  a constant 1 KiB string (neither cache nor Redis)
// GET /stats       the near cache's stats()
//
// Prints {"port":N} once listening.

const express = require('express')
const { NearCache } = require('../../lib/redis')
const { connectClient } = require('../../__test__/helpers/redis-clients')

async function main() {
  const [port, kind] = process.argv.slice(2)
  const { client } = await connectClient(kind, Number(port))
  const near = new NearCache({ client, maxSize: 64 * 2 ** 20 })
  if (!(await near.ready())) throw new Error('tracking did not start')
  const app = express()
  app.disable('etag')
  app.disable('x-powered-by')
  app.get('/near/:key', async (req, res) => {
    const value = await near.get(req.params.key)
    if (value === undefined) res.status(404).end()
    else res.type('text').send(value)
  })
  app.get('/plain/:key', async (req, res) => {
    const value = await client.get(req.params.key)
    if (value === null) res.status(404).end()
    else res.type('text').send(value)
  })
  const constant = 'x'.repeat(1024)
  app.get('/const/:key', (req, res) => res.type('text').send(constant))
  app.get('/stats', (req, res) => res.json(near.stats()))
  const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })))
  process.on('SIGTERM', () => {
    server.close()
    near.close()
    client.destroy ? client.destroy() : client.disconnect()
    process.exit(0)
  })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
