//! The container files without a container engine (the image itself is
//! built and run by hand with `tests/container/build-and-run.sh`): the
//! Dockerfile's build steps are the README's; its HEALTHCHECK probes a real
//! d-back where a mounted config file says; the image's defaults live in
//! its config file, not in ENV, so every key of a mounted file takes effect
//! and the environment still wins; every `D_BACK_*` variable it and
//! compose.yaml set is one d-back reads; the runtime runs as a non-root
//! user; the token and build output stay out of the build context and git;
//! compose.yaml suits podman-compose; and `DISCORD_TOKEN_FILE` (how the
//! compose file passes the token) works against the fake Discord.

mod common;

use std::process::{Command, Stdio};

use common::fake_discord::fixtures::island;
use common::fake_discord::{FakeDiscord, BOT_TOKEN};

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

/// The image's HEALTHCHECK is `d-back health`, exec form: it reads the
/// configuration as a start does, so it probes the port and base path a
/// mounted file sets (a shell probe of `$D_BACK_PORT` could not). Run
/// against a running d-back configured by a file (at the root and under a
/// base path), it passes; once the server is gone, it fails.
#[tokio::test]
async fn the_healthcheck_probes_healthz_where_the_file_says() {
    let check = instructions()
        .into_iter()
        .find(|i| i.starts_with("HEALTHCHECK "))
        .expect("a HEALTHCHECK");
    let command = check.split_once(" CMD ").expect("CMD form").1;
    let argv: Vec<String> = serde_json::from_str(command).expect("exec form: a JSON array");
    assert_eq!(argv, ["/usr/local/bin/d-back", "health"]);
    let dir = scratch("healthcheck");
    for base in ["", "/dzone"] {
        let mut child = bin()
            .args(["--host", "127.0.0.1", "--port", "0"])
            .env("D_BACK_BASE_PATH", base)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = common::listening_addr(&mut child, "http");
        // What an operator mounts: the port and base path in the file only.
        let file = dir.join("d-back.toml");
        std::fs::write(
            &file,
            format!(
                "host = \"0.0.0.0\"\nport = {}\nbase_path = \"{base}\"\n",
                addr.port()
            ),
        )
        .unwrap();
        let probe = || {
            let out = bin()
                .args(&argv[1..])
                .env("D_BACK_CONFIG", &file)
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        };
        assert_eq!(
            probe(),
            (Some(0), String::new()),
            "against d-back at {addr}{base}"
        );
        child.kill().unwrap();
        let _ = child.wait();
        let (code, err) = probe();
        assert_eq!(code, Some(1), "passed with d-back gone");
        assert_eq!(
            err,
            format!(
                "d-back: health: cannot connect to 127.0.0.1:{}: Connection refused (os error 111)\n",
                addr.port()
            )
        );
    }
}

/// The runtime stage's ENV names the config file and sets no option
/// (`D_BACK_*` other than `D_BACK_CONFIG`) and no `RUST_LOG`: a variable
/// there would win over every mounted file, and `RUST_LOG` would replace
/// the binary's own filter (twilight's per-shard lines at info).
#[test]
fn the_image_sets_no_option_in_env() {
    let runtime = &stages()[1];
    let env = image_env();
    assert_eq!(
        env,
        [("D_BACK_CONFIG".to_string(), IMAGE_CONFIG.to_string())],
        "{runtime:?}"
    );
    assert!(
        runtime.contains(&format!("COPY container/d-back.toml {IMAGE_CONFIG}")),
        "the image's config file is copied where D_BACK_CONFIG names: {runtime:?}"
    );
}

/// Where the image's config file lives, and a file is mounted.
const IMAGE_CONFIG: &str = "/etc/d-back/d-back.toml";

