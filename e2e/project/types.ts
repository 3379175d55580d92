// The public types as a TypeScript user meets them, checked with
// `tsc --noEmit --strict`. Lines marked @ts-expect-error must fail to compile.
import { EventEmitter } from 'node:events'
import * as leakless from 'leakless'
import { LRU, BufferPool, ListenerRegistry, type LeaklessStats } from 'leakless'

interface User {
  id: string
  name: string
}

const users = new LRU<string, User>({
  max: 1000,
  ttl: 60_000,
  onEvict: (user, id, reason) => void [user.name, id, reason],
})
users.set('u1', { id: 'u1', name: 'Ada' }).set('u2', { id: 'u2', name: 'Lin' })
const ada: User | undefined = users.get('u1')
const name: string | undefined = ada?.name
for (const [id, user] of users) {
  const check: [string, User] = [id, user]
  void check
}
users.forEach((user, id) => void [user.id, id])
const loaded: Promise<User | undefined> = users.fetch('u3', async (id) => ({ id, name: 'fetched' }))
// @ts-expect-error keys are strings
users.set(1, { id: '1', name: 'x' })
// @ts-expect-error values are Users
users.set('u4', { id: 'u4' })

// Code written for lru-cache 11: its options, per-call options and methods.
const lruStyle = new LRU<string, User, { tenant: string }>({
  max: 100,
  ttl: 1000,
  perf: Date,
  ttlAutopurge: true,
  dispose: (user, id, reason) => void [user.name, id, reason],
  disposeAfter: (user, id, reason) => void reason,
  onInsert: (user, id, reason) => void reason,
  fetchMethod: async (id, stale, { signal, options, context }) => {
    void [signal.aborted, options.ttl, context.tenant, stale?.name]
    return { id, name: 'fetched' }
  },
  memoMethod: (id) => ({ id, name: 'memo' }),
})
const status: leakless.LRUStatus<User> = {}
lruStyle.set('u1', { id: 'u1', name: 'Ada' }, 5000)
lruStyle.set('u1', { id: 'u1', name: 'Ada' }, { ttl: 5, noDisposeOnSet: true, status })
const stale: User | undefined = lruStyle.get('u1', { allowStale: true, status })
const refreshed: Promise<User | undefined> = lruStyle.fetch('u1', { context: { tenant: 't' }, forceRefresh: true })
const forced: Promise<User> = lruStyle.forceFetch('u1')
const memo: User = lruStyle.memo('u2')
const oldestFirst: string[] = [...lruStyle.rkeys()]
const copy = new LRU<string, User>({ max: lruStyle.max, maxSize: lruStyle.maxSize })
void [stale, refreshed, forced, memo, oldestFirst, copy, lruStyle.info('u1'), lruStyle.find((u) => u.name === 'Ada')]

const bytes = new LRU<string, Buffer>({ maxSize: 1 << 20, storage: 'offheap' })
bytes.set('k', Buffer.from('v'))

const sessions = new LRU<string, string>({ storage: 'shared', name: 'sessions', maxSize: 1 << 20, ttl: 60_000 })
sessions.set('u:42', '{"id":42}')
const storeName: string | undefined = sessions.name
const sharedStores: Array<{ name: string; entries: number; bytes: number; holders: number }> = leakless.stats().shared

const pool = new BufferPool({ bufferSize: 16384, maxBytes: 64 * 2 ** 20, leakDetection: 'sample' })
const buf: Buffer = pool.acquire(1500)
pool.release(buf)
const size: Promise<number> = pool.using(4096, async (b) => b.length)
const inUse: number = pool.stats().inUseBytes

const reg = new ListenerRegistry({ maxListeners: 10 })
const off = reg.on(new EventEmitter(), 'data', (chunk: unknown) => void chunk)
const removed: boolean = off()
const scope: ListenerRegistry = reg.scope()
scope.dispose()

const s: LeaklessStats = leakless.stats()
const external: number = s.externalBytes + leakless.memoryUsage().leakless
const m = leakless.monitor({ windowMs: 60_000, onGrowth: (trend) => void trend.bytesPerMin })
m.stop()

export { name, loaded, size, inUse, removed, external }

// The per-request scope of ListenerRegistry.express(), typed without
// declaration merging; the request's own listeners() method is untouched.
import type { Request } from 'express'
declare const request: Request
const requestScope: ListenerRegistry = ListenerRegistry.of(request)
requestScope.on(new EventEmitter(), 'tick', () => {})
const dataListeners: Function[] = request.listeners('data')
void dataListeners

// leakless/redis, typed without ioredis or redis installed: the client is
// anything with duplicate(), values go through serialize/deserialize.
import { NearCache, type NearCacheStats } from 'leakless/redis'
declare const redisClient: { duplicate(): unknown }
const near = new NearCache<User>({
  client: redisClient,
  maxSize: 1 << 20,
  ttl: 60_000,
  deserialize: (stored: string) => JSON.parse(stored) as User,
})
const nearUser: Promise<User | undefined> = near.get('user:1')
const nearLoaded: Promise<User> = near.fetch('user:2', async (key) => ({ id: key, name: 'loaded' }), { ttl: 1000 })
const nearStats: NearCacheStats = near.stats()
const nearFlushes: number = nearStats.flushes + nearStats.localHits
// @ts-expect-error keys are strings
near.get(42)
// @ts-expect-error storage is 'offheap' or 'heap'
new NearCache({ client: redisClient, maxSize: 1024, storage: 'disk' })
export { nearUser, nearLoaded, nearFlushes }
