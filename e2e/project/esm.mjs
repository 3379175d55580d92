// ESM users: named imports through Node's detection of CommonJS exports.
import assert from 'node:assert/strict'
import { LRU, BufferPool, ListenerRegistry, stats, version } from 'leakless'
import leakless from 'leakless'

const cache = new LRU({ max: 10 })
cache.set('a', { n: 1 })
assert.deepEqual(cache.get('a'), { n: 1 })
assert.equal(typeof BufferPool, 'function')
assert.equal(typeof ListenerRegistry, 'function')
assert.equal(typeof stats().externalBytes, 'number')
assert.equal(leakless.LRU, LRU)
assert.match(version, /^\d+\.\d+\.\d+/)
console.log('esm ok')

const { NearCache } = await import('leakless/redis')
assert.equal(typeof NearCache, 'function')
console.log('esm leakless/redis ok')
