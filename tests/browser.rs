//! The built-in frontend in a real browser: runs `tests/browser/run.mjs`
//! (playwright-core driving the system Chromium) against this crate's
//! `d-back` binary. Needs `node`/`npm`, `/usr/bin/chromium` and `/usr/sbin/nginx`; a missing
//! browser is a failure, not a skip, so CI cannot pass without running it.

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The d-zone page joins servers, shows bubbles, survives a restart, keeps
/// its Discord login from other sockets, backs off from servers that close
/// at once, stays smooth with 1,000 characters, works behind nginx under
/// `/dzone/` and on a phone (touch), and says what to do when opened as a
/// file or pointed at a wrong socket (see tests/browser/run.mjs).
#[test]
fn frontend_in_headless_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the browser tests need Debian's chromium package (apt-get install chromium)"
    );

    // A node_modules from before a dependency was added lacks it: install again.
    let installed = ["playwright-core", "ws"]
        .iter()
        .all(|m| dir.join("node_modules").join(m).exists());
    if !installed {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("cannot run npm: install Node.js to run the browser tests");
        assert!(
            out.status.success(),
            "npm ci failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let out = Command::new("node")
        .arg("run.mjs")
        .current_dir(&dir)
        .env("D_BACK_BIN", env!("CARGO_BIN_EXE_d-back"))
        .output()
        .expect("cannot run node: install Node.js to run the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The fps figure and the summary are worth seeing even on success.
    for line in stdout.lines().filter(|l| l.starts_with("# ")) {
        println!("{line}");
    }
    assert!(
        out.status.success(),
        "browser tests failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
