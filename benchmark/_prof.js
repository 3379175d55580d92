const { LRU } = require('..')
const { LRUCache } = require('lru-cache')
const which = process.argv[2] || 'leakless'
const MAX = 50000
const keys = Array.from({ length: 100000 }, (_, i) => `user:${i}:session`)
const make = () => which === 'lru-cache' ? new LRUCache({ max: MAX }) : new LRU({ max: MAX })
let t0 = process.hrtime.bigint()
for (let r = 0; r < 60; r++) { const c = make(); for (let i = 0; i < MAX; i++) c.set(keys[i], i) }
console.log(which, 'setEmpty', Number(process.hrtime.bigint() - t0) / (60 * MAX))
