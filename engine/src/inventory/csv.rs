//! Inventory from spreadsheets: one CSV file per object type, with the document's field names as
//! headers (`snmp.host` for nested fields) and list items in their own files that name their
//! parent (`outlets.csv` has a `pdu` column). Empty cells are absent fields.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::reader::push;
use super::source::{Source, SourceError};

/// A CSV file of list items belonging to a parent object.
struct Child {
    file: &'static str,
    parent_column: &'static str,
    parent_section: &'static str,
    field: &'static str,
}

/// One CSV record: its line number and its non-empty fields.
type Row = (usize, Map<String, Value>);

/// Top-level files, in document order.
const TOP: &[&str] = &[
    "sites",
    "racks",
    "pdus",
    "switches",
    "assets",
    "customers",
    "rate_plans",
    "services",
    "tickets",
    "grid_intensity",
    "site_pue",
];

const CHILDREN: &[Child] = &[
    Child { file: "rack_locations", parent_column: "rack", parent_section: "racks", field: "locations" },
    Child { file: "outlets", parent_column: "pdu", parent_section: "pdus", field: "outlets" },
    Child { file: "ports", parent_column: "switch", parent_section: "switches", field: "ports" },
    Child { file: "charges", parent_column: "plan", parent_section: "rate_plans", field: "charges" },
    Child { file: "resources", parent_column: "service", parent_section: "services", field: "resources" },
];

/// Loads every `*.csv` file of a directory.
pub fn load_dir(dir: &Path) -> Result<Source, SourceError> {
    let io = |source| SourceError::Io { path: dir.to_owned(), source };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            files.push(path);
        }
    }
    files.sort();
    load_files(&files)
}

/// Loads the given CSV files as one document.
pub fn load_files(files: &[PathBuf]) -> Result<Source, SourceError> {
    let mut src = Source::default();
    let mut tables: HashMap<String, (String, Vec<Row>)> = HashMap::new();
    for path in files {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        if !TOP.contains(&stem.as_str()) && !CHILDREN.iter().any(|c| c.file == stem) {
            let known: Vec<String> =
                TOP.iter().chain(CHILDREN.iter().map(|c| &c.file)).map(|s| format!("{s}.csv")).collect();
            push(&mut src.problems, name, format!("unknown CSV file (expected one of: {})", known.join(", ")));
            continue;
        }
        tables.insert(stem, (name, read_rows(path)?));
    }
    let mut doc = Map::new();
    let mut index: HashMap<(&str, String), usize> = HashMap::new();
    for section in TOP {
        let Some((name, rows)) = tables.get(*section) else {
            continue;
        };
        let mut items = Vec::new();
        for (line, row) in rows {
            if let Some(Value::String(id)) = row.get("id") {
                index.insert((section, id.clone()), items.len());
            }
            src.origins.push((format!("{section}[{}]", items.len()), format!("{name}:{line}")));
            items.push(Value::Object(row.clone()));
        }
        doc.insert((*section).to_owned(), Value::Array(items));
    }
    for child in CHILDREN {
        let Some((name, rows)) = tables.get(child.file) else {
            continue;
        };
        for (line, row) in rows {
            let mut row = row.clone();
            let parent = row.remove(child.parent_column);
            let parent_id = match &parent {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    push(&mut src.problems, format!("{name}:{line}.{}", child.parent_column), "is required");
                    continue;
                }
            };
            let Some(&pos) = index.get(&(child.parent_section, parent_id.clone())) else {
                push(
                    &mut src.problems,
                    format!("{name}:{line}.{}", child.parent_column),
                    format!("unknown {} '{parent_id}' (not in {}.csv)", child.parent_column, child.parent_section),
                );
                continue;
            };
            let Some(Value::Object(obj)) = doc.get_mut(child.parent_section).and_then(|v| v.get_mut(pos)) else {
                continue;
            };
            let list = obj.entry(child.field).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = list {
                src.origins.push((
                    format!("{}[{pos}].{}[{}]", child.parent_section, child.field, items.len()),
                    format!("{name}:{line}"),
                ));
                items.push(Value::Object(row));
            }
        }
    }
    src.tree = Value::Object(doc);
    Ok(src)
}

/// Reads the rows of one file: `(line number, fields)`; empty cells are left out, and a header
/// `a.b` becomes the field `b` of the nested object `a`.
fn read_rows(path: &Path) -> Result<Vec<Row>, SourceError> {
    let csv_err = |e: csv::Error| SourceError::Csv { path: path.to_owned(), message: e.to_string() };
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(csv_err)?;
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let mut rows = Vec::new();
    for record in rdr.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let mut row = Map::new();
        for (h, cell) in headers.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let value = Value::String(cell.to_owned());
            match h.split_once('.') {
                Some((outer, inner)) => {
                    if let Value::Object(m) = row.entry(outer).or_insert_with(|| Value::Object(Map::new())) {
                        m.insert(inner.to_owned(), value);
                    }
                }
                None => {
                    row.insert(h.to_owned(), value);
                }
            }
        }
        if !row.is_empty() {
            rows.push((line, row));
        }
    }
    Ok(rows)
}
