//! The container files without a container engine: the Dockerfile's build
//! steps are the README's, its HEALTHCHECK command probes a real d-back,
//! every `D_BACK_*` variable it and compose.yaml set is one d-back reads,
//! the runtime runs as a non-root user, and `DISCORD_TOKEN_FILE` (how the
//! compose file passes the token) works against the fake Discord.

mod common;
#[path = "common/fake_discord.rs"]
mod fake_discord;

use std::process::{Command, Stdio};

use fake_discord::{FakeDiscord, FakeGuild, BOT_TOKEN};

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions() -> Vec<String> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part.trim_end()),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
        current.push_str(if current.is_empty() { "" } else { " " });
    }
    out
}

/// The instructions of each stage (split at FROM).
fn stages() -> Vec<Vec<String>> {
    let mut stages: Vec<Vec<String>> = Vec::new();
    for i in instructions() {
        if i.starts_with("FROM ") {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("starts with FROM").push(i);
    }
    stages
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_d-back"));
    c.env_clear().env("RUST_LOG", "off");
    c
}

/// The README's build steps are the build stage's RUN lines, in order.
#[test]
fn readme_build_steps_are_the_dockerfiles() {
    let stages = stages();
    assert_eq!(stages.len(), 2, "a build and a runtime stage");
    let runs: Vec<&str> = stages[0]
        .iter()
        .filter_map(|i| i.strip_prefix("RUN "))
        .collect();
    let readme = read("README.md");
    let start = readme
        .find("<!-- container build -->\n```sh\n")
        .expect("README has the build steps")
        + "<!-- container build -->\n```sh\n".len();
    let end = readme[start..]
        .find("```\n<!-- /container build -->")
        .unwrap()
        + start;
    let steps: Vec<&str> = readme[start..end].lines().collect();
    assert_eq!(runs, steps);
    assert!(stages[0][0].ends_with(" AS build"), "{}", stages[0][0]);
    assert!(
        stages[1]
            .iter()
            .any(|i| i == "COPY --from=build /src/target/release/d-back /usr/local/bin/d-back"),
        "{:?}",
        stages[1]
    );
}

/// The runtime runs as a non-root user and starts the binary.
#[test]
fn the_runtime_is_not_root() {
    let runtime = &stages()[1];
    let user = runtime
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("a USER");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "USER {user}");
    assert!(runtime.contains(&r#"ENTRYPOINT ["/usr/local/bin/d-back"]"#.to_string()));
}

/// Every D_BACK_* variable the Dockerfile and compose.yaml set is one
/// `d-back --help` lists (a typo would be silently ignored in a container).
#[test]
fn every_variable_set_is_one_d_back_reads() {
    let help = String::from_utf8(bin().arg("--help").output().unwrap().stdout).unwrap();
    let mut seen = 0;
    for file in ["Dockerfile", "compose.yaml"] {
        let text = read(file);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("D_BACK_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            assert!(
                help.contains(&format!("[env: {name}")),
                "{file}: {name} is not a d-back variable"
            );
            seen += 1;
            rest = &rest[at + name.len()..];
        }
        assert!(text.contains("DISCORD_TOKEN"), "{file}");
    }
    assert!(seen >= 8, "only {seen} variables found");
}

/// The HEALTHCHECK command, run with the image's environment, passes
/// against a running d-back (at the root and under a base path) and fails
/// once it is gone.
#[tokio::test]
async fn the_healthcheck_probes_healthz() {
    let check = instructions()
        .into_iter()
        .find(|i| i.starts_with("HEALTHCHECK "))
        .expect("a HEALTHCHECK");
    let command = check.split_once(" CMD ").expect("CMD form").1.to_string();
    for base in ["", "/dzone"] {
        let mut child = bin()
            .env("D_BACK_BASE_PATH", base)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = common::listening_addr(&mut child, "http");
        let probe = || {
            Command::new("sh")
                .args(["-c", &command])
                .env("D_BACK_PORT", addr.port().to_string())
                .env("D_BACK_BASE_PATH", base)
                .status()
                .unwrap()
                .success()
        };
        assert!(probe(), "{command} failed against d-back at {addr}{base}");
        child.kill().unwrap();
        let _ = child.wait();
        assert!(!probe(), "{command} passed with d-back gone");
    }
}

/// The image's environment is a valid configuration (checked as a start would).
#[test]
fn the_images_environment_checks() {
    let mut cmd = bin();
    for env in stages()[1].iter().filter_map(|i| i.strip_prefix("ENV ")) {
        for pair in env.split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV K=V");
            cmd.env(k, v);
        }
    }
    let out = cmd.args(["config", "check"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("host = \"0.0.0.0\"  # from D_BACK_HOST\n"),
        "{text}"
    );
    assert!(text.contains("port = 3000  # from D_BACK_PORT\n"), "{text}");
}

/// DISCORD_TOKEN_FILE: the bot connects with the token in the file, which
/// is never printed; an unreadable or empty file is one sentence, exit 2.
#[tokio::test]
async fn the_token_comes_from_a_secret_file() {
    let dir = std::env::temp_dir().join(format!("d-back-container-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("discord_token");
    std::fs::write(&secret, format!("{BOT_TOKEN}\n")).unwrap();
    let fake = FakeDiscord::start(vec![FakeGuild::new("111111111111111111", "Island Life")]);
    let with_fake = |c: &mut Command| {
        c.env("D_BACK_DISCORD_GATEWAY_URL", fake.gateway_url())
            .env("D_BACK_DISCORD_API_URL", fake.api_url());
    };

    let mut check = bin();
    with_fake(&mut check);
    let out = check
        .env("DISCORD_TOKEN_FILE", &secret)
        .args(["config", "check"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("[discord]\ntoken = \"<redacted>\"\n"),
        "{text}"
    );
    assert!(!text.contains(BOT_TOKEN));

    let mut start = bin();
    with_fake(&mut start);
    let mut child = start
        .env("DISCORD_TOKEN_FILE", &secret)
        .args(["--host", "127.0.0.1", "--port", "0", "--no-mock-traffic"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child, "http");
    let mut shown = false;
    for _ in 0..100 {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let list = common::next_text(&mut ws).await;
        if list.contains("Island Life") {
            shown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(shown, "the bot did not show the fake guild");

    let missing = dir.join("absent");
    let out = bin()
        .env("DISCORD_TOKEN_FILE", &missing)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        common::one_line_failure(out).trim_end(),
        format!(
            "d-back: cannot read the Discord token file {} (DISCORD_TOKEN_FILE): No such file or directory (os error 2); mount the secret there or unset DISCORD_TOKEN_FILE.",
            missing.display()
        )
    );
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let out = bin()
        .env("DISCORD_TOKEN_FILE", &empty)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(
        common::one_line_failure(out).trim_end(),
        format!(
            "d-back: the Discord token file {} (DISCORD_TOKEN_FILE) is empty: put the token from your application's Bot page in it.",
            empty.display()
        )
    );
}
