//! The hash maps and sets of a review's hot path, keyed by foldhash instead
//! of std's SipHash, which was a tenth of a review's instructions.
//!
//! Why this is safe with hostile input: foldhash's `RandomState` is seeded
//! per process and per map, so a sender cannot precompute colliding keys,
//! and every map here holds at most what the decoder's budget let through.
//! What it gives up is SipHash's cryptographic margin, which no map here
//! needs: none outlives the review that filled it.

pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
