//! The engine: reads live state, computes the plan and applies it (or destroys) as a DAG.
//!
//! From the bottom up: `walk` runs jobs in dependency order with no AWS in it; `state`,
//! `error` and `tags` are the terms of a resource; `scan` is what a read phase asks once per
//! partition; `context` is what a type call runs with; `retry` the engine's own retries;
//! `resource` the contract each type module in `types` implements; `run` plans, applies and
//! destroys.

pub mod context;
pub mod error;
pub mod lease;
pub mod resource;
pub mod retry;
pub mod run;
pub mod scan;
pub mod slots;
pub mod state;
pub mod tags;
pub mod types;
pub mod walk;
