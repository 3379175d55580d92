//! The engine of leakless, free of any Node.js dependency so that `cargo test`
//! checks it alone. The N-API layer (`src/` of the root crate) only converts
//! arguments and reports memory.

mod expiry;
pub mod offheap;
pub mod pool;
pub mod recency;
pub mod s3fifo;
pub mod shared;
