'use strict'

// Jest loads the addon through Node's own require, so errors come from
// another realm: assert on `name` and `code`, not `instanceof`.

const { LRU, stats } = require('../..')

describe('LRU under Jest', () => {
  test('works as a bounded Map', () => {
    const cache = new LRU({ max: 2 })
    cache.set('a', 1).set('b', 2)
    expect(cache.get('a')).toBe(1)
    cache.set('c', 3)
    expect([...cache.keys()]).toEqual(['c', 'a'])
    expect(cache.size).toBe(2)
    expect(cache.delete('a')).toBe(true)
    expect(cache.has('a')).toBe(false)
  })

  test('refuses an unbounded cache with a RangeError and a code', () => {
    expect(() => new LRU({})).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_LEAKLESS_UNBOUNDED' }))
  })

  test.each([
    [{ max: -1 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ max: 'x' }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [{ max: 3, ttl: -1 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    [{ max: 3, onEvict: 1 }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [{ max: 3, storage: 'nowhere' }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
  ])('bad options %p throw %s %s', (options, name, code) => {
    expect(() => new LRU(options)).toThrow(expect.objectContaining({ name, code }))
  })

  test('onEvict reasons', () => {
    const reasons = []
    const cache = new LRU({ max: 1, onEvict: (v, k, reason) => reasons.push(reason) })
    cache.set('a', 1).set('a', 2).set('b', 3)
    cache.delete('b')
    cache.set('c', 4)
    cache.clear()
    expect(reasons).toEqual(['set', 'evict', 'delete', 'clear'])
  })

  test('fetch deduplicates concurrent misses', async () => {
    let calls = 0
    const cache = new LRU({ max: 10, fetchMethod: async (k) => (calls++, `v${k}`) })
    const values = await Promise.all([cache.fetch(1), cache.fetch(1)])
    expect(values).toEqual(['v1', 'v1'])
    expect(calls).toBe(1)
  })

  test('stats() reports live caches', () => {
    const cache = new LRU({ max: 10 })
    cache.set('x', 1)
    const s = stats()
    expect(s.lru.instances).toBeGreaterThanOrEqual(1)
    expect(s.lru.entries).toBeGreaterThanOrEqual(1)
    expect(typeof s.externalBytes).toBe('number')
  })

  test('loading the addon again through a fresh module registry works', () => {
    jest.isolateModules(() => {
      const again = require('../..')
      const cache = new again.LRU(3)
      cache.set('k', 'v')
      expect(cache.get('k')).toBe('v')
    })
  })
})
