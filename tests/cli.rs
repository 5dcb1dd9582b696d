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

#[test]
fn unknown_flag_is_a_usage_error() {
    Command::cargo_bin("xpart")
        .unwrap()
        .arg("--no-such-flag")
        .assert()
        .failure()
        .code(2);
}
