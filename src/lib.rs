//! pod-hardener: makes every pod's containers immutable at runtime without
//! breaking them. See DESIGN.md for the plan of the house. Data flows one way:
//! `server -> admission -> harden -> profile` for the webhook;
//! `cli -> workload, harden, profile` for `preview`; `cli -> compose ->
//! harden, profile` for Compose files; `cli -> cluster (kube client) -> audit,
//! doctor -> harden, profile` for the cluster-side tools. The three rules are
//! decided once, in `harden::rules`, over a format-neutral model of a
//! container: `harden::plan` (pods, JSON Patch) and `compose::plan` (Compose
//! overrides) are its two adapters. `config` is the loader: it builds the
//! policy `admission` owns (`admission::Policy`) and the rule options, and
//! only the shell (`server`, `cli`) reads it. `certs`, `diff` and `yaml` are
//! leaves every layer may use; nothing reaches back up the chain, and only
//! `cluster` talks to the Kubernetes API.
//!
//! A module that can fail says why with its own error enum (`ConfigError`,
//! `CertError`, `ClusterError`, `doctor::edit::EditError`, ...), whose
//! messages are the ones the user reads; `cli::CliError` adds the exit code.
//! `pub` marks what the binary, the tests, the benches, `e2e/` and `fuzz/`
//! use; crate-internal helpers are `pub(crate)`.
#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod certs;
pub mod cli;
pub mod cluster;
pub(crate) mod compose;
pub mod config;
pub(crate) mod diff;
pub mod doctor;
pub mod harden;
pub(crate) mod hashing;
pub(crate) mod manifest_edit;
pub mod profile;
pub mod server;
pub mod workload;
pub(crate) mod yaml;
