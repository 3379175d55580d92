'use strict'

// Turns the two runs of run.js into the printed table and demo-report.html
// (the same table plus charts of memory over requests, as inline SVG).

const MiB = 2 ** 20

function mib(bytes) {
  return `${(bytes / MiB).toFixed(1)} MiB`
}

// A signed amount in the unit that suits it: "+62.0 MiB", "-3.1 KiB", "+1.35 GiB", "0 KiB".
function signedBytes(bytes) {
  const abs = Math.abs(bytes)
  let text
  if (abs >= 2 ** 30) text = `${(abs / 2 ** 30).toFixed(2)} GiB`
  else if (abs >= MiB) text = mib(abs)
  else text = `${(abs / 1024).toFixed(1)} KiB`
  if (text.startsWith('0.0 ')) return '0 KiB'
  return `${bytes < 0 ? '-' : '+'}${text}`
}

function ms(value) {
  return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`
}

function count(n) {
  return Math.round(n).toLocaleString('en-US')
}

/** Least-squares slope of y over x (0 with fewer than two distinct x). */
function slope(points) {
  const n = points.length
  if (n < 2) return 0
  let mx = 0
  let my = 0
  for (const [x, y] of points) {
    mx += x / n
    my += y / n
  }
  let sxx = 0
  let sxy = 0
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2
    sxy += (x - mx) * (y - my)
  }
  return sxx === 0 ? 0 : sxy / sxx
}

function verdict(monitor) {
  const heap = monitor.heap
  if (monitor.alerts.length > 0) {
    const top = monitor.alerts.reduce((a, b) => (b.bytesPerMin > a.bytesPerMin ? b : a))
    const n = monitor.alerts.length
    const alerts = `${n} alert${n === 1 ? '' : 's'}`
    return `GROWTH: ${top.metric} ${signedBytes(top.bytesPerMin)}/min, R² ${top.r2.toFixed(2)} (${alerts})`
  }
  if (heap === null) return `no verdict: ${monitor.postGcSamples} post-GC samples`
  // The monitor judges only samples that span half its window or more.
  if (heap.toTime - heap.fromTime < monitor.windowMs / 2) {
    return `no verdict: ${((heap.toTime - heap.fromTime) / 1000).toFixed(1)} s of samples, less than half the window`
  }
  return `no growth: heap ${signedBytes(heap.bytesPerMin)}/min, R² ${heap.r2.toFixed(2)}`
}

/** The figures of one run that the table and the page show. */
function summarize(run) {
  const { samples, gcTime, monitor, served } = run.report
  const postGc = samples.filter((s) => s.postGc)
  const first = postGc[0]
  const last = postGc.at(-1)
  const per10k = (field) => slope(postGc.map((s) => [s.requests, s[field]])) * 10_000
  const { latency, requests } = run.result
  return {
    served,
    perSecond: requests.average,
    p50: latency.p50,
    p99: latency.p99,
    heap: [first.heapUsed, last.heapUsed],
    external: [first.external, last.external],
    rss: [first.rss, last.rss],
    leakless: last.leakless,
    heapPer10k: per10k('heapUsed'),
    externalPer10k: per10k('external'),
    gcMs: gcTime.ms,
    gcCount: gcTime.count,
    gcMaxPauseMs: gcTime.maxPauseMs,
    forcedCount: gcTime.forcedCount,
    forcedMs: gcTime.forcedMs,
    verdict: verdict(monitor),
  }
}

function rows(runs) {
  const s = runs.map(summarize)
  const row = (label, f) => [label, ...s.map(f)]
  return [
    ['', ...runs.map((run) => `${run.name} (${run.what})`)],
    row('requests served', (x) => `${count(x.served)} (${count(x.perSecond)}/s)`),
    row('latency p50 / p99', (x) => `${x.p50} ms / ${x.p99} ms`),
    row('heap used after GC, start -> end', (x) => `${mib(x.heap[0])} -> ${mib(x.heap[1])}`),
    row('external after GC, start -> end', (x) => `${mib(x.external[0])} -> ${mib(x.external[1])}`),
    row('RSS, start -> end', (x) => `${mib(x.rss[0])} -> ${mib(x.rss[1])}`),
    row('heap growth per 10,000 requests', (x) => signedBytes(x.heapPer10k)),
    row('external growth per 10,000 requests', (x) => signedBytes(x.externalPer10k)),
    row('leakless native memory at end', (x) => mib(x.leakless)),
    row(
      'GC time, not counting forced GCs',
      (x) => `${ms(x.gcMs)} in ${count(x.gcCount)} GCs, longest ${ms(x.gcMaxPauseMs)}`,
    ),
    row('forced full GCs (for the samples)', (x) => `${ms(x.forcedMs)} in ${count(x.forcedCount)}`),
    row('monitor() verdict', (x) => x.verdict),
  ]
}

/** The side-by-side table, as plain text. */
function formatTable(runs) {
  const table = rows(runs)
  const widths = table[0].map((_, col) => Math.max(...table.map((r) => r[col].length)))
  const line = (r) =>
    r
      .map((cell, col) => cell.padEnd(widths[col]))
      .join('  ')
      .trimEnd()
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  return [line(table[0]), rule, ...table.slice(1).map(line)].join('\n')
}

// ---------------------------------------------------------------- page

const COLORS = { leaky: '#c62828', leakless: '#1565c0' }

function escapeHtml(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
}

// Round numbers for axis ticks: 1, 2 or 5 times a power of ten.
function ticks(max, wanted = 5) {
  if (!(max > 0)) return [0, 1]
  const raw = max / wanted
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)
  const result = []
  for (let v = 0; v <= max + step / 2; v += step) result.push(v)
  if (result.at(-1) < max) result.push(result.at(-1) + step)
  return result
}

/**
 * One SVG line chart. `series`: [{ name, color, points: [[x, y]], faint }],
 * x in requests, y in bytes.
 */
function chart(title, series) {
  const width = 760
  const height = 300
  const m = { left: 70, right: 40, top: 36, bottom: 46 }
  const all = series.flatMap((s) => s.points)
  const xTicks = ticks(Math.max(1, ...all.map(([x]) => x)))
  const yTicks = ticks(Math.max(1, ...all.map(([, y]) => y / MiB)))
  const xMax = xTicks.at(-1)
  const yMax = yTicks.at(-1)
  const px = (x) => m.left + (x / xMax) * (width - m.left - m.right)
  const py = (y) => height - m.bottom - (y / MiB / yMax) * (height - m.top - m.bottom)
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" role="img">`,
    `<title>${escapeHtml(title)}</title>`,
    `<text x="${m.left}" y="20" font-size="15" font-weight="bold">${escapeHtml(title)}</text>`,
  ]
  for (const v of yTicks) {
    const y = py(v * MiB).toFixed(1)
    out.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${y}" y2="${y}" stroke="#e0e0e0"/>`)
    out.push(`<text x="${m.left - 8}" y="${y}" font-size="11" text-anchor="end" dominant-baseline="middle">${v}</text>`)
  }
  for (const v of xTicks) {
    const x = px(v).toFixed(1)
    out.push(`<line x1="${x}" x2="${x}" y1="${m.top}" y2="${height - m.bottom}" stroke="#f0f0f0"/>`)
    out.push(`<text x="${x}" y="${height - m.bottom + 16}" font-size="11" text-anchor="middle">${count(v)}</text>`)
  }
  out.push(
    `<text x="${(m.left + width - m.right) / 2}" y="${height - 8}" font-size="12" text-anchor="middle">` +
      'requests served</text>',
    `<text x="16" y="${(m.top + height - m.bottom) / 2}" font-size="12" text-anchor="middle" ` +
      `transform="rotate(-90 16 ${(m.top + height - m.bottom) / 2})">MiB</text>`,
    `<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" ` +
      'fill="none" stroke="#9e9e9e"/>',
  )
  for (const s of series) {
    const d = s.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')
    const style = s.faint ? 'stroke-width="1" stroke-opacity="0.35"' : 'stroke-width="2"'
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" ${style}><title>${escapeHtml(s.name)}</title></path>`)
  }
  let ly = m.top + 14
  for (const s of series.filter((x) => !x.faint)) {
    out.push(
      `<line x1="${m.left + 12}" x2="${m.left + 36}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${m.left + 42}" y="${ly}" font-size="12" dominant-baseline="middle">${escapeHtml(s.name)}</text>`,
    )
    ly += 16
  }
  out.push('</svg>')
  return out.join('\n')
}

