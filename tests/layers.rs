//! The map of layers in CONTRIBUTING.md, kept true: every `crate::`, `$crate::` and `super::`
//! path in `src/` is read and held against the map's tables, so an upward or sideways import
//! fails here with its file and line instead of drifting in prose.
//!
//! A table follows a `<!-- layers: SCOPE -->` line (`crate`, `engine`, `engine::types`): each
//! row is a layer number and the scope's modules in it. A module of the scope may use a module
//! of a lower layer only; every module of the scope must be in the table. Test code (`tests.rs`
//! files and what follows `#[cfg(test)]`) is left out: a test may reach across layers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One scope's table: module → layer.
type Table = BTreeMap<String, u32>;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tables of `doc`, by scope.
fn tables(doc: &str) -> BTreeMap<String, Table> {
    let mut out = BTreeMap::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(scope) = line
            .trim()
            .strip_prefix("<!-- layers:")
            .and_then(|s| s.strip_suffix("-->"))
        else {
            continue;
        };
        let mut table = Table::new();
        for row in lines
            .by_ref()
            .take_while(|l| l.trim_start().starts_with('|'))
        {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let Some(Ok(layer)) = cells.get(1).map(|c| c.parse::<u32>()) else {
                continue; // the header and its rule
            };
            for module in cells[2].split(',') {
                table.insert(module.trim().trim_matches('`').to_string(), layer);
            }
        }
        out.insert(scope.trim().to_string(), table);
    }
    out
}

/// The module path of a source file: `src/engine/run/read.rs` → `engine::run::read`.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(repo().join("src")).unwrap();
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules directly inside `scope` (files and folders of its directory).
fn children(scope: &[String]) -> Vec<String> {
    let mut dir = repo().join("src");
    dir.extend(scope);
    let mut out = vec![];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        // A folder is a module when it has a `mod.rs` (`snapshots/` is not one).
        let module = path.join("mod.rs").is_file() || path.extension().is_some_and(|e| e == "rs");
        if module && !["mod", "lib", "main", "tests"].contains(&name.as_str()) {
            out.push(name);
        }
    }
    out
}

/// Every path the code names, resolved from `module`: `(line number, path)`. A group
/// (`crate::engine::{run, walk::Cancel}`) names each of its items.
fn paths(module: &[String], text: &str) -> Vec<(usize, Vec<String>)> {
    // Comments out, line breaks kept (for line numbers); test code out.
    let code: String = text
        .lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut out = vec![];
    for (at, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let before = &code[..at];
        // The middle of a longer path (`super::super::x`) is not a start.
        if before.ends_with("::") || before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let mut base: Vec<String> = vec![];
        let mut rest = &code[at..];
        if rest.starts_with("super::") {
            base = module.to_vec();
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
        } else {
            rest = &rest["crate::".len()..];
        }
        let (words, tail) = words(rest);
        base.extend(words);
        match tail.strip_prefix('{') {
            Some(group) => {
                for item in items(group).into_iter().filter(|i| !i.trim().is_empty()) {
                    let mut path = base.clone();
                    path.extend(words_of(item));
                    let item_at = item.as_ptr() as usize - code.as_ptr() as usize;
                    let skipped = item.len() - item.trim_start().len();
                    out.push((line_of(item_at + skipped), path));
                }
            }
            None => out.push((line_of(at), base)),
        }
    }
    out
}

/// The leading `a::b::` words of `s`, and what follows them.
fn words(s: &str) -> (Vec<String>, &str) {
    let mut out = vec![];
    let mut rest = s;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            return (out, rest);
        }
        out.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => return (out, &rest[end..]),
        }
    }
}

fn words_of(s: &str) -> Vec<String> {
    words(s.trim()).0
}

/// The items of a `{…}` group, from just after its `{` to its `}`, at the group's own depth.
fn items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, vec![]);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// What the map forbids in `src/`: one line each, with the file and line.
fn violations(tables: &BTreeMap<String, Table>) -> Vec<String> {
    let mut out = vec![];
    for (scope, table) in tables {
        let scope_path: Vec<String> = match scope.as_str() {
            "crate" => vec![],
            s => s.split("::").map(String::from).collect(),
        };
        for child in children(&scope_path) {
            if !table.contains_key(&child) {
                out.push(format!(
                    "module `{child}` of `{scope}` is in no layer of the map (CONTRIBUTING.md)"
                ));
            }
        }
    }
    let mut files = vec![];
    sources(&repo().join("src"), &mut files);
    files.sort();
    for file in files {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let module = module_of(&file);
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, target) in paths(&module, &text) {
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            // A module using its own parent, or a part of itself, crosses no layer.
            if common >= module.len() || common >= target.len() {
                continue;
            }
            let scope = match common {
                0 => "crate".to_string(),
                _ => module[..common].join("::"),
            };
            let Some(table) = tables.get(&scope) else {
                continue;
            };
            let (from, to) = (&module[common], &target[common]);
            let (Some(a), Some(b)) = (table.get(from), table.get(to)) else {
                continue; // not a module of the scope (a function, a type)
            };
            if a <= b {
                let rel = file.strip_prefix(repo()).unwrap().display();
                let how = if a == b { "sideways" } else { "upward" };
                out.push(format!(
                    "{rel}:{line}: `{from}` (layer {a} of `{scope}`) uses `{to}` (layer {b}): \
                     {how}, against the map in CONTRIBUTING.md"
                ));
            }
        }
    }
    out
}

#[test]
fn every_import_in_src_goes_down_the_map_of_layers() {
    let doc = std::fs::read_to_string(repo().join("CONTRIBUTING.md")).unwrap();
    let tables = tables(&doc);
    for scope in ["crate", "engine", "engine::types"] {
        assert!(
            tables.get(scope).is_some_and(|t| !t.is_empty()),
            "CONTRIBUTING.md has no `<!-- layers: {scope} -->` table"
        );
    }
    let found = violations(&tables);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The reader itself: a made-up upward import is found with its line, a sideways one too, and
/// a module's use of its own parent is not an import across layers.
#[test]
fn the_layer_reader_finds_upward_and_sideways_paths() {
    let tables = tables(
        "<!-- layers: crate -->\n| layer | modules |\n|---|---|\n| 1 | `diag`, `input` |\n| 2 | `plan` |\n",
    );
    let module = vec!["diag".to_string()];
    let found = paths(
        &module,
        "use crate::plan::Plan;\n// crate::plan in a comment\nfn f() { crate::input::read(); }\n",
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0], (1, vec!["plan".into(), "Plan".into()]));
    assert_eq!(tables["crate"]["plan"], 2);
    assert_eq!(tables["crate"]["input"], 1);
    let grouped = paths(
        &module,
        "use crate::{\n    input::read,\n    plan::{self, Plan},\n};",
    );
    assert_eq!(grouped.len(), 2, "{grouped:?}");
    assert_eq!(grouped[1], (3, vec!["plan".to_string()]));
    let nested = vec!["engine".to_string(), "run".to_string(), "read".to_string()];
    assert_eq!(
        paths(&nested, "use super::super::walk::Cancel;")[0].1,
        vec!["engine".to_string(), "walk".into(), "Cancel".into()]
    );
}
