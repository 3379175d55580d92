const { LRUCache } = require('lru-cache')
const MAX = 50000, N = 100000
const keys = Array.from({ length: N }, (_, i) => `user:${i}:session`)
function indexes(count, range, seed) { const out = new Uint32Array(count); let x = seed; for (let i = 0; i < count; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = (x >>> 0) % range } return out }
const hit = indexes(1e6, MAX, 12345)
class Mock { #map = new Map(); #vals = []; #stamps = new Uint32Array(MAX); #tick = 0
  set(k, v) { const s = this.#vals.length; this.#vals.push(v); this.#map.set(k, s) }
  get(k) { const s = this.#map.get(k); if (s === undefined) return undefined; this.#stamps[s] = ++this.#tick; return this.#vals[s] } }
const which = process.argv[2]
const c = which === 'mock' ? new Mock() : new LRUCache({ max: MAX })
for (let i = 0; i < MAX; i++) c.set(keys[i], i)
let sink = 0
for (let r = 0; r < 5; r++) { const t = process.hrtime.bigint(); for (let i = 0; i < hit.length; i++) sink += c.get(keys[hit[i]]); console.log(which, Number(process.hrtime.bigint() - t) / hit.length) }
