'use strict'

// Jest gives each test file its own module registry, and jest.isolateModules
// a fresh one inside a file: the package, and the addon with it, is then
// loaded again in the same process and thread. Both copies must work side by
// side, and share one account of native memory (it is the thread's).
// Errors may come from another realm: assert on name and code.

const { EventEmitter } = require('node:events')
const first = require('../..')

function loadAgain() {
  let again
  jest.isolateModules(() => {
    again = require('../..')
  })
  return again
}

test('a second copy is a separate module with working primitives', () => {
  const again = loadAgain()
  expect(again).not.toBe(first)
  expect(again.LRU).not.toBe(first.LRU)

  const cache = new again.LRU({ max: 2 })
  cache.set('a', 1).set('b', 2).set('c', 3)
  expect([...cache.keys()]).toEqual(['c', 'b'])

  const pool = new again.BufferPool({ bufferSize: 1024, maxBytes: 64 * 1024 })
  const buf = pool.acquire(10)
  expect(buf.length).toBe(10)
  pool.release(buf)
  expect(buf.length).toBe(0)
  pool.close()

  const bus = new EventEmitter()
  const reg = new again.ListenerRegistry()
  reg.on(bus, 'x', () => {})
  expect(bus.listenerCount('x')).toBe(1)
  expect(reg.dispose()).toBe(1)
  expect(bus.listenerCount('x')).toBe(0)
})

test('both copies see the same native memory, and it returns to its start', () => {
  const again = loadAgain()
  const start = first.stats().externalBytes
  expect(again.stats().externalBytes).toBe(start)

  const a = new first.LRU({ maxSize: 2 ** 20, storage: 'offheap' })
  const b = new again.LRU({ maxSize: 2 ** 20, storage: 'offheap' })
  a.set('k', Buffer.alloc(10_000))
  b.set('k', Buffer.alloc(20_000))
  const held = first.stats().externalBytes - start
  expect(held).toBeGreaterThanOrEqual(30_000)
  expect(again.stats().externalBytes - start).toBe(held)

  a.clear()
  b.clear()
  expect(first.stats().externalBytes).toBe(start)
  expect(again.stats().externalBytes).toBe(start)
})

test("a pool refuses a Buffer from the other copy's pool and both stay usable", () => {
  const again = loadAgain()
  const mine = new first.BufferPool({ bufferSize: 512 })
  const theirs = new again.BufferPool({ bufferSize: 512 })
  const buf = theirs.acquire()
  expect(() => mine.release(buf)).toThrow(expect.objectContaining({ name: 'TypeError' }))
  expect(buf.length).toBe(512)
  theirs.release(buf)
  mine.release(mine.acquire())
  expect(mine.stats().inUse).toBe(0)
  expect(theirs.stats().inUse).toBe(0)
  mine.close()
  theirs.close()
})
