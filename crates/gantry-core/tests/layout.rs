//! The crates' layout: no import cycle among the top-level modules of `gantry-core` and
//! `gantry-store`.
//!
//! A module here is a top-level file or folder under `src/` (`export/` with its
//! submodules is one). A module uses another when its code (comments and `#[cfg(test)]`
//! modules aside) names `crate::other::…` or an item the crate root re-exports from
//! `other`, or calls a method of `Session` that `other` defines (`self.name(` inside an
//! `impl Session` block, `session.name(` anywhere): the checkpoints each add their method
//! to the one `Session` type, and a call is as much a dependency as an import. The
//! checkpoints may use the shared leaves and earlier checkpoints; a leaf never uses a
//! checkpoint, and nothing uses a module that uses it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module graph of the crate whose sources are in `src`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("src folder") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        if path.is_dir() {
            files.insert(name, rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "main" {
            files.insert(name, vec![path]);
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let root = code(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let reexported = reexports(&root, &modules);
    let sources: BTreeMap<&String, Vec<String>> = files
        .iter()
        .map(|(module, paths)| {
            let texts = paths
                .iter()
                .map(|p| code(&std::fs::read_to_string(p).expect("source")))
                .collect();
            (module, texts)
        })
        .collect();
    let mut methods: BTreeMap<String, String> = BTreeMap::new();
    for (module, texts) in &sources {
        for text in texts {
            for block in session_impls(text) {
                for name in method_names(&block) {
                    methods.insert(name, (*module).clone());
                }
            }
        }
    }
    let mut graph = BTreeMap::new();
    for (module, texts) in &sources {
        let module = *module;
        let mut uses = BTreeSet::new();
        for text in texts {
            let mut called = Vec::new();
            for block in session_impls(text) {
                called.extend(calls(&block, "self."));
            }
            called.extend(calls(text, "session."));
            for name in called {
                if let Some(target) = methods.get(&name).filter(|t| *t != module) {
                    uses.insert(target.clone());
                }
            }
            for name in crate_paths(text) {
                let target = if modules.contains(&name) {
                    Some(name)
                } else {
                    reexported.get(&name).cloned()
                };
                if let Some(target) = target.filter(|t| t != module) {
                    uses.insert(target);
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// The `impl Session` blocks of a source (top-level, closed by a `}` in column 0).
fn session_impls(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None => {
                if line.starts_with("impl Session {") || line.starts_with("impl crate::Session {") {
                    current = Some(String::new());
                }
            }
            Some(block) => {
                if line.starts_with('}') {
                    out.extend(current.take());
                } else {
                    block.push_str(line);
                    block.push('\n');
                }
            }
        }
    }
    out
}

/// The methods an `impl` block defines (at its first level of indentation).
fn method_names(block: &str) -> Vec<String> {
    block
        .lines()
        .filter(|line| !line.starts_with("        "))
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            line.strip_prefix("fn ").map(|rest| ident(rest).to_string())
        })
        .collect()
}

/// The names of the methods called as `receiver.name(` in `text`.
fn calls(text: &str, receiver: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(receiver) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + receiver.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let name = ident(rest);
        if rest[name.len()..].starts_with('(') || rest[name.len()..].starts_with("::<") {
            out.push(name.to_string());
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("module folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The source without comments and without its `#[cfg(test)] mod …` blocks.
fn code(source: &str) -> String {
    let mut out = String::new();
    let mut lines = source.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            // Skip the test module: up to its closing brace at the same indentation.
            let indent = line.len() - trimmed.len();
            for inner in lines.by_ref() {
                let inner_trimmed = inner.trim_start();
                if inner.len() - inner_trimmed.len() == indent && inner_trimmed.starts_with('}') {
                    break;
                }
            }
            continue;
        }
        let without_comment = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        out.push_str(without_comment);
        out.push('\n');
    }
    out
}

/// Every name that follows `crate::`, including each first segment of a `crate::{…}` group.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            out.extend(first_segments(&group[..end]));
        } else {
            out.push(ident(rest).to_string());
        }
    }
    out
}

fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The index of the `}` closing a group whose `{` was just consumed.
fn matching_brace(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The first segment of each comma-separated path at the top level of a `{…}` group.
fn first_segments(group: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => start = true,
            c if start && depth == 0 && (c.is_alphanumeric() || c == '_') => {
                out.push(ident(&group[i..]).to_string());
                start = false;
            }
            _ => {}
        }
    }
    out
}

