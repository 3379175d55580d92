'use strict'

// The libraries that take a Map-like store, run against leakless's LRU as
// their users would: keyv (which calls store.set(key, value, ttlMs)), and
// through it cache-manager 7 and cacheable 2; DataLoader's cacheMap;
// memoize's cache. Both storages where the library stores strings.

const test = require('ava')
const { LRU } = require('..')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
// Waits until an entry stored with `ttl` ms has certainly expired.
const pastTTL = (ttl) => sleep(ttl * 3)
// Long enough that a loaded machine cannot expire an entry before the test
// reads it back (these libraries use the real clock).
const TTL = 400

for (const storage of ['heap', 'offheap']) {
  test(`${storage}: keyv stores through LRU.set(key, value, ttlMs), and the TTL is the LRU's`, async (t) => {
    const { Keyv } = await import('keyv')
    const store = new LRU({ max: 100, storage })
    const keyv = new Keyv({ store })
    t.true(await keyv.set('k', 'v', TTL))
    t.is(await keyv.get('k'), 'v')
    t.true(await keyv.has('k'))
    t.is(store.size, 1)
    const [key] = [...store.keys()]
    const left = store.getRemainingTTL(key)
    t.true(left > 0 && left <= TTL, `the entry carries keyv's TTL (${left} ms left)`)
    t.true(await keyv.set('forever', { n: 1 }))
    t.is(store.getRemainingTTL([...store.keys()].find((k) => k.endsWith('forever'))), Infinity)
    await pastTTL(TTL)
    t.false(store.has(key), 'the LRU itself expired it')
    t.is(await keyv.get('k'), undefined)
    t.false(await keyv.has('k'))
    t.deepEqual(await keyv.get('forever'), { n: 1 })
    t.true(await keyv.delete('forever'))
    t.is(store.size, 0)
  })

  test(`${storage}: keyv over a bounded LRU evicts the least recently used`, async (t) => {
    const { Keyv } = await import('keyv')
    const keyv = new Keyv({ store: new LRU({ max: 2, storage }) })
    await keyv.set('a', 1)
    await keyv.set('b', 2)
    await keyv.get('a')
    await keyv.set('c', 3)
    t.is(await keyv.get('a'), 1)
    t.is(await keyv.get('b'), undefined)
    t.is(await keyv.get('c'), 3)
    await keyv.clear()
    t.is(await keyv.get('a'), undefined)
  })

  test(`${storage}: cache-manager 7 with one Keyv tier over an LRU, TTLs included`, async (t) => {
    const { Keyv } = await import('keyv')
    const { createCache } = await import('cache-manager')
    const store = new LRU({ max: 100, storage })
    const cache = createCache({ stores: [new Keyv({ store })] })
    t.deepEqual(await cache.set('user:1', { name: 'Ada' }, TTL), { name: 'Ada' })
    t.deepEqual(await cache.get('user:1'), { name: 'Ada' })
    t.is(store.size, 1)
    let calls = 0
    const load = async () => {
      calls++
      return 'loaded'
    }
    t.is(await cache.wrap('w', load, 60_000), 'loaded')
    t.is(await cache.wrap('w', load, 60_000), 'loaded')
    t.is(calls, 1, 'wrap() loads once, then answers from the LRU')
    await pastTTL(TTL)
    t.is(await cache.get('user:1'), undefined)
    t.is(await cache.get('w'), 'loaded')
    t.true(await cache.del('w'))
    t.is(await cache.get('w'), undefined)
  })

  test(`${storage}: cacheable 2 with an LRU primary and an off-heap secondary`, async (t) => {
    const { Cacheable, Keyv } = await import('cacheable')
    const primaryStore = new LRU({ max: 100, storage })
    const secondaryStore = new LRU({ maxSize: 1 << 20, storage: 'offheap' })
    const cache = new Cacheable({
      primary: new Keyv({ store: primaryStore }),
      secondary: new Keyv({ store: secondaryStore }),
    })
    t.true(await cache.set('k', { deep: [1, 2] }, TTL))
    t.is(primaryStore.size, 1)
    t.is(secondaryStore.size, 1)
    t.deepEqual(await cache.get('k'), { deep: [1, 2] })
    // Lost from the primary: found in the secondary, and put back.
    primaryStore.clear()
    t.deepEqual(await cache.get('k'), { deep: [1, 2] })
    t.is(primaryStore.size, 1)
    await pastTTL(TTL)
    t.is(await cache.get('k'), undefined)
    t.false(await cache.has('k'))
    t.true(await cache.set('long', 'v'))
    t.true(await cache.delete('long'))
    t.is(await cache.get('long'), undefined)
  })
}

test('cache-manager 7 with two tiers: a heap LRU before an off-heap LRU', async (t) => {
  const { Keyv } = await import('keyv')
  const { createCache } = await import('cache-manager')
  const near = new LRU({ max: 2 })
  const far = new LRU({ maxSize: 1 << 20, storage: 'offheap' })
  const cache = createCache({ stores: [new Keyv({ store: near }), new Keyv({ store: far })] })
  await cache.set('a', 'A', TTL)
  await cache.set('b', 'B')
  await cache.set('c', 'C')
  t.is(near.size, 2, 'the first tier is bounded')
  t.is(far.size, 3)
  t.is(await cache.get('a'), 'A', 'found in the second tier')
  t.true(far.getRemainingTTL([...far.keys()].find((k) => k.endsWith('a'))) <= TTL)
  await pastTTL(TTL)
  t.is(await cache.get('a'), undefined)
  t.is(await cache.get('b'), 'B')
  await cache.mdel(['b', 'c'])
  t.is(far.size, 0)
})

test('DataLoader: an LRU as cacheMap bounds what it keeps', async (t) => {
  const DataLoader = require('dataloader')
  const batches = []
  const cacheMap = new LRU({ max: 2 })
  const loader = new DataLoader(
    async (keys) => {
      batches.push([...keys])
      return keys.map((k) => `user ${k}`)
    },
    { cacheMap },
  )
  t.deepEqual(await Promise.all([loader.load(1), loader.load(2), loader.load(1)]), ['user 1', 'user 2', 'user 1'])
  t.deepEqual(batches, [[1, 2]])
  await loader.load(3)
  t.is(cacheMap.size, 2, 'bounded by max')
  // load(1) twice made 2 the least recently used.
  await loader.load(2)
  t.deepEqual(batches, [[1, 2], [3], [2]], 'the least recently used key was evicted and is loaded again')
  loader.clear(3)
  t.false(cacheMap.has(3))
  loader.clearAll()
  t.is(cacheMap.size, 0)
})

// memoize stores { data, maxAge } objects: heap storage only.
test('memoize with an LRU as its cache', async (t) => {
  const { default: memoize } = await import('memoize')
  let calls = 0
  const slow = (x) => {
    calls++
    return `${x}!`
  }
  const cache = new LRU({ max: 2 })
  const fast = memoize(slow, { cache })
  t.is(fast('a'), 'a!')
  t.is(fast('a'), 'a!')
  t.is(calls, 1)
  fast('b')
  fast('c')
  t.is(cache.size, 2)
  t.is(fast('a'), 'a!')
  t.is(calls, 4, 'a was evicted, so it is computed again')
})
