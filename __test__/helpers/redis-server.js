'use strict'

// A real redis-server for the leakless/redis tests and bench: started on a
// free 127.0.0.1 port with persistence off, killed or restarted on demand,
// stopped at the end. REDIS_SERVER may name the binary; without it,
// redis-server is used, or valkey-server when only that one is installed.
//
// When the binary is missing this throws, naming the install command: the
// tests that need Redis fail loudly instead of being skipped.

const { spawn, spawnSync } = require('node:child_process')
const net = require('node:net')

const INSTALL = 'apt-get install -y redis-server'

/** REDIS_SERVER when set; else redis-server, else valkey-server, from the PATH. */
function redisServerBinary() {
  const candidates = process.env.REDIS_SERVER ? [process.env.REDIS_SERVER] : ['redis-server', 'valkey-server']
  for (const bin of candidates) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' })
    if (!r.error && r.status === 0) return bin
  }
  throw new Error(
    `${candidates.join(' or ')} was not found: the leakless/redis tests and bench need a real Redis 6+ (or Valkey). ` +
      `Install it with \`${INSTALL}\` (Debian, Ubuntu), or set REDIS_SERVER to a redis-server or valkey-server binary.`,
  )
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Resolves once the server on `port` answers PING with PONG. */
function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let answer = ''
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setEncoding('utf8')
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      answer += chunk
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'))
    })
    socket.once('error', () => done(false))
  })
}

class RedisServer {
  constructor(bin, port) {
    this.bin = bin
    this.port = port
    this.url = `redis://127.0.0.1:${port}`
    this.child = null
    this._exited = null
    this.output = ''
  }

  /** A server on a free port, answering PING. */
  static async start() {
    const server = new RedisServer(redisServerBinary(), await freePort())
    await server._spawn()
    return server
  }

  async _spawn() {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
    const child = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this._exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
    const keep = (chunk) => {
      this.output = (this.output + chunk).slice(-4000)
    }
    child.stdout.setEncoding('utf8').on('data', keep)
    child.stderr.setEncoding('utf8').on('data', keep)
    let exited = false
    this._exited.then(() => (exited = true))
    while (!(await ping(this.port))) {
      if (exited) {
        throw new Error(`${this.bin} did not start on port ${this.port}:\n${this.output}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** SIGKILL: the server dies without closing its connections politely; its data is gone. */
  async kill() {
    if (this.child === null) return
    this.child.kill('SIGKILL')
    await this._exited
    this.child = null
  }

  /** Starts it again on the same port (empty: persistence is off). */
  async restart() {
    await this.kill()
    await this._spawn()
  }

  async stop() {
    if (this.child === null) return
    this.child.kill('SIGTERM')
    await this._exited
    this.child = null
  }
}

module.exports = { RedisServer, redisServerBinary, freePort, INSTALL }
