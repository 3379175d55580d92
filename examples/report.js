'use strict'

// The work both example apps do per request: render a small JSON report for
// an id into a Buffer. It is the same in both apps so that the only
// difference between them is how they hold memory.

/** Bytes a rendered report may take. */
const REPORT_BYTES = 2048

/**
 * Renders the report for `id` into `target` (a Buffer of at least
 * REPORT_BYTES) and returns the number of bytes written.
 */
function renderReport(id, target) {
  const lines = []
  for (let i = 0; i < 12; i++) {
    lines.push({ sku: `${id}-${i}`, quantity: (i * 7 + id.length) % 13, price: ((i + 1) * 4.25).toFixed(2) })
  }
  const json = JSON.stringify({ id, generatedAt: new Date().toISOString(), lines })
  return target.write(json, 0, 'utf8')
}

module.exports = { REPORT_BYTES, renderReport }
