//! Comments and docs that name a file of the repository name a real one:
//! every `src/...`, `tests/...`, `bench/...`, `static/...`, `examples/...`,
//! `docs/...` or `container/...` path written in the sources, manifests,
//! scripts and Markdown exists (from the repository root, or from a
//! folder above the file that names it, as a workspace crate's own root). Files move; this keeps the pointers
//! to them from going stale silently.

use std::path::{Path, PathBuf};

const ROOTS: [&str; 7] = [
    "src/",
    "tests/",
    "bench/",
    "static/",
    "examples/",
    "docs/",
    "container/",
];

/// Paths that are made, not kept: named on purpose though absent here.
const MADE: [&str; 1] = ["bench/.venv"];

/// The text files to read: sources, manifests, scripts, Markdown and the
/// container files, outside build output and installed packages.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git" | ".venv") {
                files(&path, out);
            }
        } else if [".rs", ".toml", ".md", ".sh", ".py", ".yaml"]
            .iter()
            .any(|e| name.ends_with(e))
            || name == "Dockerfile"
        {
            out.push(path);
        }
    }
}

/// The repository paths written in `text`.
fn named(text: &str) -> Vec<String> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let mut out = Vec::new();
    for (at, _) in text.char_indices() {
        let before = text[..at].chars().next_back();
        if before.is_some_and(path_char) {
            continue;
        }
        let rest = &text[at..];
        if !ROOTS.iter().any(|r| rest.starts_with(r)) {
            continue;
        }
        let path: String = rest.chars().take_while(|c| path_char(*c)).collect();
        let path = path.trim_end_matches(['.', '-']).to_string();
        out.push(path);
    }
    out
}

/// Every file path named anywhere in the repository exists.
#[test]
fn named_files_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(root, &mut all);
    assert!(all.len() > 50, "only {} files found", all.len());
    let mut missing = Vec::new();
    let mut seen = 0;
    for file in &all {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let here = file.parent().unwrap();
        for path in named(&text) {
            seen += 1;
            // From the root, or from any folder above the naming file
            // (a crate of the workspace names paths from its own root).
            let exists = here
                .ancestors()
                .take_while(|a| a.starts_with(root))
                .any(|a| a.join(&path).exists())
                || MADE.iter().any(|m| path.starts_with(m));
            if !exists {
                missing.push(format!(
                    "{}: {path}",
                    file.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(seen > 100, "only {seen} paths found");
    assert!(
        missing.is_empty(),
        "named but absent:\n{}",
        missing.join("\n")
    );
}