/// Names the crate root re-exports (`pub use module::{A, B};`), with their module.
fn reexports(root: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for statement in root.split(';') {
        let Some(at) = statement.find("pub use ") else {
            continue;
        };
        let path = &statement[at + "pub use ".len()..];
        let module = ident(path.trim_start()).to_string();
        if !modules.contains(&module) {
            continue;
        }
        let names = path
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty() && *w != "as" && *w != "self");
        for name in names {
            if !modules.contains(name) {
                out.insert(name.to_string(), module.clone());
            }
        }
    }
    out
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::Open);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut found = stack[from..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                Mark::New => {
                    if let Some(found) = visit(next, graph, marks, stack) {
                        return Some(found);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New
            && let Some(found) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(found);
        }
    }
    None
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

fn assert_acyclic(name: &str) -> BTreeMap<String, BTreeSet<String>> {
    let graph = graph(&crate_src(name));
    assert!(graph.len() > 5, "{name}: too few modules found: {graph:?}");
    if let Some(found) = cycle(&graph) {
        panic!("{name} has an import cycle: {}", found.join(" -> "));
    }
    graph
}

#[test]
fn the_core_has_no_import_cycle() {
    let graph = assert_acyclic("gantry-core");
    // The shared leaves never use a checkpoint.
    let checkpoints = [
        "ingest",
        "examine",
        "config",
        "audit",
        "seal",
        "anonymize",
        "redact",
        "verify",
        "export",
    ];
    for leaf in [
        "vr",
        "settings",
        "detect",
        "identity",
        "rules",
        "engine",
        "pixels",
        "header",
        "charset",
        "dates",
        "pseudonym",
        "report",
    ] {
        let uses = graph
            .get(leaf)
            .unwrap_or_else(|| panic!("no module {leaf}"));
        for checkpoint in checkpoints {
            assert!(
                !uses.contains(checkpoint),
                "the leaf {leaf} uses the checkpoint {checkpoint}"
            );
        }
    }
}

#[test]
fn the_store_has_no_import_cycle() {
    assert_acyclic("gantry-store");
}

#[test]
fn the_checker_finds_a_cycle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "pub use b::Thing;\nmod a;\nmod b;\nmod c;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a.rs"),
        "use crate::{c::X, other};\n// crate::b in a comment\n",
    )
    .unwrap();
    std::fs::write(src.join("b.rs"), "pub struct Thing;\n").unwrap();
    std::fs::write(
        src.join("c.rs"),
        "pub struct X;\nfn f(_: crate::Thing) {}\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
    )
    .unwrap();
    let acyclic = graph(src);
    assert_eq!(acyclic["a"], BTreeSet::from(["c".to_string()]));
    assert_eq!(acyclic["c"], BTreeSet::from(["b".to_string()]));
    assert_eq!(cycle(&acyclic), None);
    std::fs::write(src.join("b.rs"), "pub struct Thing(crate::a::Y);\n").unwrap();
    let cyclic = graph(src);
    assert_eq!(
        cycle(&cyclic),
        Some(vec!["a".into(), "c".into(), "b".into(), "a".into()])
    );
    // A method call on the session is a use of the module that defines the method.
    std::fs::write(
        src.join("b.rs"),
        "pub struct Thing;\nimpl Session {\n    pub fn thing(&self) {}\n}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("d.rs"),
        "impl crate::Session {\n    fn other(&self) {\n        self.thing();\n        self.store.thing();\n    }\n}\n",
    )
    .unwrap();
    let called = graph(src);
    assert_eq!(called["d"], BTreeSet::from(["b".to_string()]));
    std::fs::write(src.join("b.rs"), "pub struct Thing;\nfn f(session: &mut Session) { session.other(); }\nimpl Session {\n    pub fn thing(&self) {}\n}\n")
        .unwrap();
    assert_eq!(
        cycle(&graph(src)),
        Some(vec!["b".into(), "d".into(), "b".into()])
    );
}
