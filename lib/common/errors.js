'use strict'

// One place that makes every error leakless throws: Node-style classes and
// stable `code`s, with messages that name the argument and what was received.

function describe(value) {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  switch (typeof value) {
    case 'function': {
      const name = safeGet(value, 'name')
      return typeof name === 'string' && name !== '' ? `function ${name}` : 'function'
    }
    case 'object': {
      let isArray
      try {
        isArray = Array.isArray(value)
      } catch {
        // A revoked Proxy: nothing more can be said without throwing.
        return 'a revoked Proxy'
      }
      if (isArray) return 'an instance of Array'
      const ctor = safeConstructorName(value)
      return ctor ? `an instance of ${ctor}` : 'an object'
    }
    case 'string': {
      const shown = value.length > 28 ? `${value.slice(0, 25)}...` : value
      return `type string (${JSON.stringify(shown)})`
    }
    case 'symbol':
      return `type symbol (${String(value)})`
    case 'bigint':
      return `type bigint (${value}n)`
    case 'number':
      return `type number (${Object.is(value, -0) ? '-0' : String(value)})`
    default:
      return `type ${typeof value} (${String(value)})`
  }
}

/** `value[key]`, or `undefined` when reading it throws (a getter, a Proxy trap). */
function safeGet(value, key) {
  try {
    return value[key]
  } catch {
    return undefined
  }
}

function safeConstructorName(value) {
  try {
    const proto = Object.getPrototypeOf(value)
    const ctor = proto && Object.getOwnPropertyDescriptor(proto, 'constructor')
    const name = ctor && typeof ctor.value === 'function' ? ctor.value.name : ''
    return typeof name === 'string' ? name : ''
  } catch {
    // A Proxy whose traps throw: say nothing rather than throw from here.
    return ''
  }
}

function withCode(err, code) {
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true })
  return err
}

/** `TypeError` with code `ERR_INVALID_ARG_TYPE`. */
function invalidArgType(name, expected, actual) {
  return withCode(
    new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`),
    'ERR_INVALID_ARG_TYPE',
  )
}

/** `RangeError` with code `ERR_OUT_OF_RANGE`. */
function outOfRange(name, range, actual) {
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(actual)}`),
    'ERR_OUT_OF_RANGE',
  )
}

/** `TypeError` with code `ERR_INVALID_ARG_VALUE`. */
function invalidArgValue(name, reason, actual) {
  return withCode(
    new TypeError(`The argument "${name}" ${reason}. Received ${describe(actual)}`),
    'ERR_INVALID_ARG_VALUE',
  )
}

/** An error with one of leakless's own `ERR_LEAKLESS_*` codes. */
function leaklessError(Ctor, code, message) {
  return withCode(new Ctor(message), code)
}

function validateFunction(value, name) {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value)
}

function validateOptionalFunction(value, name) {
  if (value !== undefined && typeof value !== 'function') {
    throw invalidArgType(name, 'of type function', value)
  }
}

function validateObject(value, name) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType(name, 'of type object', value)
  }
}

function validateOptionalObject(value, name) {
  if (value !== undefined) validateObject(value, name)
}

function validateBoolean(value, name) {
  if (value !== undefined && typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value)
}

/**
 * An integer in [min, max]. `undefined` is allowed only when `optional`.
 * Non-numbers are a TypeError; NaN, fractions and out-of-range values are a RangeError.
 */
function validateInteger(value, name, min = 0, max = Number.MAX_SAFE_INTEGER) {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value)
}

/** A finite number in [min, max] (or +Infinity when `allowInfinity`). */
function validateNumber(value, name, min = 0, max = Number.MAX_VALUE, allowInfinity = false) {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (Number.isNaN(value)) throw outOfRange(name, 'a number', value)
  if (value === Infinity && allowInfinity) return
  if (!Number.isFinite(value) || value < min || value > max) {
    throw outOfRange(name, `a finite number >= ${min}${max === Number.MAX_VALUE ? '' : ` && <= ${max}`}`, value)
  }
}

function validateOneOf(value, name, allowed) {
  if (!allowed.includes(value)) {
    throw invalidArgValue(name, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value)
  }
}

/**
 * Whether `value` is an object whose properties have the `typeof` given in
 * `shape`, read in that order and no further than the first mismatch:
 * `hasShape(signal, { aborted: 'boolean', addEventListener: 'function' })`.
 * Callers on a hot path keep `shape` in a module constant.
 */
function hasShape(value, shape) {
  if (value === null || typeof value !== 'object') return false
  for (const key in shape) {
    if (typeof value[key] !== shape[key]) return false
  }
  return true
}

/** The message of a thrown value, whatever was thrown. */
function errorText(err) {
  return err instanceof Error ? err.message : String(err)
}

module.exports = {
  describe,
  errorText,
  hasShape,
  invalidArgType,
  outOfRange,
  invalidArgValue,
  leaklessError,
  validateFunction,
  validateOptionalFunction,
  validateObject,
  validateOptionalObject,
  validateBoolean,
  validateInteger,
  validateNumber,
  validateOneOf,
}
