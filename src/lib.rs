//! pod-hardener: makes every pod's containers immutable at runtime without
//! breaking them. See DESIGN.md for the plan of the house; data flows
//! `admission -> harden -> profile`, and `cli -> workload, harden, profile`.
#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod compose;
pub mod config;
pub mod doctor;
pub mod harden;
pub mod profile;
pub mod server;
pub mod workload;
