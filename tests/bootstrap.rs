//! The China workload's bootstrap script: shellcheck on its body and on rendered user data, and
//! the user data that `xpart apply` gives the seed plan's instance, run as it is under a
//! scratch root against the test-bed, ending in a profile that reads the commercial secret.

use crate::harness::sent;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use serde_json::{json, Value as Json};

use crate::harness::{self, plan_file, text, Run, Side, Testbed};

fn shellcheck(path: &Path) {
    let out = Command::new("shellcheck")
        .args(["-s", "bash"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("shellcheck: {e}; install it (apt-get install shellcheck; .ci/run does)")
        });
    assert!(
        out.status.success(),
        "shellcheck {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn china() -> xpart::plan::PartitionDef {
    xpart::plan::PartitionDef::new(
        "china",
        xpart::partition::Partition::AwsCn,
        serde_yaml::from_str("region: cn-north-1").unwrap(),
    )
}

#[test]
fn bootstrap_passes_shellcheck() {
    shellcheck(&harness::repo().join("src/bootstrap/bootstrap.sh"));
    let settings = json!({
        "run_as": "ubuntu",
        "key_secret": "arn:aws-cn:secretsmanager:cn-north-1:444455556666:secret:k-AbCdEf",
        "certificate": "-----BEGIN CERTIFICATE-----\nMIIB'$(x)`y`\n-----END CERTIFICATE-----\n",
        "trust_anchor_arn": "arn:aws:rolesanywhere:us-west-2:111122223333:trust-anchor/t",
        "profile_arn": "arn:aws:rolesanywhere:us-west-2:111122223333:profile/p",
        "role_arn": "arn:aws:iam::111122223333:role/r",
        "target_region": "us-west-2",
        "aws_profile": "commercial",
        "helper": "xpart",
        "xpart_url": "https://example.com/xpart",
        "xpart_sha256": "0000000000000000000000000000000000000000000000000000000000000000",
    });
    let script = xpart::bootstrap::user_data(&settings, &china()).unwrap();
    let dir = harness::tempdir("bootstrap-lint");
    std::fs::write(dir.join("user-data"), script).unwrap();
    shellcheck(&dir.join("user-data"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The user data of the plan's instance, as EC2 holds it.
async fn user_data_of(tb: &Testbed, name: &str) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&tb.sdk(Side::China).await);
    let out = sent!(ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:Name")
                .values(name)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        ));
    let ids: Vec<String> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(String::from))
        .collect();
    assert_eq!(ids.len(), 1, "one running instance named {name}: {ids:?}");
    let attr = sent!(ec2
        .describe_instance_attribute()
        .instance_id(&ids[0])
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData));
    let b64 = attr
        .user_data()
        .and_then(|u| u.value())
        .expect("the instance has user data");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

/// ARN and value of a secret, read with the partition's own (test-bed) credentials.
async fn secret(tb: &Testbed, side: Side, name: &str) -> (String, String) {
    let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(side).await);
    let v = sent!(sm.get_secret_value().secret_id(name));
    (
        v.arn().unwrap().to_string(),
        v.secret_string().unwrap().to_string(),
    )
}

/// The client certificate and key the workload's secret carries (the plan issues them into
/// it; no machine keeps a copy), as the bundle's certificate block and key block.
fn pair_in_secret(tb: &Testbed, sfx: &str) -> (Vec<u8>, Vec<u8>) {
    let (_, bundle) = harness::rt().block_on(secret(
        tb,
        Side::China,
        &format!("xpart/workload-key-{sfx}"),
    ));
    let (cert, key) = crate::harness::split_bundle(&bundle);
    (cert.to_vec(), key.to_vec())
}

fn current_user() -> (String, u32) {
    let out = Command::new("id").arg("-un").output().unwrap();
    let name = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    (name, uid)
}

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}", text(o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Destroys the plan when the test ends, passed or not.
struct Destroy<'a>(&'a Run<'a>, PathBuf);

impl Drop for Destroy<'_> {
    fn drop(&mut self) {
        let o = self
            .0
            .run(&["destroy", "--yes", "--force-delete-secrets"], &self.1);
        if !std::thread::panicking() {
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        }
    }
}

/// What a profile in the scratch root's ~/.aws/config gets: the aws CLI, with no credentials
/// or profile from the environment, and a credential cache of its own.
fn aws_with(tb: &Testbed, config: &Path, cache_home: &Path, args: &[&str]) -> Output {
    let mut c = Command::new("aws");
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.args(["--profile", "commercial"])
        .args(args)
        .args([
            "--endpoint-url",
            tb.endpoint(Side::Commercial),
            "--output",
            "json",
        ])
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("XDG_CACHE_HOME", cache_home)
        .output()
        .expect("the aws CLI")
}

