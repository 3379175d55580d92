'use strict'

// The compiled addon, loaded by the napi-rs generated loader (which picks the
// right per-platform binary). Everything in lib/ reaches Rust through here.
module.exports = require('../../binding.js')
