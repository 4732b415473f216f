//! The hash maps and sets of a review's hot path, keyed by foldhash instead
//! of std's SipHash, which was a tenth of a review's instructions.
//!
//! What keeps them safe with hostile input is the decoder's budget, not the
//! hasher: foldhash is seeded at random per process and per map, so a sender
//! cannot aim at a seed, but it claims no resistance to an attacker who can
//! probe one, as SipHash does. Every map filled from a request lives for that
//! request only and holds at most what the budget let through; the catalog's
//! index lives longer, and its keys are the operator's profiles. Nothing may
//! let a map's order reach output: it differs from one process to the next.

pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
