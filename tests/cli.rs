//! The binary's surface: help, version, exit codes.

use assert_cmd::Command;

#[test]
fn version_prints_the_crate_version() {
    let out = Command::cargo_bin("xpart")
        .unwrap()
        .arg("--version")
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(
        stdout.trim(),
        format!("xpart {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_describes_the_tool() {
    let out = Command::cargo_bin("xpart")
        .unwrap()
        .arg("--help")
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("cross-partition"), "{stdout}");
    assert!(stdout.contains("Usage: xpart"), "{stdout}");
}

/// Usage errors exit 1 like every other error: 2 is what `plan --detailed-exitcode` says
/// when there are changes, and a typo in CI must not read as a pending change.
#[test]
fn usage_errors_exit_1_never_2() {
    let plan = crate::harness::repo().join("plans/china-to-commercial.yaml");
    let plan = plan.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["--no-such-flag"],
        &[],
        &["plan", plan, "--formt", "json"],
        &["plan", plan, "--format", "yaml"],
        &["plan", plan, "--var", "novalue"],
        &["lint", plan, "--var", "=x"],
        &["apply", plan, "--adopt-everything"],
        &["verify", plan, "--adopt"],
        &["verify", plan, "--concurrency", "3"],
        &["destroy", plan, "--adopt"],
        &["completions", "tcsh"],
    ];
    for args in cases {
        let out = Command::cargo_bin("xpart")
            .unwrap()
            .args(*args)
            .env_remove("AWS_CONFIG_FILE")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "xpart {args:?}: {err}");
        assert!(!err.is_empty(), "xpart {args:?} said nothing");
        assert!(!err.contains("panicked"), "xpart {args:?}: {err}");
    }
}

/// `--help` names every exit code, and each command's flags have a line of help.
#[test]
fn help_documents_exit_codes_and_every_flag() {
    let help = |args: &[&str]| {
        let out = Command::cargo_bin("xpart")
            .unwrap()
            .args(args)
            .arg("--help")
            .assert()
            .success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    let top = help(&[]);
    for code in ["0  success", "1  any error", "2  changes present"] {
        assert!(top.contains(code), "{top}");
    }
    assert!(help(&["plan"]).contains("2  changes present"));
    for (cmd, flags) in [
        ("destroy", &["--yes", "--allow-prune", "--concurrency"][..]),
        ("apply", &["--yes", "--adopt", "--allow-prune"][..]),
        ("unlock", &["--state-dir", "--force", "<PLAN>"][..]),
    ] {
        let text = help(&[cmd]);
        for flag in flags {
            let line = text
                .lines()
                .find(|l| {
                    let l = l.trim_start();
                    // `--yes` or `-y, --yes`
                    l.starts_with(flag) || l.get(4..).is_some_and(|r| r.starts_with(flag))
                })
                .unwrap_or_else(|| panic!("`xpart {cmd} --help` has no {flag}:\n{text}"));
            // The flag's own line or the next one says something about it.
            let i = text.lines().position(|l| l == line).unwrap();
            let next = text.lines().nth(i + 1).unwrap_or_default();
            let described = line.trim().len() > flag.len() + 12 || next.trim().len() > 8;
            assert!(
                described,
                "`xpart {cmd} --help`: {flag} has no help text:\n{text}"
            );
        }
    }
    for (cmd, absent) in [
        ("verify", &["--adopt", "--concurrency"][..]),
        ("destroy", &["--adopt"][..]),
    ] {
        let text = help(&[cmd]);
        for flag in absent {
            assert!(
                !text.contains(flag),
                "`xpart {cmd}` lists {flag}, which does nothing there"
            );
        }
    }
}

/// `xpart completions SHELL` prints a script that the shell accepts and that knows the
/// subcommands.
#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::cargo_bin("xpart")
            .unwrap()
            .args(["completions", shell])
            .assert()
            .success();
        let script = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        for word in ["apply", "destroy", "credential-process", "completions"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
        if shell == "bash" {
            // Sourcing it must define the completion function without an error.
            let ok = std::process::Command::new("bash")
                .args(["-c", "source /dev/stdin && complete -p xpart"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(script.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            assert!(ok.status.success(), "bash rejects the script");
            assert!(String::from_utf8_lossy(&ok.stdout).contains("xpart"));
        }
    }
}

/// A device, a FIFO or a huge file given as a plan, certificate or key is refused at once,
/// without reading it into memory: exit 1 within a second, and well under 100 MB.
#[test]
fn unbounded_inputs_are_refused_within_a_second_and_100_mb() {
    let dir = crate::harness::tempdir("unbounded");
    let (fifo, huge) = crate::harness::unbounded_files(&dir);
    let (zero, fifo, huge) = ("/dev/zero", fifo.to_str().unwrap(), huge.to_str().unwrap());
    let plan = crate::harness::repo().join("plans/china-to-commercial.yaml");
    let leaf = crate::harness::pki::ca("cli-ca", true).issue("cli", false, false);
    let (cert, key) = leaf.write(&dir, "leaf");
    let (plan, cert, key) = (
        plan.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    let arn = "arn:aws:rolesanywhere:us-west-2:111122223333:trust-anchor/x";
    let profile = "arn:aws:rolesanywhere:us-west-2:111122223333:profile/x";
    let cp = |cert: &str, key: &str| -> Vec<String> {
        let mut v = crate::harness::credential_process_args(
            cert,
            key,
            [arn, profile, "arn:aws:iam::111122223333:role/r"],
        );
        v.push("--no-cache".into());
        v
    };
    let cases: Vec<Vec<String>> = vec![
        vec!["lint".into(), zero.into()],
        vec!["lint".into(), fifo.into()],
        vec!["lint".into(), huge.into()],
        vec!["plan".into(), zero.into()],
        vec!["apply".into(), huge.into(), "--yes".into()],
        vec![
            "plan".into(),
            plan.into(),
            "--offline".into(),
            "--against".into(),
            zero.into(),
        ],
        cp(zero, key),
        cp(cert, zero),
        cp(huge, key),
        cp(cert, fifo),
    ];
    for args in cases {
        let mut cmd = std::process::Command::new("/usr/bin/time");
        cmd.args(["-f", "%M"])
            .arg(env!("CARGO_BIN_EXE_xpart"))
            .args(&args)
            .env_remove("AWS_CONFIG_FILE");
        let start = std::time::Instant::now();
        let out = crate::harness::output_within(&mut cmd, std::time::Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("xpart {args:?}: {e}"));
        let took = start.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "xpart {args:?}: {err}");
        assert!(
            took < std::time::Duration::from_secs(1),
            "xpart {args:?} took {took:?}"
        );
        let kb: u64 = err.lines().last().unwrap().trim().parse().unwrap();
        assert!(kb < 100 * 1024, "xpart {args:?} used {kb} KB");
        assert!(
            err.contains("not a regular file")
                || err.contains("a character device")
                || err.contains("a named pipe")
                || err.contains("larger than"),
            "xpart {args:?} does not say why: {err}"
        );
    }
}
