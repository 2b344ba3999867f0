//! The shipped rule files and fixture payloads, read from the repository.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository's root folder.
pub fn root() -> PathBuf {
    let benches = Path::new(env!("CARGO_MANIFEST_DIR"));
    benches
        .parent()
        .map_or_else(|| benches.join(".."), Path::to_path_buf)
}

/// A path below the repository's root.
pub fn repo_path(rel: &str) -> PathBuf {
    root().join(rel)
}

/// The non-empty lines of an NDJSON file, each as raw bytes.
pub fn ndjson(rel: &str) -> io::Result<Vec<Vec<u8>>> {
    let text = std::fs::read(repo_path(rel))?;
    Ok(text
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// The 400 canonical payloads of `fixtures/cxone_handoff/payloads.ndjson`.
pub fn canonical_payloads() -> io::Result<Vec<Vec<u8>>> {
    ndjson("fixtures/cxone_handoff/payloads.ndjson")
}

/// The first canonical payload, parsed.
pub fn canonical_value() -> io::Result<Value> {
    let first = canonical_payloads()?
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no canonical payload"))?;
    serde_json::from_slice(&first).map_err(io::Error::other)
}

/// The `*.toml` files below `rules/`, in path order (as `compile_paths` loads a folder).
pub fn rule_files() -> io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let p = entry?.path();
            if p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
            {
                continue;
            }
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(&repo_path("rules"), &mut out)?;
    out.sort();
    Ok(out)
}
