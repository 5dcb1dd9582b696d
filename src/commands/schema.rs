//! `xpart schema`: the JSON Schema of plan files (for editors), or with `--output` of
//! `xpart plan --format json`.

use std::io::Write;
use std::process::ExitCode;

pub fn run(output: bool) -> ExitCode {
    let doc = if output {
        crate::changes::output_schema()
    } else {
        crate::plan::schema::plan_schema()
    };
    let schema = serde_json::to_string_pretty(&doc).expect("schema is JSON");
    let _ = writeln!(std::io::stdout(), "{schema}");
    ExitCode::SUCCESS
}
