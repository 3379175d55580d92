'use strict'

// Heap snapshots for monitor(): the directory checked writable up front, a
// lock file so that one thread or process at a time writes into a
// directory, file names that never collide, and a cap on how many
// snapshots pile up there.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const v8 = require('node:v8')
const { threadId } = require('node:worker_threads')
const { emitWarning } = require('../common/warnings')
const errors = require('../common/errors')

const DEFAULT_MAX = 2
const SNAPSHOT_PREFIX = 'leakless-'
const SNAPSHOT_SUFFIX = '.heapsnapshot'
const LOCK_NAME = '.leakless-snapshot.lock'
// A lock older than this was left by a process that died while writing.
const STALE_LOCK_MS = 60 * 60_000

// Numbers the probe files and snapshots of this thread.
let snapshotSeq = 0

/**
 * `options.snapshots` checked, its directory created if needed and proven
 * writable: `{ dir, max }` with `dir` absolute, or null when not given.
 */
function validateSnapshots(snapshots) {
  if (snapshots === undefined) return null
  errors.validateOptionalObject(snapshots, 'options.snapshots')
  const { dir, max = DEFAULT_MAX } = snapshots
  if (typeof dir !== 'string') throw errors.invalidArgType('options.snapshots.dir', 'of type string', dir)
  if (dir.length === 0 || dir.includes('\0')) {
    throw errors.invalidArgValue('options.snapshots.dir', 'must be a non-empty path', dir)
  }
  errors.validateInteger(max, 'options.snapshots.max', 1)
  const absolute = path.resolve(dir)
  checkWritableDir(absolute, dir)
  return { dir: absolute, max }
}

// Creates the missing levels of `dir`, one plain mkdir each. Not
// mkdirSync(dir, { recursive: true }): on Node 20 it never returns for a
// path under /proc (mkdir says ENOENT, the parent exists, and it retries).
function makeDir(dir) {
  const missing = []
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) {
    missing.push(d)
    if (path.dirname(d) === d) break
  }
  for (const level of missing.reverse()) {
    try {
      fs.mkdirSync(level)
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
  }
}

// Creates `dir` if needed and proves it writable by writing a file into it
// (access(W_OK) says yes to root on a read-only file system).
function checkWritableDir(dir, given) {
  const probe = path.join(dir, `.leakless-probe-${process.pid}-${threadId}-${snapshotSeq++}`)
  try {
    makeDir(dir)
    fs.writeFileSync(probe, '')
    fs.unlinkSync(probe)
  } catch (err) {
    const error = errors.invalidArgValue(
      'options.snapshots.dir',
      `must be a directory leakless can write heap snapshots into (${err.code ?? 'error'}: ${errors.errorText(err)})`,
      given,
    )
    error.cause = err
    throw error
  }
}

function countSnapshots(dir) {
  let count = 0
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(SNAPSHOT_PREFIX) && name.endsWith(SNAPSHOT_SUFFIX)) count++
  }
  return count
}

function processAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

// When this process started, the same in every thread (to the millisecond or so).
function processStartedAt() {
  return Math.round(Date.now() - process.uptime() * 1000)
}

// Who holds a lock: pid alone is not enough, since a container restarted
// after dying mid-snapshot (a near-OOM heap often does) gets the same pid.
function lockOwner() {
  return JSON.stringify({ pid: process.pid, startedAt: processStartedAt(), host: os.hostname() })
}

// A lock is stale when it is older than STALE_LOCK_MS, or when its owner is
// on this host and is gone: a dead pid, or our pid from an earlier process.
function lockIsStale(lockPath) {
  if (Date.now() - fs.statSync(lockPath).mtimeMs > STALE_LOCK_MS) return true
  let owner
  try {
    owner = JSON.parse(fs.readFileSync(lockPath, 'utf8'))
  } catch (err) {
    if (err.code === 'ENOENT') throw err
    return false // being written right now
  }
  if (owner === null || typeof owner !== 'object' || owner.host !== os.hostname() || !Number.isInteger(owner.pid)) {
    return false
  }
  if (owner.pid === process.pid) return Math.abs(owner.startedAt - processStartedAt()) > 2000
  return !processAlive(owner.pid)
}

// Takes the directory's snapshot lock: true when taken. A stale lock is taken over once.
function takeLock(lockPath) {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, lockOwner(), { flag: 'wx' })
      return true
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    let stale
    try {
      stale = lockIsStale(lockPath)
    } catch (err) {
      if (err.code === 'ENOENT') continue // released meanwhile: try again
      throw err
    }
    if (!stale) return false
    try {
      fs.unlinkSync(lockPath)
    } catch (err) {
      if (err.code !== 'ENOENT') throw err
    }
  }
  return false
}

function snapshotName() {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  return `${SNAPSHOT_PREFIX}${stamp}-${process.pid}-${threadId}-${snapshotSeq++}${SNAPSHOT_SUFFIX}`
}

/**
 * Writes one heap snapshot into `dir`, unless another is being written
 * there or `max` leakless snapshots are there already; says what happened
 * in a warning. `state.limitReported` (one object per monitor) keeps the
 * limit warning to one.
 */
function writeSnapshot({ dir, max }, state) {
  const lockPath = path.join(dir, LOCK_NAME)
  let locked = false
  try {
    locked = takeLock(lockPath)
    if (!locked) {
      emitWarning(
        `leakless.monitor(): another heap snapshot is being written into ${dir}; this one is skipped`,
        'LEAKLESS_HEAP_SNAPSHOT',
        { key: `monitor:snapshot-busy:${dir}` },
      )
      return
    }
    const existing = countSnapshots(dir)
    if (existing >= max) {
      if (!state.limitReported) {
        state.limitReported = true
        emitWarning(
          `leakless.monitor(): ${dir} already holds ${existing} leakless heap snapshot(s) (max ${max}); ` +
            'no more are written until some are moved away',
          'LEAKLESS_HEAP_SNAPSHOT',
          { key: `monitor:snapshot-limit:${dir}` },
        )
      }
      return
    }
    const file = v8.writeHeapSnapshot(path.join(dir, snapshotName()))
    emitWarning(`leakless.monitor(): heap snapshot written to ${file}`, 'LEAKLESS_HEAP_SNAPSHOT', {
      key: `monitor:snapshot:${file}`,
    })
  } catch (err) {
    emitWarning(
      `leakless.monitor(): could not write a heap snapshot into ${dir}: ${errors.errorText(err)}`,
      'LEAKLESS_HEAP_SNAPSHOT_FAILED',
      { key: `monitor:snapshot-failed:${dir}` },
    )
  } finally {
    if (locked) {
      try {
        fs.unlinkSync(lockPath)
      } catch {
        // Gone already: nothing to release.
      }
    }
  }
}

module.exports = { validateSnapshots, writeSnapshot, takeLock }
