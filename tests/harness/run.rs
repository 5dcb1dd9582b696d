//! The binary against a test-bed: one `Run` (its own state dir and name suffix), what boto3
//! finds of its plan (the inventory), and the `Census` of a plan in both partitions.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value as Json;

use super::{output_within, repo, tempdir, unique, xpart, Side, Testbed, LIMIT};

/// One run of the binary against a test-bed, with a private state dir.
pub struct Run<'a> {
    pub tb: &'a Testbed,
    pub state: PathBuf,
    pub suffix: String,
}

impl<'a> Run<'a> {
    pub fn new(tb: &'a Testbed) -> Run<'a> {
        let suffix = unique("t").replace('_', "-");
        Run {
            tb,
            state: tempdir("state"),
            suffix,
        }
    }

    pub fn cmd(&self, args: &[&str], plan: &Path) -> std::process::Command {
        let mut c = xpart();
        c.args(args)
            .arg(plan)
            .arg("--var")
            .arg(format!("suffix={}", self.suffix))
            .arg("--state-dir")
            .arg(&self.state)
            .envs(self.tb.env());
        c
    }

    pub fn run(&self, args: &[&str], plan: &Path) -> Output {
        self.cmd(args, plan).output().expect("run xpart")
    }

    /// Run xpart and require exit 0.
    pub fn ok(&self, args: &[&str], plan: &Path) -> Output {
        let o = self.run(args, plan);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        o
    }

    /// A plan that must show changes (`--detailed-exitcode` exits 2): the run and its stdout.
    pub fn changes(&self, plan: &Path) -> (Output, String) {
        let o = self.run(&["plan", "--detailed-exitcode"], plan);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        (o, out)
    }

    /// A plan that must show none (exit 0); `why` is the moment, for the failure message.
    pub fn no_changes(&self, plan: &Path, why: &str) {
        let o = self.run(&["plan", "--detailed-exitcode"], plan);
        assert_eq!(o.status.code(), Some(0), "{why}:\n{}", text(&o));
    }

    /// Write `src` as the plan and plan it: it must show changes, each of `shows` and none of
    /// `hides`. Its stdout.
    pub fn edited(&self, plan: &Path, src: &str, shows: &[&str], hides: &[&str]) -> String {
        std::fs::write(plan, src).unwrap();
        let (_, shown) = self.changes(plan);
        assert_shows(&shown, shows);
        for line in hides {
            assert!(!shown.contains(line), "`{line}` shown:\n{shown}");
        }
        shown
    }

    /// The end of most tests: a plan shows no change, and destroy (secrets at once) succeeds.
    pub fn converged_then_destroyed(&self, plan: &Path) {
        self.ok(&["plan", "--detailed-exitcode"], plan);
        self.ok(&["destroy", "--yes", "--force-delete-secrets"], plan);
    }

    /// A copy of the shipped plan `name` of this run's own, to edit: its path and its text.
    pub fn own_plan(&self, name: &str) -> (PathBuf, String) {
        let src = std::fs::read_to_string(plan_file(name)).unwrap();
        let dir = self.state.join("plans");
        std::fs::create_dir_all(&dir).unwrap();
        let plan = dir.join(name);
        std::fs::write(&plan, &src).unwrap();
        (plan, src)
    }

    /// The plan's name as the plan files spell it.
    pub fn plan_name(&self, plan: &Path) -> String {
        let stem = plan.file_stem().unwrap().to_str().unwrap();
        format!("{stem}-{}", self.suffix)
    }

    /// Run xpart within [`LIMIT`](super::LIMIT): a hang fails the test.
    pub fn within(&self, args: &[&str], plan: &Path) -> Output {
        super::bounded(&mut self.cmd(args, plan))
    }

    /// Run xpart, killed (and an error) if it takes longer than `limit`: for a run that has a
    /// budget of its own (the campaigns).
    pub fn run_within(
        &self,
        args: &[&str],
        plan: &Path,
        limit: Duration,
    ) -> Result<Output, String> {
        output_within(&mut self.cmd(args, plan), limit)
    }

    /// What boto3 finds tagged with this plan in one partition.
    pub fn inventory(&self, side: Side, plan: &Path) -> Vec<Json> {
        self.try_inventory(side, plan, false)
            .unwrap_or_else(|e| panic!("{e}"))
            .owned
    }

    /// What boto3 finds in one partition: tagged with this plan and, when `named`, anything
    /// whose name contains the run's suffix, tagged or not. An error, not a hang, if the
    /// test-bed does not answer within [`LIMIT`].
    pub fn try_inventory(&self, side: Side, plan: &Path, named: bool) -> Result<Inventory, String> {
        let mut c = std::process::Command::new(self.tb.python());
        c.arg(repo().join("tests/clients/inventory.py"))
            .args([
                "--endpoint",
                self.tb.endpoint(side),
                "--region",
                self.tb.region(side),
            ])
            .args(["--plan", &self.plan_name(plan)])
            .args(["--lineage", &lineage_of(plan)]);
        if named {
            c.args(["--name", &self.suffix]);
        }
        let out =
            output_within(&mut c, LIMIT).map_err(|e| format!("inventory of {side:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "inventory of {side:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let v: Json = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("inventory of {side:?} printed no JSON: {e}"))?;
        let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
        Ok(Inventory {
            owned: list("owned"),
            named: list("named"),
        })
    }
}

/// One partition as `tests/clients/inventory.py` lists it.
pub struct Inventory {
    /// Tagged with the plan: `{id, type, arn, tags}`.
    pub owned: Vec<Json>,
    /// Named after the run's suffix, tagged or not: `{type, name, arn, tags}`.
    pub named: Vec<Json>,
}

/// The lineage of a plan file: of its `identity:` (else its `name:`) as written.
pub fn lineage_of(plan: &Path) -> String {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(plan).unwrap()).unwrap();
    let template = doc["identity"]
        .as_str()
        .or(doc["name"].as_str())
        .expect("a plan has a name");
    xpart::plan::lineage(template)
}

/// Each of `lines` stands in `out` (what a command printed), or the failure shows all of it.
pub fn assert_shows(out: &str, lines: &[&str]) {
    for line in lines {
        assert!(out.contains(line), "`{line}` missing:\n{out}");
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn plan_file(name: &str) -> PathBuf {
    repo().join("plans").join(name)
}

/// The resource ids and partitions of a plan file, from `xpart plan --offline` against itself
/// would be circular; read the YAML directly.
pub fn plan_resources(plan: &Path) -> Vec<(String, String, Option<String>)> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(plan).unwrap()).unwrap();
    doc["resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v["type"].as_str().unwrap().to_string(),
                v["partition"].as_str().map(String::from),
            )
        })
        .collect()
}

