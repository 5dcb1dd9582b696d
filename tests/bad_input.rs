//! The bad-input campaign: malformed and dangerous plans and invocations, each of which must end
//! with exit code 1 (usage errors too: 2 means "changes present"), a message on stderr that says what is
//! wrong and where (`file:line:col` for a plan file's faults; the file, resource, partition or
//! profile otherwise), no panic, and no partial write: nothing new in either partition of the
//! test-bed (every resource, tagged or not, by boto3) and no key or certificate in local state.
//!
//! Plan cases are the files `tests/bad_input/*.yaml`: each is `valid/base.yaml` with one fault,
//! and says in its head comment what to expect:
//!
//! ```text
//! # expect: <a substring of stderr>      (one or more)
//! # where: LINE:COL                      (the plan file's position, printed as path:LINE:COL)
//! # args: apply --yes                    (one run per line; `apply --yes` when there is none)
//! # never: <text that must not be printed>
//! ```
//!
//! Cases that need surroundings (files with a mode, an endpoint that refuses connections, a
//! profile that does not exist, credential-process inputs) are built in `runtime_cases`.
//! One private test-bed serves the whole campaign; cases run one after another, so a write
//! shows in the snapshot taken right after the case that made it.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::pki::KeyAlg;
use crate::harness::{self, Side, Testbed};

fn corpus_dir() -> PathBuf {
    harness::repo().join("tests/bad_input")
}

