'use strict'

// A Piscina task: renders a report, through the cache every worker shares.
// Each worker thread opens the store 'reports' once, when Piscina loads this
// file; the main thread opened it too (see run.js), with the same options.

const { workerData } = require('node:worker_threads')
const { LRU } = require('./leakless')

const reports = new LRU({ storage: 'shared', name: 'reports', maxSize: 16 * 2 ** 20, ttl: 60_000 })
// Counts renders across every thread (a SharedArrayBuffer from run.js).
const renders = new Int32Array(workerData.renders)

async function render(id) {
  Atomics.add(renders, 0, 1)
  // Stands for a slow database query or template render.
  await new Promise((resolve) => setTimeout(resolve, 20))
  return JSON.stringify({ id, title: `Report ${id}`, rows: Array.from({ length: 50 }, (_, i) => i * id) })
}

/** Piscina's entry point: the report `id`, rendered once in the whole process. */
module.exports = async function task({ id }) {
  return reports.fetch(`report:${id}`, () => render(id))
}
