//! The one harness every test module imports (no test module imports another's helpers): the
//! test-bed, the binary (`xpart()`, `Run`, bounded runs with one limit), the inventory and
//! `Census` of a plan, test PKI and Roles Anywhere chains, and the lifecycle of a resource type.

mod chain;
pub mod pki;
pub mod refusal;
mod resource;
mod run;
mod testbed;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use chain::*;
pub use resource::*;
pub use run::*;
pub use testbed::*;

/// Send an AWS SDK request and require success: the one spelling of `.send().await.unwrap()`,
/// so that a test's call chains say only what they ask.
macro_rules! sent {
    ($request:expr) => {
        $request.send().await.unwrap()
    };
}
pub(crate) use sent;

/// Send an AWS SDK request that must be refused: its service error, for the test to name.
macro_rules! refused {
    ($request:expr) => {
        $request.send().await.unwrap_err().into_service_error()
    };
}
pub(crate) use refused;

/// How long any one child process may run before it is killed and its test fails: longer than
/// the slowest command of the suite (an apply under injected latency), so that only a hang
/// reaches it.
pub const LIMIT: Duration = Duration::from_secs(240);

/// The binary with no stdin and none of the developer's `XPART_VAR_suffix`: every test's
/// invocation starts here.
pub fn xpart() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xpart"));
    c.env_remove("XPART_VAR_suffix")
        .stdin(std::process::Stdio::null());
    c
}

/// Run `cmd` to its end within [`LIMIT`]; a hang fails the test with what it printed.
pub fn bounded(cmd: &mut Command) -> Output {
    output_within(cmd, LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

/// Run `cmd` to its end and require success: its stdout, or a failure showing its stderr.
pub fn stdout_of(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Poll `f` up to `tries` times, 50 ms apart: a readiness check, not a fixed wait.
pub fn eventually(tries: u32, mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..tries {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A name no other test (or earlier run) uses: tests run in parallel against one test-bed.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos & 0xffff
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Commercial,
    China,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Commercial => "commercial",
            Side::China => "china",
        }
    }
    pub fn profile(self) -> &'static str {
        match self {
            Side::Commercial => "xpart-commercial",
            Side::China => "xpart-china",
        }
    }
    pub fn partition(self) -> &'static str {
        match self {
            Side::Commercial => "aws",
            Side::China => "aws-cn",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Side::Commercial => "COMMERCIAL",
            Side::China => "CHINA",
        }
    }
}

/// How a bounded child process ended.
pub struct Bounded {
    pub output: std::process::Output,
    /// Killed (SIGKILL) at the asked moment while it was still running; false when it had
    /// finished by then on its own.
    pub killed: bool,
}

/// Run `cmd` with stdin closed and stdout and stderr collected; `kill -9` it at `kill_at` if
/// given, and in any case at `limit`, which is an error carrying what it printed so far: no
/// child process may hang a test.
pub fn run_bounded(
    cmd: &mut Command,
    kill_at: Option<Duration>,
    limit: Duration,
) -> Result<Bounded, String> {
    use std::io::Read;
    use std::process::Stdio;
    let start = std::time::Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    // Both pipes drained at once, so a chatty child never blocks on a full pipe.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = vec![];
            let _ = r.read_to_end(&mut b);
            b
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    // std has no wait with a timeout; polling `try_wait` keeps the child ours to kill (a
    // watcher thread killing by pid could hit a reused pid once the child is reaped).
    let (status, killed, over) = loop {
        if let Some(s) = child
            .try_wait()
            .map_err(|e| format!("waiting for {cmd:?}: {e}"))?
        {
            break (s, false, false);
        }
        let t = start.elapsed();
        let due = kill_at.is_some_and(|k| t >= k);
        if due || t >= limit {
            let _ = child.kill();
            let s = child
                .wait()
                .map_err(|e| format!("waiting for {cmd:?}: {e}"))?;
            break (s, due, !due);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    if over {
        let tail = |b: &[u8]| {
            let s = String::from_utf8_lossy(b);
            let n = s.chars().count();
            s.chars().skip(n.saturating_sub(3000)).collect::<String>()
        };
        return Err(format!(
            "{:?} did not finish within {limit:?} and was killed\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
            cmd.get_args().collect::<Vec<_>>(),
            tail(&output.stdout),
            tail(&output.stderr)
        ));
    }
    Ok(Bounded { output, killed })
}

/// [`run_bounded`] without a planned kill.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Result<std::process::Output, String> {
    run_bounded(cmd, None, limit).map(|b| b.output)
}

/// Inputs no reader may take whole, in `dir`: a FIFO (never ends) and a sparse 9 GiB file
/// (takes no disk).
pub fn unbounded_files(dir: &Path) -> (PathBuf, PathBuf) {
    let fifo = dir.join("fifo.yaml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let huge = dir.join("huge.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(9 << 30)
        .unwrap();
    (fifo, huge)
}

pub fn tempdir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(&format!("xpart-{prefix}")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running tokio runtime for tests that call the SDK.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}
