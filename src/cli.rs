//! Command-line surface: argument definitions and the dispatch from subcommand to library call.

use clap::Parser;
use std::process::ExitCode;

/// Provision cross-partition access between AWS commercial (aws) and AWS China (aws-cn)
/// from one declarative YAML plan.
#[derive(Debug, Parser)]
#[command(name = "xpart", version, about, long_about = None)]
pub struct Cli {}

pub fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