function memoryChart(runs, title, field, { postGcOnly }) {
  const series = []
  for (const run of runs) {
    const color = COLORS[run.name] ?? '#424242'
    const samples = run.report.samples
    if (postGcOnly) {
      // Every sample, faint (the sawtooth of garbage), under the post-GC line.
      series.push({
        name: `${run.name}, every sample`,
        color,
        faint: true,
        points: samples.map((s) => [s.requests, s[field]]),
      })
      const post = samples.filter((s) => s.postGc)
      series.push({ name: `${run.name} (after GC)`, color, points: post.map((s) => [s.requests, s[field]]) })
    } else {
      series.push({ name: run.name, color, points: samples.map((s) => [s.requests, s[field]]) })
    }
  }
  return chart(title, series)
}

/** The whole report page: the table and the charts, with no outside resource. */
function renderHtml(runs, { machine, opts }) {
  const table = rows(runs)
  const head = table[0].map((cell) => `<th>${escapeHtml(cell)}</th>`).join('')
  const cellHtml = (cell, i) => (i === 0 ? `<th>${escapeHtml(cell)}</th>` : `<td>${escapeHtml(cell)}</td>`)
  const body = table
    .slice(1)
    .map((r) => `<tr>${r.map(cellHtml).join('')}</tr>`)
    .join('\n')
  const load =
    opts.requests === undefined ? `${opts.seconds} seconds` : `${opts.requests.toLocaleString('en-US')} requests`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>leakless demo: a leaking Express service and the same service on leakless</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #212121; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bdbdbd; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
thead th { background: #f5f5f5; }
tbody th { font-weight: normal; color: #424242; }
figure { margin: 1.5em 0; }
figcaption { font-size: 0.9em; color: #616161; max-width: 760px; }
code { font-size: 0.95em; }
</style>
</head>
<body>
<h1>leakless demo</h1>
<p>The same Express service, run twice under the same load (${escapeHtml(load)} each,
${opts.connections} connections, on 127.0.0.1): first as a typical leaking service
(<code>examples/express-leaky.js</code>), then on leakless (<code>examples/express-leakless.js</code>).
${escapeHtml(machine)}.</p>
<table>
<thead><tr>${head}</tr></thead>
<tbody>
${body}
</tbody>
</table>
<figure>
${memoryChart(runs, 'Heap used', 'heapUsed', { postGcOnly: true })}
<figcaption>Heap used over requests served. Solid: right after a full GC (what the heap really holds);
faint: every sample, garbage included.</figcaption>
</figure>
<figure>
${memoryChart(runs, 'External memory (Buffers, ArrayBuffers)', 'external', { postGcOnly: true })}
<figcaption><code>process.memoryUsage().external</code>: the leaky app's cached Buffers pile up here.
leakless's off-heap cache is not in this figure (Node does not count adjusted memory in it);
it is bounded at 16 MiB and shown in the table as "leakless native memory".</figcaption>
</figure>
<figure>
${memoryChart(runs, 'Resident set size (RSS)', 'rss', { postGcOnly: false })}
<figcaption>RSS: all the memory the process holds, at every sample.</figcaption>
</figure>
</body>
</html>
`
}

module.exports = { formatTable, renderHtml, summarize, slope }
