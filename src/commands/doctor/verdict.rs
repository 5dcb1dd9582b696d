//! A check's verdict (pass, warn, fail; its time, detail, cause and fix) and how it is
//! printed: a line of text, or a JSON object per line.

use std::io::Write;
use std::time::Instant;

use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Works now, but worth knowing (a clock drifting, a certificate expiring soon).
    Warn,
    Fail,
}

/// One check's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The partition it concerns (`bridge` checks name the chain's).
    pub partition: String,
    pub check: String,
    pub status: Status,
    pub ms: u128,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// A check named `check`, begun at `t`; its verdict follows.
    pub fn new(partition: &str, check: impl Into<String>, t: Instant) -> Check {
        Check {
            partition: partition.to_string(),
            check: check.into(),
            status: Status::Pass,
            ms: t.elapsed().as_millis(),
            detail: String::new(),
            cause: None,
            fix: None,
        }
    }
    pub fn pass(mut self, detail: impl Into<String>) -> Check {
        self.detail = detail.into();
        self
    }
    pub fn warn(mut self, detail: impl Into<String>) -> Check {
        self.status = Status::Warn;
        self.detail = detail.into();
        self
    }
    pub fn fail(
        mut self,
        detail: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        self.status = Status::Fail;
        self.detail = detail.into();
        self.cause = Some(cause.into());
        self.fix = Some(fix.into());
        self
    }
}

pub use crate::commands::Format;

pub(super) fn render(c: &Check, format: Format) {
    let mut out = std::io::stdout();
    match format {
        Format::Json => {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string(c).expect("a check serializes")
            );
        }
        Format::Text => {
            let mark = match c.status {
                Status::Pass => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            let _ = writeln!(
                out,
                "{mark} {:<10} {} ({} ms): {}",
                c.partition, c.check, c.ms, c.detail
            );
            if let Some(cause) = &c.cause {
                let _ = writeln!(out, "     cause: {cause}");
            }
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "     fix:   {fix}");
            }
        }
    }
    let _ = out.flush();
}
