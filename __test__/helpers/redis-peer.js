'use strict'

// The parent's side of __test__/fixtures/redis-peer.js: a second process
// that writes to the same Redis.

const path = require('node:path')
const { fork } = require('node:child_process')

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'redis-peer.js')

class Peer {
  static async start(port, kind) {
    const peer = new Peer(fork(FIXTURE, [String(port), kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
    await new Promise((resolve, reject) => {
      peer.child.once('exit', (code) => reject(new Error(`redis peer exited with ${code}`)))
      peer.child.on('message', (msg) => msg.ready && resolve())
    })
    return peer
  }

  constructor(child) {
    this.child = child
    this._next = 0
    this._waiting = new Map()
    child.on('message', (msg) => {
      const w = this._waiting.get(msg.id)
      if (w === undefined) return
      this._waiting.delete(msg.id)
      if (msg.ok) w.resolve(msg.result)
      else w.reject(new Error(`in the peer: ${msg.error}`))
    })
  }

  /** Runs `op` in the peer; resolves once its write was acknowledged by Redis. */
  run(op, key, value) {
    const id = ++this._next
    return new Promise((resolve, reject) => {
      this._waiting.set(id, { resolve, reject })
      this.child.send({ id, op, key, value })
    })
  }

  async stop() {
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.send({ op: 'exit' })
    await exited
  }
}

module.exports = { Peer }