pub fn side_of(partition: &str) -> Side {
    if partition == "china" {
        Side::China
    } else {
        Side::Commercial
    }
}

/// A plan's resources as boto3 finds them in both partitions, against what the plan declares.
#[derive(Debug, Default)]
pub struct Census {
    /// How many resources carry the plan's tags.
    pub owned: usize,
    /// Declared resources found more than once: `id (type) in side ×n`.
    pub duplicates: Vec<String>,
    /// How many extra copies those are (n - 1 each).
    pub extra_copies: usize,
    /// Declared resources not found.
    pub missing: Vec<String>,
    /// Tagged with the plan, but no declared resource of that id, type and partition.
    pub unexpected: Vec<String>,
    /// Named after the run's suffix but without the plan's tags (only when asked for): copies
    /// that neither a re-run nor destroy can see.
    pub strays: Vec<String>,
}

impl Census {
    /// Take it: every resource of the plan exactly once is `duplicates`, `missing`,
    /// `unexpected` and `strays` all empty.
    pub fn take(run: &Run, plan: &Path, named: bool) -> Result<Census, String> {
        let mut c = Census::default();
        let mut seen: Vec<(String, String, Side)> = vec![];
        for side in [Side::Commercial, Side::China] {
            let inv = run.try_inventory(side, plan, named)?;
            for r in &inv.owned {
                seen.push((
                    r["id"].as_str().unwrap_or("?").to_string(),
                    r["type"].as_str().unwrap_or("?").to_string(),
                    side,
                ));
            }
            let plan_name = run.plan_name(plan);
            for r in &inv.named {
                if r["tags"]["xpart:plan"].as_str() != Some(plan_name.as_str()) {
                    c.strays.push(format!(
                        "{} {} in {side:?} ({}, tags {})",
                        r["type"].as_str().unwrap_or("?"),
                        r["name"].as_str().unwrap_or("?"),
                        r["arn"].as_str().unwrap_or("?"),
                        r["tags"]
                    ));
                }
            }
        }
        c.owned = seen.len();
        let declared: Vec<(String, String, Side)> = plan_resources(plan)
            .into_iter()
            .filter_map(|(id, ty, p)| Some((id, ty, side_of(&p?))))
            .collect();
        for (id, ty, side) in &declared {
            let n = seen
                .iter()
                .filter(|(i, t, s)| i == id && t == ty && s == side)
                .count();
            match n {
                0 => c.missing.push(format!("{id} ({ty}) in {side:?}")),
                1 => {}
                n => {
                    c.duplicates.push(format!("{id} ({ty}) in {side:?} ×{n}"));
                    c.extra_copies += n - 1;
                }
            }
        }
        for (id, ty, side) in &seen {
            if !declared.contains(&(id.clone(), ty.clone(), *side)) {
                c.unexpected.push(format!("{id} ({ty}) in {side:?}"));
            }
        }
        Ok(c)
    }
}

/// Exactly one of each AWS resource of the plan exists, in its partition, by boto3's count of
/// tagged resources.
pub fn assert_exactly_once(run: &Run, plan: &Path) {
    let c = Census::take(run, plan, false).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        c.duplicates.is_empty() && c.missing.is_empty() && c.unexpected.is_empty(),
        "not exactly once: {c:#?}"
    );
}

pub fn assert_nothing_left(run: &Run, plan: &Path) {
    for side in [Side::Commercial, Side::China] {
        let left = run.inventory(side, plan);
        assert!(left.is_empty(), "left behind in {side:?}: {left:?}");
    }
}

/// A run on the shared test-bed with the shipped plan `name` applied: where most tests start.
pub fn applied(name: &str) -> (Run<'static>, PathBuf) {
    let run = Run::new(super::testbed());
    let plan = plan_file(name);
    run.ok(&["apply", "--yes"], &plan);
    (run, plan)
}

/// A run with its own copy of the shipped plan `name`, applied: the run, the plan and its text.
pub fn applied_own(name: &str) -> (Run<'static>, PathBuf, String) {
    let run = Run::new(super::testbed());
    let (plan, src) = run.own_plan(name);
    run.ok(&["apply", "--yes"], &plan);
    (run, plan, src)
}
