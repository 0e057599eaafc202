//! Static files: the built-in frontend compiled into the binary, or a
//! directory given with `--static-dir`, behind one path resolver that never
//! leaves its root.

use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};
use percent_encoding::percent_decode_str;

/// The frontend in `static/`, embedded at build time.
static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/static");

/// Paths longer than this are refused before any decoding.
pub(crate) const MAX_PATH_BYTES: usize = 1024;

/// Where files come from.
pub(crate) enum StaticFiles {
    BuiltIn,
    /// A canonical directory path.
    Dir(PathBuf),
}

/// What a path resolved to.
pub(crate) enum Found {
    Embedded(&'static [u8], &'static str),
    File(PathBuf),
}

impl StaticFiles {
    /// Checks a `--static-dir` and makes it canonical, so the containment
    /// check below compares real paths.
    pub(crate) fn dir(path: &Path) -> std::io::Result<StaticFiles> {
        let canon = path.canonicalize()?;
        if !canon.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a directory",
            ));
        }
        Ok(StaticFiles::Dir(canon))
    }

    /// Finds the file for a raw (still percent-encoded) URL path.
    pub(crate) fn find(&self, raw_path: &str) -> Option<Found> {
        let rel = safe_relative_path(raw_path)?;
        match self {
            StaticFiles::BuiltIn => {
                let file = BUILT_IN.get_file(&rel).or_else(|| {
                    BUILT_IN
                        .get_dir(&rel)
                        .and_then(|_| BUILT_IN.get_file(format!("{rel}/index.html")))
                })?;
                let name = file.path().to_str().unwrap_or_default();
                Some(Found::Embedded(file.contents(), name))
            }
            StaticFiles::Dir(root) => {
                let mut path = root.join(&rel).canonicalize().ok()?;
                if path.is_dir() {
                    path = path.join("index.html").canonicalize().ok()?;
                }
                // Symlinks resolved by canonicalize must still land inside.
                (path.starts_with(root) && path.is_file()).then_some(Found::File(path))
            }
        }
    }
}

/// Turns a URL path into a relative path of plain segments, or refuses it:
/// no `..`, no dot-files, no NUL or backslash, no absolute or drive paths,
/// after percent-decoding. `/` and paths ending in `/` mean `index.html`.
pub(crate) fn safe_relative_path(raw_path: &str) -> Option<String> {
    if raw_path.len() > MAX_PATH_BYTES || !raw_path.starts_with('/') {
        return None;
    }
    let decoded = percent_decode_str(raw_path).decode_utf8().ok()?;
    if decoded.contains(['\0', '\\']) {
        return None;
    }
    let mut segments = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => continue,
            s if s.starts_with('.') || s.contains(':') => return None,
            s => segments.push(s),
        }
    }
    if decoded.ends_with('/') || segments.is_empty() {
        segments.push("index.html");
    }
    Some(segments.join("/"))
}

/// Content type by extension, with a charset for text.
pub(crate) fn content_type(name: &str) -> String {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let essence = mime.essence_str();
    if mime.type_() == mime_guess::mime::TEXT
        || essence == "application/javascript"
        || essence == "application/json"
    {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_plain_paths() {
        assert_eq!(safe_relative_path("/").as_deref(), Some("index.html"));
        assert_eq!(
            safe_relative_path("/js/app.js").as_deref(),
            Some("js/app.js")
        );
        assert_eq!(safe_relative_path("/a/").as_deref(), Some("a/index.html"));
        assert_eq!(safe_relative_path("/a%20b.txt").as_deref(), Some("a b.txt"));
    }

    #[test]
    fn refuses_escapes() {
        for p in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/%2E%2E%2Fx",
            "/..%5c..%5cx",
            "/a%00b",
            "/.git/config",
            "//etc/passwd/..",
            "/c:/windows",
            "relative",
            "/%ff%fe",
        ] {
            assert_eq!(safe_relative_path(p), None, "{p}");
        }
    }

    // Property tests: arbitrary paths at the resolver.
    use proptest::prelude::*;
    use std::path::Path;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever the path, the resolver yields plain segments or nothing.
        #[test]
        fn resolver_yields_only_plain_segments(path in "/[a-zA-Z0-9./\\\\%:_~\\-\u{0}]{0,60}") {
            if let Some(rel) = safe_relative_path(&path) {
                prop_assert!(!rel.starts_with('/'));
                prop_assert!(!rel.contains('\0') && !rel.contains('\\'));
                for seg in rel.split('/') {
                    prop_assert!(!seg.is_empty() && !seg.starts_with('.'), "{} -> {}", path, rel);
                }
            }
        }

        /// Percent-encoded garbage never resolves outside the root.
        #[test]
        fn resolver_never_leaves_the_root(segs in prop::collection::vec(prop_oneof![
            Just("..".to_string()), Just("%2e%2e".to_string()), Just("%2E.".to_string()),
            Just("%2f".to_string()), Just("%5c".to_string()), Just(".".to_string()),
            Just("index.html".to_string()), Just("sub".to_string()), "[a-z%0-9]{1,6}",
        ], 0..8)) {
            let root = static_root();
            let files = StaticFiles::dir(root).unwrap();
            let path = format!("/{}", segs.join("/"));
            if let Some(Found::File(p)) = files.find(&path) {
                prop_assert!(p.starts_with(root.canonicalize().unwrap()), "{} -> {}", path, p.display());
            }
        }
    }

    fn static_root() -> &'static Path {
        static ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
        ROOT.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("d-back-prop-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("root/sub")).unwrap();
            std::fs::write(dir.join("root/index.html"), "in").unwrap();
            std::fs::write(dir.join("root/sub/index.html"), "in").unwrap();
            std::fs::write(dir.join("outside.html"), "out").unwrap();
            dir.join("root")
        })
    }
}
