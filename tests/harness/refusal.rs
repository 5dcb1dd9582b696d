//! Refusals of bad input, run and judged (`tests/bad_input.rs`): a `Case` is one invocation
//! and what it must show (exit 1, stderr that says what and where, no panic, no secret), and
//! `check` also finds any write it made: in the test-bed (by boto3, by the case's own name
//! suffix, which every name of the base plan carries), in local state, or in the cache.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use super::{files_under, output_within, repo, tempdir, testbed, unique, xpart, Side, Testbed};

pub fn corpus_dir() -> PathBuf {
    repo().join("tests/bad_input")
}

pub fn base_plan() -> PathBuf {
    corpus_dir().join("valid/base.yaml")
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Everything both partitions hold, from `tests/clients/snapshot.py` kept running.
pub struct Snapshots {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Snapshots {
    pub fn start(tb: &Testbed) -> Snapshots {
        let mut cmd = Command::new(tb.python());
        cmd.arg(repo().join("tests/clients/snapshot.py"));
        for side in [Side::Commercial, Side::China] {
            cmd.args(["--side", side.name(), tb.endpoint(side), tb.region(side)]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start snapshot.py");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Snapshots {
            child,
            stdin,
            stdout,
        }
    }

    pub fn take(&mut self) -> BTreeSet<String> {
        writeln!(self.stdin, "snapshot").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("snapshot.py answered {line:?}: {e}"));
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Snapshots {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One invocation of the binary and what it must show.
pub struct Case {
    pub name: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Every one must be in stderr.
    pub expect: Vec<String>,
    /// None of these may be printed at all.
    pub never: Vec<String>,
    /// Local state that must stay free of keys and certificates (only a `lock` file may appear).
    pub state: Option<PathBuf>,
    /// The suffix every name the case's plan would make carries: none may appear.
    pub suffix: Option<String>,
    /// Run as `nobody` (root only), for files root could read anyway.
    pub as_nobody: bool,
}

impl Case {
    pub fn new(name: impl Into<String>, args: &[&str], expect: &[&str]) -> Case {
        Case {
            name: name.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            expect: expect.iter().map(|s| s.to_string()).collect(),
            never: vec![],
            state: None,
            suffix: None,
            as_nobody: false,
        }
    }

    /// A plan command: `args`, the plan, a unique suffix and a private state dir (`state`
    /// instead when given: a path that is no directory, say).
    pub fn plan(name: impl Into<String>, args: &[&str], plan: &Path, expect: &[&str]) -> Case {
        Case::plan_in(name, args, plan, expect, tempdir("bad-input-state"))
    }

    pub fn plan_in(
        name: impl Into<String>,
        args: &[&str],
        plan: &Path,
        expect: &[&str],
        state: PathBuf,
    ) -> Case {
        let suffix = unique("bi").replace('_', "-");
        let mut c = Case::new(name, args, expect);
        c.args.push(plan.display().to_string());
        c.args.extend([
            "--var".into(),
            format!("suffix={suffix}"),
            "--state-dir".into(),
            state.display().to_string(),
        ]);
        c.state = Some(state).filter(|s| s.is_dir());
        c.suffix = Some(suffix);
        c
    }

    pub fn env(mut self, k: &str, v: impl Into<String>) -> Case {
        self.env.push((k.to_string(), v.into()));
        self
    }
}

/// Run every case and fail with every way each failed; nothing may appear in the corpus dir.
pub fn check(cases: Vec<Case>) {
    let tb = testbed();
    let corpus_before = files_under(&corpus_dir());
    let mut failures: Vec<String> = cases
        .iter()
        .filter_map(|c| run(tb, c).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    // One snapshot after them all: a write stays, and its name carries its case's suffix.
    if cases.iter().any(|c| c.suffix.is_some()) {
        let items = Snapshots::start(tb).take();
        for c in &cases {
            let Some(suffix) = &c.suffix else { continue };
            let made: Vec<_> = items
                .iter()
                .filter(|i| i.contains(suffix.as_str()))
                .collect();
            if !made.is_empty() {
                failures.push(format!("{}: the test-bed changed: new {made:?}", c.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    assert_eq!(
        files_under(&corpus_dir()),
        corpus_before,
        "files appeared in the corpus dir"
    );
}

/// Run one case; Err says every way it failed.
pub fn run(tb: &Testbed, c: &Case) -> Result<(), String> {
    let bin = env!("CARGO_BIN_EXE_xpart");
    let mut cmd = if c.as_nobody {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        cmd.stdin(Stdio::null());
        cmd
    } else {
        xpart()
    };
    let cache = tempdir("bad-input-cache");
    cmd.args(&c.args)
        .envs(tb.env())
        .env_remove("XPART_VAR_suffix")
        .env("XDG_CACHE_HOME", &cache)
        .envs(c.env.iter().map(|(k, v)| (k, v)));
    // A bound on every case: a hang is a failure too.
    let out = output_within(&mut cmd, Duration::from_secs(90))?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let mut problems = vec![];
    if out.status.code() != Some(1) {
        problems.push(format!("exit {:?}, not 1", out.status.code()));
    }
    if stderr.trim().is_empty() {
        problems.push("nothing on stderr".into());
    }
    for e in c.expect.iter().filter(|e| !stderr.contains(e.as_str())) {
        problems.push(format!("stderr lacks {e:?}"));
    }
    for bad in ["panicked", "RUST_BACKTRACE"] {
        if stdout.contains(bad) || stderr.contains(bad) {
            problems.push(format!("the output shows a panic ({bad:?})"));
        }
    }
    for n in &c.never {
        if stdout.contains(n.as_str()) || stderr.contains(n.as_str()) {
            problems.push(format!(
                "the output holds {n:?}, which must never be printed"
            ));
        }
    }
    if let Some(state) = &c.state {
        let written: Vec<_> = files_under(state)
            .into_iter()
            .filter(|p| p.file_name().is_none_or(|n| n != "lock"))
            .collect();
        if !written.is_empty() {
            problems.push(format!("local files written: {written:?}"));
        }
    }
    let cached = files_under(&cache);
    if !cached.is_empty() {
        problems.push(format!("files written in XDG_CACHE_HOME: {cached:?}"));
    }
    if problems.is_empty() {
        // What a failing case leaves stays for a look; a passing one's dirs go.
        let _ = std::fs::remove_dir_all(&cache);
        if let Some(state) = &c.state {
            let _ = std::fs::remove_dir_all(state);
        }
        Ok(())
    } else {
        Err(format!(
            "{}\n  --- command: xpart {}\n  --- stdout\n{}\n  --- stderr\n{}",
            problems.join("\n  "),
            c.args.join(" "),
            stdout.chars().take(3000).collect::<String>(),
            stderr.chars().take(3000).collect::<String>()
        ))
    }
}

/// The runs of one plan file of `tests/bad_input/`: one per `# args:` line of its head.
pub fn corpus_case(file: &str) -> Vec<Case> {
    let path = corpus_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let head: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    let field = |k: &str| -> Vec<String> {
        head.iter()
            .filter_map(|l| l.strip_prefix(&format!("# {k}: ")[..]))
            .map(|v| v.trim().to_string())
            .collect()
    };
    let mut expect = field("expect");
    assert!(!expect.is_empty(), "{file} has no `# expect:` line");
    if let Some(w) = field("where").first() {
        expect.push(format!("{}:{w}", path.display()));
    }
    let mut runs = field("args");
    if runs.is_empty() {
        runs.push("apply --yes".into());
    }
    runs.iter()
        .map(|args| {
            let args: Vec<&str> = args.split_whitespace().collect();
            let mut c = Case::plan(format!("{file} ({})", args.join(" ")), &args, &path, &[]);
            c.expect = expect.clone();
            c.never = field("never");
            c
        })
        .collect()
}

/// Write `bytes` to `path` with exactly `mode`.
pub fn write_mode(path: &Path, bytes: &[u8], mode: u32) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
    // The mode asked for at creation is cut by the umask: set it exactly.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `plan` with `from` replaced by `to`, written to `into`.
pub fn replaced(plan: &Path, from: &str, to: &str, into: &Path) -> PathBuf {
    let text = std::fs::read_to_string(plan).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(into, text.replacen(from, to, 1)).unwrap();
    into.to_path_buf()
}
