//! The engine: reads live state, computes the plan and applies it (or destroys) as a DAG.
//!
//! Only the AWS-free pieces live here so far: `walk` runs per-resource jobs in dependency
//! order, so scheduling can be tested with fake jobs apart from any client code.

pub mod walk;