fn base_plan() -> PathBuf {
    corpus_dir().join("valid/base.yaml")
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Everything both partitions hold, from `tests/clients/snapshot.py` kept running.
struct Snapshots {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Snapshots {
    fn start(tb: &Testbed) -> Snapshots {
        let mut cmd = Command::new(tb.python());
        cmd.arg(harness::repo().join("tests/clients/snapshot.py"));
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

    fn take(&mut self) -> BTreeSet<String> {
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
struct Case {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Every one must be in stderr.
    expect: Vec<String>,
    /// None of these may be printed at all.
    never: Vec<String>,
    code: i32,
    /// Local state that must stay free of keys and certificates (only a `lock` file may appear).
    state: Option<PathBuf>,
    /// Run as `nobody` (root only), for files root could read anyway.
    as_nobody: bool,
    /// Counts toward the campaign (usage errors do not).
    counts: bool,
    category: &'static str,
}

impl Case {
    fn new(
        category: &'static str,
        name: impl Into<String>,
        args: &[&str],
        expect: &[&str],
    ) -> Case {
        Case {
            name: name.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            expect: expect.iter().map(|s| s.to_string()).collect(),
            never: vec![],
            code: 1,
            state: None,
            as_nobody: false,
            counts: true,
            category,
        }
    }

    /// A plan command: `args`, the plan, a unique suffix and a private state dir.
    fn plan(
        category: &'static str,
        name: impl Into<String>,
        args: &[&str],
        plan: &Path,
        expect: &[&str],
    ) -> Case {
        let state = harness::tempdir("bad-input-state");
        let suffix = harness::unique("bi").replace('_', "-");
        let mut c = Case::new(category, name, args, expect);
        c.args.push(plan.display().to_string());
        c.args.extend([
            "--var".into(),
            format!("suffix={suffix}"),
            "--state-dir".into(),
            state.display().to_string(),
        ]);
        c.state = Some(state);
        c
    }

    /// A usage error: exit 1 like any error (not 2, which `--detailed-exitcode` gives for
    /// changes), not counted as a plan fault.
    fn usage(mut self) -> Case {
        self.code = 1;
        self.counts = false;
        self
    }

    fn env(mut self, k: &str, v: impl Into<String>) -> Case {
        self.env.push((k.to_string(), v.into()));
        self
    }
}

/// Files (not directories) under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Run one case; Err says every way it failed.
fn run(
    tb: &Testbed,
    snaps: &mut Snapshots,
    before: &BTreeSet<String>,
    c: &Case,
) -> Result<Duration, String> {
    let bin = env!("CARGO_BIN_EXE_xpart");
    let mut cmd = if c.as_nobody {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        cmd
    } else {
        Command::new(bin)
    };
    let cache = harness::tempdir("bad-input-cache");
    cmd.args(&c.args)
        .envs(tb.env())
        .env_remove("XPART_VAR_suffix")
        .env("XDG_CACHE_HOME", &cache)
        .envs(c.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {bin}: {e}"))?;
    let pid = child.id();
    // A bound on every case: a hang is a failure too.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(o) => o.map_err(|e| e.to_string())?,
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            return Err(format!("still running after 90 s: {:?}", c.args));
        }
    };
    let took = start.elapsed();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let mut problems = vec![];
    if out.status.code() != Some(c.code) {
        problems.push(format!("exit {:?}, not {}", out.status.code(), c.code));
    }
    if stderr.trim().is_empty() {
        problems.push("nothing on stderr".into());
    }
    for e in &c.expect {
        if !stderr.contains(e.as_str()) {
            problems.push(format!("stderr lacks {e:?}"));
        }
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
    let after = snaps.take();
    let new: Vec<_> = after.difference(before).collect();
    let gone: Vec<_> = before.difference(&after).collect();
    if !new.is_empty() || !gone.is_empty() {
        problems.push(format!("the test-bed changed: new {new:?}, gone {gone:?}"));
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
        Ok(took)
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

/// The corpus: one case per `# args:` line of each `tests/bad_input/*.yaml`.
fn corpus_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut cases = vec![];
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let head: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
        let field = |k: &str| -> Vec<String> {
            head.iter()
                .filter_map(|l| l.strip_prefix(&format!("# {k}: ")[..]))
                .map(|v| v.trim().to_string())
                .collect()
        };
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut expect = field("expect");
        assert!(!expect.is_empty(), "{name} has no `# expect:` line");
        if let Some(w) = field("where").first() {
            expect.push(format!("{}:{w}", path.display()));
        }
        let mut runs = field("args");
        if runs.is_empty() {
            runs.push("apply --yes".into());
        }
        let category = category_of(&name);
        for args in runs {
            let args: Vec<&str> = args.split_whitespace().collect();
            let mut c = Case::plan(
                category,
                format!("{name} ({})", args.join(" ")),
                &args,
                &path,
                &[],
            );
            c.expect = expect.clone();
            c.never = field("never");
            cases.push(c);
        }
    }
    cases
}

/// The category of a corpus file, by its number.
fn category_of(file: &str) -> &'static str {
    match file
        .get(..3)
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(999)
    {
        0..=19 => "YAML syntax",
        20..=29 => "wrong types",
        30..=39 => "unknown fields",
        40..=49 => "missing fields",
        50..=59 => "version, type, partition",
        60..=69 => "cycles and references",
        70..=79 => "cross-partition",
        80..=89 => "KMS lockout and policies",
        90..=99 => "secrets",
        100..=119 => "oversized values",
        120..=129 => "invalid names",
        130..=139 => "CIDRs and ports",
        140..=149 => "durations and windows",
        150..=159 => "variables",
        160..=169 => "regions and accounts",
        170..=179 | 182 => "PKI files",
        183..=189 => "bootstrap settings",
        _ => "commands",
    }
}

fn write_mode(path: &Path, bytes: &[u8], mode: u32) {
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

/// A self-signed CA, its certificate and key PEM; `expired` puts its validity in the past.
fn ca_pem(cn: &str, expired: bool) -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    if expired {
        p.not_before = now - time::Duration::days(30);
        p.not_after = now - time::Duration::days(1);
    } else {
        p.not_before = now - time::Duration::days(1);
        p.not_after = now + time::Duration::days(30);
    }
    let key = KeyPair::generate().unwrap();
    (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

/// The base plan with its `ca` imported from `cert` (and `key`), written next to them.
fn import_plan(dir: &Path, cert: &str, key: Option<&str>) -> PathBuf {
    let base = std::fs::read_to_string(base_plan()).unwrap();
    let from = "      subject: {common_name: \"bad-input-root-${var.suffix}\"}\n      key: {algorithm: ecdsa}\n";
    assert!(base.contains(from));
    let import = match key {
        Some(k) => format!("      import: {{certificate_file: {cert}, key_file: {k}}}\n"),
        None => format!("      import: {{certificate_file: {cert}}}\n"),
    };
    let plan = dir.join("import.yaml");
    std::fs::write(&plan, base.replacen(from, &import, 1)).unwrap();
    plan
}

fn replaced(plan: &Path, from: &str, to: &str, into: &Path) -> PathBuf {
    let text = std::fs::read_to_string(plan).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(into, text.replacen(from, to, 1)).unwrap();
    into.to_path_buf()
}

/// Cases that need surroundings: files with a mode, endpoints, profiles, credential-process.
fn runtime_cases(tb: &Testbed, dir: &Path) -> Vec<Case> {
    let mut cases = vec![];
    let base = base_plan();
    let plan_dir = |name: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };

    // ---- the plan file itself ----
    let d = plan_dir("a-directory.yaml");
    let ds = d.display().to_string();
    cases.push(Case::plan(
        "plan files",
        "plan file is a directory",
        &["apply", "--yes"],
        &d,
        &["plan file", &ds, "is not a regular file (a directory)"],
    ));
    let empty = dir.join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let es = format!("{}:1:1", empty.display());
    cases.push(Case::plan(
        "plan files",
        "empty plan file",
        &["apply", "--yes"],
        &empty,
        &["error[XP002]", "a plan is a mapping", &es],
    ));
    let comments = dir.join("only-comments.yaml");
    std::fs::write(&comments, "# nothing but a comment\n").unwrap();
    cases.push(Case::plan(
        "plan files",
        "plan file of comments only",
        &["plan"],
        &comments,
        &["error[XP002]", "a plan is a mapping"],
    ));
    let binary = dir.join("binary.yaml");
    std::fs::write(&binary, (0..=255u8).cycle().take(4096).collect::<Vec<u8>>()).unwrap();
    let bs = binary.display().to_string();
    cases.push(Case::plan(
        "plan files",
        "binary plan file",
        &["apply", "--yes"],
        &binary,
        &["cannot read", &bs, "UTF-8"],
    ));
    let missing = dir.join("no-such-plan.yaml");
    let ms = missing.display().to_string();
    cases.push(Case::plan(
        "plan files",
        "plan file that does not exist",
        &["destroy", "--yes"],
        &missing,
        &["cannot read", &ms, "No such file"],
    ));
    if !is_root() {
        let locked = dir.join("unreadable.yaml");
        std::fs::copy(&base, &locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let ls = locked.display().to_string();
        cases.push(Case::plan(
            "plan files",
            "plan file of mode 0000",
            &["apply", "--yes"],
            &locked,
            &["cannot read", &ls, "Permission denied"],
        ));
    }

    // Inputs that never end or would not fit in memory: refused before reading.
    let (fifo, huge) = harness::unbounded_files(dir);
    for (name, path, expect) in [
        (
            "plan file is /dev/zero",
            PathBuf::from("/dev/zero"),
            "a character device",
        ),
        ("plan file is a FIFO", fifo.clone(), "a named pipe"),
        ("plan file of 9 GiB", huge.clone(), "larger than"),
    ] {
        let ps = path.display().to_string();
        for args in [&["plan"][..], &["apply", "--yes"]] {
            cases.push(Case::plan(
                "plan files",
                format!("{name} ({})", args[0]),
                args,
                &path,
                &[&ps, expect],
            ));
        }
    }

    // ---- where to work: profiles, endpoints, state ----
    cases.push(Case::plan(
        "profiles and endpoints",
        "--profile of the other partition (china=xpart-commercial)",
        &["apply", "--yes", "--profile", "china=xpart-commercial"],
        &base,
        &[
            "partition `china`",
            "profile `xpart-commercial`",
            "other partition",
        ],
    ));
    cases.push(
        Case::plan(
            "profiles and endpoints",
            "no shared config file at all",
            &["apply", "--yes"],
            &base,
            &[
                "no credentials for profile `xpart-",
                "/nonexistent/aws-config",
            ],
        )
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
    );
    cases.push(Case::plan(
        "profiles and endpoints",
        "--profile naming a profile that does not exist",
        &["apply", "--yes", "--profile", "commercial=no-such-profile"],
        &base,
        &[
            "partition `commercial`",
            "profile `no-such-profile` was not defined",
        ],
    ));
    let config = dir.join("aws-config");
    let port = closed_port();
    let mut text = std::fs::read_to_string(tb.config_file()).unwrap();
    text.push_str(&format!(
        "\n[profile closed]\nregion = cn-north-1\nendpoint_url = http://127.0.0.1:{port}\naws_access_key_id = closed\naws_secret_access_key = closed\n"
    ));
    std::fs::write(&config, text).unwrap();
    let closed = replaced(
        &base,
        "china: {region: cn-north-1, profile: xpart-china}",
        "china: {region: cn-north-1, profile: closed, timeouts: {connect_ms: 500, attempt_ms: 2000, operation_ms: 5000}, retry: {max_attempts: 2}}",
        &dir.join("closed.yaml"),
    );
    for args in [
        &["apply", "--yes"][..],
        &["plan"],
        &["destroy", "--yes"],
        &["verify"],
    ] {
        cases.push(
            Case::plan(
                "profiles and endpoints",
                format!("china's endpoint refuses connections ({})", args.join(" ")),
                args,
                &closed,
                &[
                    "partition `china`",
                    "GetCallerIdentity",
                    "Connection refused",
                ],
            )
            .env("AWS_CONFIG_FILE", config.display().to_string()),
        );
    }
    let file = dir.join("state-is-a-file");
    std::fs::write(&file, "not a directory\n").unwrap();
    let mut c = Case::new(
        "profiles and endpoints",
        "--state-dir is a file",
        &["apply", "--yes"],
        &["cannot create the lock", "Not a directory"],
    );
    c.args.push(base.display().to_string());
    c.args.extend([
        "--var".into(),
        format!("suffix={}", harness::unique("bi")),
        "--state-dir".into(),
        file.display().to_string(),
    ]);
    c.expect.push(file.display().to_string());
    cases.push(c);
    cases.push(Case::plan(
        "commands",
        "apply without --yes and without a terminal",
        &["apply"],
        &base,
        &["not on a terminal", "pass --yes"],
    ));

    // ---- an imported CA ----
    let (cert_pem, key_pem) = ca_pem("bad-input imported root", false);
    let d = plan_dir("import-0644");
    std::fs::write(d.join("ca.crt"), &cert_pem).unwrap();
    write_mode(&d.join("ca.key"), key_pem.as_bytes(), 0o644);
    let ks = d.join("ca.key").display().to_string();
    cases.push(Case::plan(
        "PKI files",
        "imported CA key of mode 0644",
        &["apply", "--yes"],
        &import_plan(&d, "ca.crt", Some("ca.key")),
        &["ca (pki.ca)", &ks, "mode 0644", "open to every user"],
    ));
    let d = plan_dir("import-wrong-key");
    std::fs::write(d.join("ca.crt"), &cert_pem).unwrap();
    let (_, other_key) = ca_pem("another root", false);
    write_mode(&d.join("ca.key"), other_key.as_bytes(), 0o600);
    let ks = d.join("ca.key").display().to_string();
    cases.push(Case::plan(
        "PKI files",
        "imported CA with another CA's key",
        &["plan"],
        &import_plan(&d, "ca.crt", Some("ca.key")),
        &["ca (pki.ca)", &ks, "does not belong to the certificate"],
    ));
    let d = plan_dir("import-no-key-file");
    std::fs::write(d.join("ca.crt"), &cert_pem).unwrap();
    let ks = d.join("missing.key").display().to_string();
    cases.push(Case::plan(
        "PKI files",
        "imported CA key file that does not exist",
        &["apply", "--yes"],
        &import_plan(&d, "ca.crt", Some("missing.key")),
        &["ca (pki.ca)", &ks, "No such file"],
    ));
    let d = plan_dir("import-expired");
    let (old_pem, old_key) = ca_pem("bad-input expired root", true);
    std::fs::write(d.join("ca.crt"), &old_pem).unwrap();
    write_mode(&d.join("ca.key"), old_key.as_bytes(), 0o600);
    cases.push(Case::plan(
        "PKI files",
        "imported CA that has expired",
        &["apply", "--yes"],
        &import_plan(&d, "ca.crt", Some("ca.key")),
        &["ca (pki.ca)", "expired"],
    ));
    let d = plan_dir("import-key-is-cert");
    std::fs::write(d.join("ca.crt"), &cert_pem).unwrap();
    write_mode(&d.join("ca.key"), cert_pem.as_bytes(), 0o600);
    let ks = d.join("ca.key").display().to_string();
    cases.push(Case::plan(
        "PKI files",
        "imported CA key file that holds a certificate",
        &["apply", "--yes"],
        &import_plan(&d, "ca.crt", Some("ca.key")),
        &["ca (pki.ca)", &ks, "not an unencrypted private key"],
    ));
    if !is_root() {
        // Root reads a mode-0000 file: the corpus covers an unreadable path with a directory.
        let d = plan_dir("anchor-0000");
        write_mode(&d.join("ca.pem"), cert_pem.as_bytes(), 0o000);
        let plan = replaced(
            &base,
            "properties: {name: \"bad-input-${var.suffix}\", ca: \"${ca.id}\"}",
            "properties: {name: \"bad-input-${var.suffix}\", certificate_file: ca.pem}",
            &d.join("plan.yaml"),
        );
        cases.push(Case::plan(
            "PKI files",
            "trust anchor certificate of mode 0000",
            &["apply", "--yes"],
            &plan,
            &["error[XP056]", "Permission denied"],
        ));
    }

    // ---- a private key in user data, which anything on the instance can read ----
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let body_line = key.lines().nth(1).unwrap().to_string();
    let indented: String = key.lines().map(|l| format!("          {l}\n")).collect();
    let d = plan_dir("bootstrap-key");
    let plan = replaced(
        &base,
        "  sg:\n",
        &format!(
            "  subnet:\n    type: ec2.subnet\n    partition: china\n    properties: {{name: \"bad-input-${{var.suffix}}\", vpc: \"${{vpc.id}}\", cidr: 10.0.1.0/24}}\n  \
             vm:\n    type: ec2.instance\n    partition: china\n    properties:\n      name: bad-input-${{var.suffix}}\n      \
             ami: ami-062d2c5b771a4b959\n      instance_type: t3.micro\n      subnet: ${{subnet.id}}\n      security_groups: [\"${{sg.id}}\"]\n      \
             bootstrap:\n        run_as: ubuntu\n        key_secret: ${{secret.arn}}\n        certificate: |\n{indented}        \
             trust_anchor_arn: ${{anchor.arn}}\n        profile_arn: ${{profile.arn}}\n        role_arn: ${{reader.arn}}\n        \
             target_region: us-west-2\n        aws_profile: commercial\n  sg:\n"
        ),
        &d.join("plan.yaml"),
    );
    let mut c = Case::plan(
        "bootstrap settings",
        "a private key in the bootstrap settings (user data)",
        &["apply", "--yes"],
        &plan,
        &["error[XP065]", "bootstrap.certificate holds a private key"],
    );
    c.never.push(body_line);
    cases.push(c);

    // ---- credential-process ----
    let ca = harness::pki::ca(&harness::unique("bad-input-cp"), true);
    let good = ca.issue_with("workload", KeyAlg::P256, false);
    let d = plan_dir("cp");
    let (cert, key) = good.write(&d, "client");
    let (cs, ks) = (cert.display().to_string(), key.display().to_string());
    let endpoint = tb.endpoint(Side::Commercial).to_string();
    let cp = |cert: &str, key: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "credential-process",
            "--certificate",
            cert,
            "--private-key",
            key,
            "--trust-anchor-arn",
            "arn:aws:rolesanywhere:us-west-2:111122223333:trust-anchor/00000000-0000-0000-0000-000000000000",
            "--profile-arn",
            "arn:aws:rolesanywhere:us-west-2:111122223333:profile/00000000-0000-0000-0000-000000000000",
            "--role-arn",
            "arn:aws:iam::111122223333:role/bad-input",
            // Never the real endpoint the trust anchor's region implies.
            "--endpoint",
            &endpoint,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cp_case = |name: &str, args: Vec<String>, expect: &[&str]| {
        let mut c = Case::new("credential-process", name, &[], expect);
        c.args = args;
        c
    };
    if is_root() {
        // The seed runbook's failure: root's 0600 key, read by another user.
        let d = plan_dir("cp-root-only");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (c2, k2) = good.write(&d, "client");
        let mut c = cp_case(
            "key readable only by its owner (root), run as nobody",
            cp(
                &c2.display().to_string(),
                &k2.display().to_string(),
                &["--no-cache"],
            ),
            &[
                "cannot read private key",
                &k2.display().to_string(),
                "owner root, mode 0600",
                "Permission denied",
            ],
        );
        c.as_nobody = true;
        cases.push(c);
        // A key every user can read, owned by someone else.
        let d = plan_dir("cp-0644-nobody");
        let (c3, k3) = good.write(&d, "client");
        std::fs::set_permissions(&k3, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&k3, Some(65534), Some(65534)).unwrap();
        cases.push(cp_case(
            "key of mode 0644 owned by another user",
            cp(&c3.display().to_string(), &k3.display().to_string(), &[]),
            &[&k3.display().to_string(), "mode 0644", "open to every user"],
        ));
    } else {
        let d = plan_dir("cp-0000");
        let (c2, k2) = good.write(&d, "client");
        std::fs::set_permissions(&k2, std::fs::Permissions::from_mode(0o000)).unwrap();
        cases.push(cp_case(
            "key of mode 0000",
            cp(&c2.display().to_string(), &k2.display().to_string(), &[]),
            &[
                "cannot read private key",
                &k2.display().to_string(),
                "mode 0000",
            ],
        ));
        let d = plan_dir("cp-0644");
        let (c3, k3) = good.write(&d, "client");
        std::fs::set_permissions(&k3, std::fs::Permissions::from_mode(0o644)).unwrap();
        cases.push(cp_case(
            "key of mode 0644",
            cp(&c3.display().to_string(), &k3.display().to_string(), &[]),
            &[&k3.display().to_string(), "mode 0644", "open to every user"],
        ));
    }
    let other = ca.issue_with("workload", KeyAlg::P256, false);
    let (_, other_key) = other.write(&plan_dir("cp-other"), "other");
    cases.push(cp_case(
        "a key that is not the certificate's",
        cp(&cs, &other_key.display().to_string(), &[]),
        &["does not match certificate", &cs],
    ));
    let expired = ca.issue_with("workload", KeyAlg::P256, true);
    let (ec, ek) = expired.write(&plan_dir("cp-expired"), "expired");
    let ecs = ec.display().to_string();
    cases.push(cp_case(
        "an expired certificate",
        cp(&ecs, &ek.display().to_string(), &[]),
        &["expired at", &ecs],
    ));
    let ddir = plan_dir("cp-cert-dir");
    let dds = ddir.display().to_string();
    cases.push(cp_case(
        "a certificate path that is a directory",
        cp(&dds, &ks, &[]),
        &["certificate", &dds, "a directory, not a regular file"],
    ));
    for (name, cert, key, expect) in [
        (
            "a certificate that is /dev/zero",
            "/dev/zero",
            ks.as_str(),
            "a character device, not a regular file",
        ),
        (
            "a private key that is /dev/zero",
            cs.as_str(),
            "/dev/zero",
            "a character device, not a regular file",
        ),
    ] {
        cases.push(cp_case(name, cp(cert, key, &[]), &["/dev/zero", expect]));
    }
    let nope = d.join("no-such.crt").display().to_string();
    cases.push(cp_case(
        "a certificate that does not exist",
        cp(&nope, &ks, &[]),
        &["cannot read certificate", &nope, "No such file"],
    ));
    let garbage = d.join("garbage.key");
    write_mode(&garbage, b"this is not a key\n", 0o600);
    let gs = garbage.display().to_string();
    cases.push(cp_case(
        "a key file that holds no key",
        cp(&cs, &gs, &[]),
        &["private key", &gs],
    ));
    let mut mixed = cp(&cs, &ks, &[]);
    let i = mixed.iter().position(|a| a == "--role-arn").unwrap();
    mixed[i + 1] = "arn:aws-cn:iam::444455556666:role/bad-input".into();
    cases.push(cp_case(
        "a role of another partition than the trust anchor",
        mixed,
        &["the trust anchor is in partition aws but the role in aws-cn"],
    ));
    let mut bad_arn = cp(&cs, &ks, &[]);
    let i = bad_arn
        .iter()
        .position(|a| a == "--trust-anchor-arn")
        .unwrap();
    bad_arn[i + 1] = "not-an-arn".into();
    cases.push(cp_case(
        "a trust anchor ARN that is not an ARN",
        bad_arn,
        &["not-an-arn"],
    ));
    let mut refused = cp(&cs, &ks, &["--no-cache"]);
    let i = refused.iter().position(|a| a == "--endpoint").unwrap();
    let refused_url = format!("http://127.0.0.1:{}", closed_port());
    refused[i + 1] = refused_url.clone();
    cases.push(cp_case(
        "an endpoint that refuses connections",
        refused,
        &["cannot reach", &refused_url],
    ));

    // ---- usage errors: exit code 1, as every error (not counted) ----
    let b = base.display().to_string();
    for (name, args, expect) in [
        (
            "--var without =",
            vec!["apply", "--yes", &b, "--var", "novalue"],
            "novalue",
        ),
        (
            "--var with an empty name",
            vec!["destroy", "--yes", &b, "--var", "=x"],
            "=x",
        ),
        (
            "--profile without =",
            vec!["apply", "--yes", &b, "--profile", "commercial"],
            "commercial",
        ),
        (
            "--concurrency that is not a number",
            vec!["apply", "--yes", &b, "--concurrency", "many"],
            "many",
        ),
        (
            "--format yaml",
            vec!["plan", &b, "--format", "yaml"],
            "yaml",
        ),
        (
            "an unknown flag",
            vec!["apply", "--yes", &b, "--no-such-flag"],
            "--no-such-flag",
        ),
        ("no plan file", vec!["apply", "--yes"], "<PLAN>"),
        (
            "--offline without --against",
            vec!["plan", &b, "--offline"],
            "--against",
        ),
    ] {
        cases.push(Case::new("usage", name, &args, &[expect]).usage());
    }
    let mut c = cp_case(
        "--session-duration below 900",
        cp(&cs, &ks, &["--session-duration", "100"]),
        &["100", "900"],
    );
    c.code = 1;
    c.counts = false;
    cases.push(c);
    cases
}

/// The whole campaign on a private test-bed: a control that a write shows, then every case.
#[test]
fn bad_input_campaign() {
    let started = Instant::now();
    let tb = Testbed::private();
    let mut snaps = Snapshots::start(&tb);
    let corpus_before: BTreeSet<PathBuf> = files_under(&corpus_dir()).into_iter().collect();

    // The control: the base plan applies, and the snapshot sees its resources.
    let empty = snaps.take();
    let state = harness::tempdir("bad-input-control");
    let suffix = harness::unique("control");
    let control = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xpart"))
            .args(args)
            .arg(base_plan())
            .args(["--var", &format!("suffix={suffix}"), "--state-dir"])
            .arg(&state)
            .envs(tb.env())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = control(&["apply", "--yes"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the control apply failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let applied = snaps.take();
    let seen: Vec<_> = applied
        .difference(&empty)
        .filter(|i| i.contains(&suffix))
        .collect();
    assert!(
        seen.len() >= 6,
        "the snapshot does not see the control's resources: {seen:?}"
    );
    assert!(
        files_under(&state)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "key")),
        "no PKI key from the control"
    );
    let o = control(&["destroy", "--yes", "--force-delete-secrets"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the control destroy failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Keys pending deletion stay listed: the baseline is what the control left.
    let mut before = snaps.take();
    let mut cases = corpus_cases();
    let corpus_runs = cases.len();
    let scratch = harness::tempdir("bad-input");
    cases.extend(runtime_cases(&tb, &scratch));
    let mut failures = vec![];
    let mut counted: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut slowest = (Duration::ZERO, String::new());
    for c in &cases {
        match run(&tb, &mut snaps, &before, c) {
            Ok(took) => {
                if took > slowest.0 {
                    slowest = (took, c.name.clone());
                }
            }
            Err(e) => {
                failures.push(format!("{}: {e}", c.name));
                // Later cases are judged against what is there now.
                before = snaps.take();
            }
        }
        if c.counts {
            *counted.entry(c.category).or_default() += 1;
        }
    }
    let corpus_after: BTreeSet<PathBuf> = files_under(&corpus_dir()).into_iter().collect();
    if corpus_after != corpus_before {
        failures.push(format!(
            "files appeared in the corpus dir: {:?}",
            corpus_after.difference(&corpus_before).collect::<Vec<_>>()
        ));
    }
    let files = cases[..corpus_runs]
        .iter()
        .map(|c| c.name.split(' ').next().unwrap().to_string())
        .collect::<BTreeSet<_>>()
        .len();
    let total: usize = counted.values().sum();
    eprintln!(
        "bad-input campaign: {} runs ({} from {files} plan files, {} runtime, {} usage) in {:.0?}; slowest {:.1?} ({}); counted by category: {counted:?}",
        cases.len(),
        corpus_runs,
        cases.len() - corpus_runs - cases.iter().filter(|c| !c.counts).count(),
        cases.iter().filter(|c| !c.counts).count(),
        started.elapsed(),
        slowest.0,
        slowest.1,
    );
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&scratch);
        let _ = std::fs::remove_dir_all(&state);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    assert!(
        total >= 60,
        "the campaign has {total} counted cases, fewer than 60"
    );
}
