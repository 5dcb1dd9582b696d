//! The engine: reads live state, computes the plan and applies it (or destroys) as a DAG.
//!
//! `walk` runs per-resource jobs in dependency order with no AWS in it; `resource` is the
//! contract each type module in `types` implements; `run` plans, applies and destroys.

pub mod resource;
pub mod run;
pub mod scan;
pub mod types;
pub mod walk;