/// The runtime stage's ENV pairs.
fn image_env() -> Vec<(String, String)> {
    stages()[1]
        .iter()
        .filter_map(|i| i.strip_prefix("ENV "))
        .flat_map(|e| {
            e.split_whitespace()
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("ENV K=V");
                    (k.to_string(), v.to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `d-back config check` as the image runs it, with the image's ENV and
/// its config file (`container/d-back.toml`) or one mounted over it.
fn check_in_image(file: &std::path::Path, env: &[(&str, &str)]) -> String {
    let mut cmd = bin();
    for (k, v) in image_env() {
        cmd.env(k, v);
    }
    cmd.env("D_BACK_CONFIG", file).envs(env.iter().copied());
    let out = cmd.args(["config", "check"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn scratch(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("d-back-container-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The image's own config file is valid and listens where a container
/// must: every interface, port 3000, at the root.
#[test]
fn the_images_config_file_checks() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("container/d-back.toml");
    let text = check_in_image(&file, &[]);
    for line in [
        "host = \"0.0.0.0\"  # from the file\n",
        "port = 3000  # from the file\n",
        "base_path = \"\"  # from the file\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
}

/// A file mounted over the image's: its host, port and base path (the keys
/// the image's ENV used to hold) take effect; a `D_BACK_*` variable the
/// operator sets still wins over it.
#[test]
fn a_mounted_file_sets_every_key_and_the_environment_wins() {
    let file = scratch("mounted").join("d-back.toml");
    std::fs::write(
        &file,
        "host = \"::\"\nport = 3100\nbase_path = \"/dzone\"\nmax_connections = 77\n",
    )
    .unwrap();
    let text = check_in_image(&file, &[]);
    for line in [
        "host = \"::\"  # from the file\n",
        "port = 3100  # from the file\n",
        "base_path = \"/dzone\"  # from the file\n",
        "max_connections = 77  # from the file\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let text = check_in_image(
        &file,
        &[("D_BACK_PORT", "3200"), ("D_BACK_HOST", "0.0.0.0")],
    );
    assert!(text.contains("port = 3200  # from D_BACK_PORT\n"), "{text}");
    assert!(
        text.contains("host = \"0.0.0.0\"  # from D_BACK_HOST\n"),
        "{text}"
    );
    assert!(
        text.contains("base_path = \"/dzone\"  # from the file\n"),
        "{text}"
    );
}

/// The build context and git keep out build output, git history and the
/// bot token compose.yaml reads (`./discord_token`).
#[test]
fn the_ignore_files_keep_the_token_and_build_output_out() {
    let entries = |name: &str| -> Vec<String> {
        read(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.trim_start_matches('/').trim_end_matches('/').to_string())
            .collect()
    };
    let docker = entries(".dockerignore");
    for needed in ["target", ".git", "discord_token"] {
        assert!(
            docker.iter().any(|e| e == needed),
            ".dockerignore lacks {needed}: {docker:?}"
        );
    }
    let git = entries(".gitignore");
    for needed in ["target", "discord_token"] {
        assert!(
            git.iter().any(|e| e == needed),
            ".gitignore lacks {needed}: {git:?}"
        );
    }
    assert!(read("compose.yaml").contains("file: ./discord_token"));
}

/// The README shows podman's build (with `--format docker`, which keeps the
/// HEALTHCHECK) beside docker's, and the script that builds and runs it.
#[test]
fn the_readme_shows_podman_beside_docker() {
    let readme = read("README.md");
    let container = &readme[readme.find("## Container").expect("a Container section")..];
    for needed in [
        "docker build -t d-back .",
        "podman build --format docker -t d-back .",
        "tests/container/build-and-run.sh",
    ] {
        assert!(
            container.contains(needed),
            "README Container lacks {needed:?}"
        );
    }
}

/// compose.yaml suits podman-compose as well as docker compose: every image
/// is named in full (podman does not guess a registry for a short name),
/// and every d-back service carries the health check itself (an image
/// podman builds in its own format has none).
#[test]
fn compose_works_with_podman_compose_too() {
    let text = read("compose.yaml");
    let images: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .collect();
    assert_eq!(images.len(), 3, "{images:?}");
    for image in &images {
        let registry = image.split('/').next().unwrap();
        assert!(
            image.contains('/') && (registry.contains('.') || registry == "localhost"),
            "{image} is not a full name"
        );
    }
    let ours = images.iter().filter(|i| i.ends_with("/d-back")).count();
    assert_eq!(ours, 2);
    let checks = text
        .matches(r#"test: ["CMD", "/usr/local/bin/d-back", "health"]"#)
        .count();
    assert_eq!(checks, ours, "a health check per d-back service");
}

/// DISCORD_TOKEN_FILE: the bot connects with the token in the file, which
/// is never printed; an unreadable or empty file is one sentence, exit 2.
#[tokio::test]
async fn the_token_comes_from_a_secret_file() {
    let dir = scratch("token");
    let secret = dir.join("discord_token");
    std::fs::write(&secret, format!("{BOT_TOKEN}\n")).unwrap();
    let fake = FakeDiscord::start(vec![island()]);
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
