'use strict'

// Process A of the redis bench's invalidation-latency case: on each message
// { key, value } it reads the monotonic clock (shared by every process on the
// machine), SETs the key with a plain client, and answers with that time.
//
//   fork('benchmark/redis/writer.js', [port, kind])

const { connectClient } = require('../../__test__/helpers/redis-clients')

async function main() {
  const [port, kind] = process.argv.slice(2)
  const { client, close } = await connectClient(kind, Number(port))
  process.on('message', async (msg) => {
    if (msg.exit) {
      close()
      process.disconnect()
      return
    }
    const t0 = process.hrtime.bigint()
    await client.set(msg.key, msg.value)
    process.send({ t0: String(t0) })
  })
  process.send({ ready: true })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