/// The profile works: it is the reader role's session, and it reads the commercial secret.
fn assert_profile_reads(
    tb: &Testbed,
    config: &Path,
    cache: &Path,
    role: &str,
    arn: &str,
    value: &str,
) {
    let who: Json = serde_json::from_str(&ok(
        &aws_with(tb, config, cache, &["sts", "get-caller-identity"]),
        "sts get-caller-identity",
    ))
    .unwrap();
    // A session's ARN names the role without its path.
    let (account, name) = role.split_once(":role/").unwrap();
    let name = name.rsplit('/').next().unwrap();
    let session = format!(
        "{}:assumed-role/{name}",
        account.replacen(":iam::", ":sts::", 1)
    );
    let who_arn = who["Arn"].as_str().unwrap();
    assert!(
        who_arn.starts_with(&format!("{session}/")),
        "{who_arn} is not a session of {role}"
    );
    let got: Json = serde_json::from_str(&ok(
        &aws_with(
            tb,
            config,
            cache,
            &["secretsmanager", "get-secret-value", "--secret-id", arn],
        ),
        "secretsmanager get-secret-value",
    ))
    .unwrap();
    assert_eq!(got["SecretString"], value);
}

#[test]
fn bootstrap_user_data_installs_a_profile_that_reads_the_secret() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file("china-to-commercial.yaml");
    let o = run.run(&["apply", "--yes"], &plan);
    let _destroy = Destroy(&run, plan.clone());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sfx = &run.suffix;
    let rt = harness::rt();

    // The user data EC2 holds: the bootstrap script, without any private key.
    let script = rt.block_on(user_data_of(tb, &format!("xpart-workload-{sfx}")));
    let marker = format!("{}PRIVATE KEY", "-----BEGIN ");
    assert!(
        !script.contains(&marker) && !script.contains("PRIVATE KEY-----"),
        "{script}"
    );
    assert!(script.starts_with("#!/bin/bash\n") && script.ends_with(xpart::bootstrap::BODY));
    let dir = harness::tempdir("bootstrap");
    let script_file = dir.join("user-data");
    std::fs::write(&script_file, &script).unwrap();
    shellcheck(&script_file);

    let (app_arn, app_value) = rt.block_on(secret(
        tb,
        Side::Commercial,
        &format!("xpart/app-secret-{sfx}"),
    ));
    // Under the plan's IAM path.
    let role = format!(
        "arn:aws:iam::{}:role/xpart/{}/xpart-secret-reader-{sfx}",
        tb.account(Side::Commercial),
        run.plan_name(&plan)
    );
    let (cert, key) = pair_in_secret(tb, sfx);
    let (user, uid) = current_user();
    let root = dir.join("root");
    let home = root.join("home").join(&user);
    let xpart_dir = Path::new(env!("CARGO_BIN_EXE_xpart"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::var("PATH").unwrap();

    // The script, unchanged, with the inputs a test sets from outside: a scratch root, this
    // user, the test-bed's china credentials for the instance role, its endpoints, and the
    // xpart binary as the helper.
    let bootstrap = |extra: &[(&str, String)]| -> Output {
        Command::new("bash")
            .arg(&script_file)
            .envs(tb.env())
            .env("AWS_PROFILE", "xpart-china")
            .env("HOME", &dir)
            .env("ROOT", &root)
            .env("RUN_AS", &user)
            .env("SECRETS_ENDPOINT_URL", tb.endpoint(Side::China))
            .env(
                "CREDENTIAL_PROCESS_EXTRA",
                format!("--endpoint {}", tb.endpoint(Side::Commercial)),
            )
            .env("HELPER", "xpart")
            .env("PATH", format!("{}:{path}", xpart_dir.display()))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
    };
    let o = bootstrap(&[]);
    let log = ok(&o, "the bootstrap script") + &String::from_utf8_lossy(&o.stderr);
    assert!(
        !log.contains("PRIVATE KEY"),
        "the script printed the key:\n{log}"
    );

    // Key and certificate: this user's, 0600, in a 0700 directory that `current` links to;
    // the pair is the plan's.
    let top = home.join(".aws/xpart");
    let files = top.join("current");
    let pair_dir = top.join(std::fs::read_link(&files).unwrap());
    for (p, mode) in [
        (&top, 0o700),
        (&pair_dir, 0o700),
        (&files.join("client.key"), 0o600),
        (&files.join("client.crt"), 0o600),
    ] {
        let m = std::fs::symlink_metadata(p).unwrap();
        assert_eq!(m.mode() & 0o7777, mode, "{}", p.display());
        assert_eq!(m.uid(), uid, "{}", p.display());
    }
    assert_eq!(std::fs::read(files.join("client.key")).unwrap(), key);
    assert_eq!(std::fs::read(files.join("client.crt")).unwrap(), cert);

    // The config: this user's, 0600, one profile whose credential_process is one line.
    let config_file = home.join(".aws/config");
    let m = std::fs::metadata(&config_file).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o600, uid));
    let config = std::fs::read_to_string(&config_file).unwrap();
    let lines: Vec<&str> = config.lines().collect();
    assert_eq!(
        lines[..2],
        ["[profile commercial]", "region = us-west-2"],
        "{config}"
    );
    let cp: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("credential_process"))
        .collect();
    assert_eq!(cp.len(), 1, "{config}");
    assert_eq!(lines.len(), 3, "no continuation lines:\n{config}");
    let want = format!(
        "credential_process = {} credential-process --certificate {} --private-key {} --trust-anchor-arn arn:aws:rolesanywhere:",
        xpart_dir.join("xpart").display(),
        files.join("client.crt").display(),
        files.join("client.key").display(),
    );
    assert!(cp[0].starts_with(&want), "{}\nwanted {want}", cp[0]);
    assert!(cp[0].contains(&format!(" --role-arn {role} ")), "{}", cp[0]);

    assert_profile_reads(
        tb,
        &config_file,
        &dir.join("cache-1"),
        &role,
        &app_arn,
        &app_value,
    );

    // doctor from the workload's side, on what the bootstrap left: the profile it wrote, the
    // helper, the files (owner and mode), the commercial Roles Anywhere endpoint, the instance
    // role's access to the key secret the refresher reads, one real CreateSession.
    let workload_doctor = || {
        let mut c = harness::xpart();
        c.args(["doctor", "--workload", "--format", "json", "--aws-config"])
            .arg(&config_file)
            .arg("--root")
            .arg(&root)
            .envs(tb.env())
            .env("AWS_PROFILE", "xpart-china");
        let o = harness::output_within(&mut c, std::time::Duration::from_secs(120)).unwrap();
        let checks: Vec<Json> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (o, checks)
    };
    let (o, checks) = workload_doctor();
    assert_eq!(o.status.code(), Some(0), "{checks:#?}\n{}", text(&o));
    let check = |name: &str| -> Json {
        checks
            .iter()
            .find(|c| {
                c["partition"] == "profile commercial"
                    && c["check"].as_str().unwrap().starts_with(name)
            })
            .unwrap_or_else(|| panic!("no check {name:?}: {checks:#?}"))
            .clone()
    };
    for name in [
        "helper",
        "certificate file",
        "private key file",
        "certificate and key",
        "DNS ",
        "connect ",
        "answer ",
        "clock against",
        "key secret",
        "CreateSession",
    ] {
        assert_eq!(check(name)["status"], "pass", "{}", check(name));
    }
    assert!(
        check("private key file")["detail"]
            .as_str()
            .unwrap()
            .contains("0600"),
        "{}",
        check("private key file")
    );
    assert!(check("connect ")["check"]
        .as_str()
        .unwrap()
        .ends_with(tb.endpoint(Side::Commercial).trim_start_matches("http://")));
    // A key every user can read: named, with the fix.
    let key_file = files.join("client.key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (o, checks) = workload_doctor();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(o.status.code(), Some(1));
    let bad = checks
        .iter()
        .find(|c| c["check"] == "private key file")
        .unwrap();
    assert_eq!(bad["status"], "fail", "{bad}");
    assert!(
        bad["fix"].as_str().unwrap().starts_with("chmod 600 "),
        "{bad}"
    );

    // Again: the same files.
    ok(&bootstrap(&[]), "the bootstrap script, again");
    assert_eq!(std::fs::read_to_string(&config_file).unwrap(), config);

    // An image without the aws CLI, and aws_signing_helper as the helper: both downloaded
    // (from files standing in for awscli.amazonaws.com and rolesanywhere.amazonaws.com).
    let sys_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let has_aws = Command::new("sh")
        .args(["-c", "command -v aws"])
        .env("PATH", sys_path)
        .output()
        .unwrap();
    let dl = dir.join("downloads");
    let pkg = dl.join("pkg/aws");
    std::fs::create_dir_all(pkg.join("dist")).unwrap();
    // The installer's interface: --bin-dir and --install-dir; its aws runs the real one.
    executable(
        &pkg.join("dist/aws"),
        &format!("#!/bin/sh\nPATH='{path}'\nexport PATH\nexec aws \"$@\"\n"),
    );
    executable(
        &pkg.join("install"),
        "#!/bin/sh\nset -eu\nwhile [ $# -gt 0 ]; do\n  case $1 in --bin-dir) bin=$2; shift ;; --install-dir) inst=$2; shift ;; esac\n  shift\n\
         done\nmkdir -p \"$bin\" \"$inst\"\ncp \"$(dirname \"$0\")/dist/aws\" \"$inst/aws\"\nln -sf \"$inst/aws\" \"$bin/aws\"\n",
    );
    let zip = dl.join("awscli.zip");
    let o = Command::new(tb.python())
        .current_dir(dl.join("pkg"))
        .args(["-m", "zipfile", "-c"])
        .arg(&zip)
        .arg("aws")
        .output()
        .unwrap();
    ok(&o, "zip");
    let helper = dl.join("aws_signing_helper");
    executable(
        &helper,
        &format!("#!/bin/sh\nexec '{}' \"$@\"\n", env!("CARGO_BIN_EXE_xpart")),
    );
    let o = bootstrap(&[
        ("PATH", sys_path.to_string()),
        ("HELPER", "aws_signing_helper".into()),
        ("HELPER_URL", format!("file://{}", helper.display())),
        ("HELPER_SHA256", sha256(&helper).to_ascii_uppercase()),
        ("AWSCLI_URL", format!("file://{}", zip.display())),
        ("AWSCLI_SHA256", sha256(&zip)),
    ]);
    let log = ok(&o, "the bootstrap script with downloads") + &String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains(&format!("checked file://{}: SHA-256", helper.display())),
        "{log}"
    );
    if !has_aws.status.success() {
        assert!(
            log.contains(&format!("checked file://{}: SHA-256", zip.display())),
            "{log}"
        );
    }
    let bin = root.join("usr/local/bin");
    if !has_aws.status.success() {
        assert!(bin.join("aws").exists(), "the aws CLI was installed");
    }
    let m = std::fs::metadata(bin.join("aws_signing_helper")).unwrap();
    assert_eq!(m.mode() & 0o777, 0o755);
    let config = std::fs::read_to_string(&config_file).unwrap();
    assert_eq!(config.lines().count(), 3, "{config}");
    assert!(
        config.contains(&format!(
            "credential_process = {} credential-process ",
            bin.join("aws_signing_helper").display()
        )),
        "{config}"
    );
    assert_profile_reads(
        tb,
        &config_file,
        &dir.join("cache-2"),
        &role,
        &app_arn,
        &app_value,
    );

    // Nothing but the two files: no temporary copies of the key left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&files)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");

    // A download whose bytes are not what the plan's SHA-256 says stops the script before it
    // installs anything: on a fresh root, no binary, no key, no profile.
    let fresh = dir.join("root-mismatch");
    let o = bootstrap(&[
        ("ROOT", fresh.display().to_string()),
        ("PATH", sys_path.to_string()),
        ("HELPER", "aws_signing_helper".into()),
        ("HELPER_URL", format!("file://{}", helper.display())),
        ("HELPER_SHA256", "0".repeat(64)),
        ("AWSCLI_URL", format!("file://{}", zip.display())),
        ("AWSCLI_SHA256", sha256(&zip)),
    ]);
    assert!(
        !o.status.success(),
        "a mismatched download must stop the bootstrap"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "file://{} has SHA-256 {}, but the plan expects {}: nothing was installed",
            helper.display(),
            sha256(&helper),
            "0".repeat(64)
        )),
        "{err}"
    );
    let installed: Vec<_> = walk(&fresh).into_iter().filter(|p| p.is_file()).collect();
    assert_eq!(
        installed,
        Vec::<PathBuf>::new(),
        "nothing installed under the fresh root"
    );

    // xpart itself from an S3 object in the workload's own partition (read with the instance
    // role: nothing fetched through the firewall), checked against the plan's digest.
    let bucket = format!("xpart-tools-{}", sfx.to_ascii_lowercase());
    let object = s3_put(tb, Side::China, &bucket, "bin/xpart", &helper);
    let o = bootstrap(&[
        (
            "PATH",
            format!("{}:{sys_path}", root.join("usr/local/bin").display()),
        ),
        ("HELPER", "xpart".into()),
        ("XPART_URL", object.clone()),
        ("XPART_SHA256", sha256(&helper)),
        ("S3_ENDPOINT_URL", tb.endpoint(Side::China).to_string()),
    ]);
    let log =
        ok(&o, "the bootstrap script with xpart from S3") + &String::from_utf8_lossy(&o.stderr);
    assert!(log.contains(&format!("checked {object}: SHA-256")), "{log}");
    let installed = root.join("usr/local/bin/xpart");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(&helper).unwrap()
    );
    let config = std::fs::read_to_string(&config_file).unwrap();
    assert!(
        config.contains(&format!(
            "credential_process = {} credential-process ",
            installed.display()
        )),
        "{config}"
    );
    assert_profile_reads(
        tb,
        &config_file,
        &dir.join("cache-s3"),
        &role,
        &app_arn,
        &app_value,
    );

    // A renewal: with the clock in the certificate's renewal window, the plan renews the
    // certificate and changes the secret that carries it, and leaves the instance alone.
    let skewed = |args: &[&str]| {
        let mut c = run.cmd(args, &plan);
        c.env("XPART_TEST_CLOCK_DAYS", "340");
        harness::output_within(&mut c, std::time::Duration::from_secs(240)).unwrap()
    };
    let o = skewed(&["plan"]);
    let shown = ok(&o, "plan in the renewal window");
    assert!(
        shown.contains("~ secretsmanager.secret client_key_secret"),
        "{shown}"
    );
    assert!(shown.contains("renew: expires on"), "{shown}");
    assert!(!shown.contains("ec2.instance"), "{shown}");
    ok(&skewed(&["apply", "--yes"]), "apply in the renewal window");
    let (renewed, renewed_key) = pair_in_secret(tb, sfx);
    assert_ne!(renewed, std::fs::read(files.join("client.crt")).unwrap());
    // At today's date the renewed certificate is not due: nothing to do.
    run.ok(&["plan", "--detailed-exitcode"], &plan);
    // The user data did not change: the instance is the same one.
    assert_eq!(
        rt.block_on(user_data_of(tb, &format!("xpart-workload-{sfx}"))),
        script
    );
    // The refresher (the script the bootstrap saved, as its timer runs it) installs the new
    // pair: a new directory, `current` moved to it in one rename, the pair matching.
    let refresher = root.join("usr/local/lib/xpart/refresh");
    let timer =
        std::fs::read_to_string(root.join("etc/systemd/system/xpart-refresh.timer")).unwrap();
    assert!(timer.contains("OnUnitActiveSec=15min"), "{timer}");
    let o = Command::new("bash")
        .arg(&refresher)
        .envs(tb.env())
        .env("XPART_REFRESH", "1")
        .env("AWS_PROFILE", "xpart-china")
        .env("HOME", &dir)
        .env("ROOT", &root)
        .env("RUN_AS", &user)
        .env("SECRETS_ENDPOINT_URL", tb.endpoint(Side::China))
        .env("PATH", format!("{}:{path}", xpart_dir.display()))
        .output()
        .unwrap();
    ok(&o, "the refresher");
    assert_ne!(
        std::fs::read_link(&files).unwrap(),
        pair_dir.file_name().unwrap()
    );
    assert_eq!(std::fs::read(files.join("client.crt")).unwrap(), renewed);
    assert_eq!(
        std::fs::read(files.join("client.key")).unwrap(),
        renewed_key
    );
    // The replaced pair stays for a reader that had it open; nothing older.
    assert!(pair_dir.join("client.key").exists());
    // The profile reads the commercial secret with the renewed certificate, unchanged config.
    assert_profile_reads(
        tb,
        &config_file,
        &dir.join("cache-3"),
        &role,
        &app_arn,
        &app_value,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The SHA-256 of a file, as `sha256sum` prints it.
fn sha256(path: &Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Every path under `dir` (none when it does not exist).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            out.extend(walk(&p));
            out.push(p);
        }
    }
    out
}

/// Put `file` at `key` of a new bucket in one partition of the test-bed (with boto3: xpart
/// has no S3 client); its `s3://` URL.
fn s3_put(tb: &Testbed, side: Side, bucket: &str, key: &str, file: &Path) -> String {
    let code = "import boto3,sys\ns3=boto3.session.Session().client('s3',endpoint_url=sys.argv[1],region_name=sys.argv[2])\n\
         s3.create_bucket(Bucket=sys.argv[3],CreateBucketConfiguration={'LocationConstraint':sys.argv[2]})\n\
         s3.upload_file(sys.argv[5],sys.argv[3],sys.argv[4])\n";
    let mut c = Command::new(tb.python());
    c.args(["-c", code, tb.endpoint(side), tb.region(side), bucket, key])
        .arg(file)
        .envs(tb.env())
        .env("AWS_PROFILE", format!("xpart-{}", side.name()));
    let o = harness::output_within(&mut c, std::time::Duration::from_secs(60)).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    format!("s3://{bucket}/{key}")
}
