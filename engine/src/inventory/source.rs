//! Where a document comes from: a YAML or JSON file, one CSV file, or a directory of CSV files
//! (one per object type). Every source becomes the same tree, read by one reader.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::reader::Problems;

/// Why a source cannot be read at all (as opposed to problems inside a readable document).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file or directory cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Malformed YAML.
    #[error("{path}: malformed YAML: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Malformed JSON.
    #[error("{path}: malformed JSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Malformed CSV.
    #[error("{path}: malformed CSV: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the record.
        message: String,
    },
    /// Not a `.yaml`, `.yml`, `.json`, `.csv` file or a directory.
    #[error("{0}: expected a .yaml, .yml, .json or .csv file, or a directory of CSV files")]
    UnknownFormat(PathBuf),
}

/// A document tree, with a map from tree paths to where they came from in the source.
#[derive(Debug, Default)]
pub struct Source {
    /// The document.
    pub tree: Value,
    /// Tree-path prefixes and what to show instead (`pdus[2].outlets[0]` → `outlets.csv:7`).
    pub origins: Vec<(String, String)>,
    /// Problems found while assembling the tree (CSV rows whose parent is missing).
    pub problems: Problems,
}

impl Source {
    /// Rewrites tree paths to source locations, longest matching prefix first.
    pub fn locate(&self, path: &str) -> String {
        let best = self
            .origins
            .iter()
            .filter(|(prefix, _)| {
                path.strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
            })
            .max_by_key(|(prefix, _)| prefix.len());
        match best {
            Some((prefix, origin)) => format!("{origin}{}", &path[prefix.len()..]),
            None => path.to_owned(),
        }
    }

    /// Rewrites the paths of `problems` in place.
    pub fn locate_all(&self, problems: &mut Problems) {
        for p in problems {
            p.path = self.locate(&p.path);
        }
    }
}

/// Loads a source by its extension (or as a CSV directory).
pub fn load(path: &Path) -> Result<Source, SourceError> {
    let io = |source| SourceError::Io { path: path.to_owned(), source };
    if path.is_dir() {
        return super::csv::load_dir(path);
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("yaml" | "yml") => {
            let text = std::fs::read_to_string(path).map_err(io)?;
            Ok(Source {
                tree: parse_yaml(&text).map_err(|message| SourceError::Yaml { path: path.to_owned(), message })?,
                ..Source::default()
            })
        }
        Some("json") => {
            let text = std::fs::read_to_string(path).map_err(io)?;
            let tree = serde_json::from_str(&text)
                .map_err(|e| SourceError::Json { path: path.to_owned(), message: e.to_string() })?;
            Ok(Source { tree, ..Source::default() })
        }
        Some("csv") => super::csv::load_files(&[path.to_owned()]),
        _ => Err(SourceError::UnknownFormat(path.to_owned())),
    }
}

/// Parses YAML text into a tree; an empty document is an empty inventory.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_yaml_ng::from_str::<Value>(text).map_err(|e| e.to_string())
}
