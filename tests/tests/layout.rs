//! The habits #29 asks for, enforced on the sources rather than remembered: no source file over
//! 800 lines, no function over 100 lines outside tests, and the engine's modules in layers where
//! each imports only from the layers below it (`crate::x` paths are read from the text, so a
//! `use` and a fully qualified path count alike).
//!
//! Reading the sources as text is deliberate: they are rustfmt-formatted (CI checks it), so an
//! item's closing brace sits alone at the item's indentation, which is all the scan needs. A
//! function's length is its lines from the `fn` to that brace, blank and comment lines included
//! (stricter than clippy's `too_many_lines`, which skips them). Test code is exempt from the
//! length rule: files named `tests.rs` or `*_tests.rs`, `tests/` directories, the `tests` crate,
//! `#[cfg(test)]` modules and `#[test]` functions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The engine's top-level modules, lowest layer first. A module may use modules of lower rank
/// only; modules of one rank never use each other.
const ENGINE_LAYERS: &[&[&str]] = &[
    &["time", "openapi"],
    &["id", "clock", "period"],
    &["access", "domain"],
    &["store"],
    &["inventory"],
    &["ingest", "metering"],
    &["rating"],
    &["invoicing"],
    &["catalog"],
    &["billing", "capacity", "cluster", "reconcile"],
];

/// Macros exported at the crate root (`crate::typed_id!`), with the module that defines them.
const ROOT_MACROS: &[(&str, &str)] = &[("typed_id", "id")];

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 100;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn workspace_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for member in ["engine", "collectors", "api", "benches", "tests"] {
        rust_files(&root().join(member), &mut files);
    }
    files.sort();
    files
}

fn is_test_file(path: &Path) -> bool {
    let rel = path.strip_prefix(root()).unwrap_or(path);
    let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    rel.starts_with("tests")
        || rel.components().any(|c| c.as_os_str() == "tests")
        || name == "tests.rs"
        || name.ends_with("_tests.rs")
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The line where the item opened at `start` (indentation `ind`) closes.
fn closing(lines: &[&str], start: usize, ind: usize) -> Option<usize> {
    let close = format!("{}}}", " ".repeat(ind));
    let mut i = start;
    loop {
        let t = lines.get(i)?.trim_end();
        if i == start && (t.ends_with('}') || t.ends_with("};")) && t.contains('{') {
            return Some(i);
        }
        if t.ends_with(';') && !lines[start..=i].iter().any(|l| l.contains('{')) {
            return None; // a declaration without a body
        }
        if t.ends_with('{') {
            break;
        }
        i += 1;
    }
    (i + 1..lines.len())
        .find(|&j| lines[j].trim_end() == close || lines[j].trim_end().starts_with(&format!("{close})")))
}

fn is_fn_start(line: &str) -> bool {
    let mut t = line.trim_start();
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe ", "extern \"C\" "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest;
        }
    }
    t.starts_with("fn ")
}

/// Functions longer than the limit, outside test code: `(line, name, lines)`.
fn long_functions(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut skip_to = 0;
    for (i, line) in lines.iter().enumerate() {
        if i < skip_to {
            continue;
        }
        let attr_above = |attr: &str| {
            lines[..i].iter().rev().take_while(|l| l.trim_start().starts_with("#[")).any(|l| l.contains(attr))
        };
        let t = line.trim_start();
        if t.starts_with("mod ") && t.ends_with('{') && attr_above("cfg(test)") {
            skip_to = closing(&lines, i, indent(line)).map_or(i + 1, |c| c + 1);
            continue;
        }
        if !is_fn_start(line) {
            continue;
        }
        let Some(end) = closing(&lines, i, indent(line)) else { continue };
        if attr_above("test]") {
            skip_to = end + 1;
            continue;
        }
        let len = end - i + 1;
        if len > MAX_FN_LINES {
            let name = t.split("fn ").nth(1).unwrap_or("").split(['(', '<']).next().unwrap_or("").to_string();
            found.push((i + 1, name, len));
        }
    }
    found
}

#[test]
fn no_source_file_is_over_800_lines() {
    let over: Vec<String> = workspace_files()
        .into_iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(&p).ok()?.lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{}: {n} lines", p.display()))
        })
        .collect();
    assert!(over.is_empty(), "files over {MAX_FILE_LINES} lines:\n{}", over.join("\n"));
}

#[test]
fn no_function_outside_tests_is_over_100_lines() {
    let mut over = Vec::new();
    for path in workspace_files().into_iter().filter(|p| !is_test_file(p)) {
        let text = std::fs::read_to_string(&path).unwrap();
        for (line, name, len) in long_functions(&text) {
            over.push(format!("{}:{line}: fn {name}: {len} lines", path.display()));
        }
    }
    assert!(over.is_empty(), "functions over {MAX_FN_LINES} lines:\n{}", over.join("\n"));
}

#[test]
fn the_length_scan_finds_what_it_should() {
    let body = "    x += 1;\n".repeat(MAX_FN_LINES);
    let long =
        format!("pub fn long(x: u8) {{\n{body}}}\n#[cfg(test)]\nmod tests {{\n    fn long() {{\n{body}    }}\n}}\n");
    assert_eq!(long_functions(&long), vec![(1, "long".to_string(), MAX_FN_LINES + 2)]);
    let short = format!("fn short() {{\n{}}}\ntrait T {{\n    fn declared(&self);\n}}\n", "    a();\n".repeat(98));
    assert_eq!(long_functions(&short), vec![]);
}

/// Each engine module's imports of other engine modules, outside test code.
fn engine_imports() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = root().join("engine/src");
    let mut imports: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for path in files.into_iter().filter(|p| !is_test_file(p)) {
        let rel = path.strip_prefix(&src).unwrap();
        let module = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]\nmod ").next().unwrap_or(&text);
        for (n, line) in code.lines().enumerate() {
            for part in line.split("crate::").skip(1) {
                let target: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let target =
                    ROOT_MACROS.iter().find(|(m, _)| *m == target).map_or(target, |(_, owner)| (*owner).to_owned());
                if !target.is_empty() && target != module {
                    imports
                        .entry(module.clone())
                        .or_default()
                        .entry(target)
                        .or_insert_with(|| format!("{}:{}", rel.display(), n + 1));
                }
            }
        }
    }
    imports
}

#[test]
fn engine_modules_import_only_from_layers_below() {
    let rank = |m: &str| ENGINE_LAYERS.iter().position(|layer| layer.contains(&m));
    let mut wrong = Vec::new();
    for (module, targets) in engine_imports() {
        let Some(own) = rank(&module) else {
            wrong.push(format!("engine module `{module}` is in no layer of ENGINE_LAYERS"));
            continue;
        };
        for (target, at) in targets {
            match rank(&target) {
                Some(r) if r < own => {}
                Some(_) => wrong.push(format!("{at}: `{module}` uses `{target}`, which is not below it")),
                None => wrong.push(format!("{at}: `{module}` uses `{target}`, which is in no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}
