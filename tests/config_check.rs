//! `d-back config check` and `d-back config example`: the effective
//! configuration with secrets redacted, errors with file, line and column,
//! and an example that a start accepts and the README shows verbatim.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The binary with an empty environment, so no `D_BACK_*` or `DISCORD_*`
/// of the machine running the tests leaks in.
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_d-back"));
    c.env_clear().env("RUST_LOG", "off");
    c
}

fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d-back-config-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The exact stderr line and exit code 2 of a check that must fail.
fn refused(path: &std::path::Path) -> String {
    let out = bin().args(["config", "check"]).arg(path).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    common::one_line_failure(out).trim_end().to_string()
}

/// A file, the environment and a flag: each value and where it came from;
/// tokens, passwords and the Redis password redacted; the output parses.
#[test]
fn check_prints_the_effective_configuration_without_secrets() {
    let path = file(
        "full.toml",
        r#"port = 8080
base_path = "/dzone"
publish_token = "publish-secret"
redis_url = "redis://:redis-secret@127.0.0.1:6379/0"
source = "local"

[discord]
info_command = "!dzone"

[[discord.servers]]
id = "232769614004748288"
alias = "D-World"
password = "server-secret"
"#,
    );
    let out = bin()
        .env("D_BACK_HOST", "0.0.0.0")
        .env("DISCORD_TOKEN", "token-secret")
        .env("D_BACK_METRICS_TOKEN", "metrics-secret")
        .args(["--max-connections", "7", "config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for secret in [
        "publish-secret",
        "redis-secret",
        "token-secret",
        "metrics-secret",
        "server-secret",
    ] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    let expected = format!(
        "# d-back {}: the effective configuration (config file {}, the environment and the command line)
host = \"0.0.0.0\"  # from D_BACK_HOST
port = 8080  # from the file
base_path = \"/dzone\"  # from the file
# static_dir: unset
allowed_origins = []
publish_token = \"<redacted>\"  # from the file
max_connections = 7  # from --max-connections
max_connections_per_ip = 256
max_frame_bytes = 65536
max_backlog_bytes = 1048576
compression = \"on\"
compression_level = 6
compression_min_bytes = 256
heartbeat_secs = 5.0
client_timeout_secs = 15.0
provider_timeout_secs = 5.0
close_timeout_secs = 1.0
shutdown_grace_secs = 10.0
no_mock_traffic = false
# tls_cert: unset
# tls_key: unset
trusted_proxies = []
metrics = false
metrics_token = \"<redacted>\"  # from D_BACK_METRICS_TOKEN
redis_url = \"redis://:<redacted>@127.0.0.1:6379/0\"  # from the file
source = \"local\"  # from the file

[discord]
token = \"<redacted>\"
info_command = \"!dzone\"
# url: unset
# client_id: unset
# gateway_url: unset
# api_url: unset
large_guild_members = 10000
shards = \"auto\"
# shard_range: unset (this instance runs every shard)
# shard_total: unset

[[discord.servers]]
id = \"232769614004748288\"
alias = \"D-World\"
default = false
password = \"<redacted>\"
ignore_channels = []
ignore_users = []
listen_channels = []
# hide_offline: unset (offline members hidden above large_guild_members)
protected = false
# client_id: unset
",
        env!("CARGO_PKG_VERSION"),
        path.display()
    );
    assert_eq!(text, expected);
    let reread: toml::Table = toml::from_str(&text).expect("the output is TOML");
    assert_eq!(reread["port"].as_integer(), Some(8080));
}

/// A misspelt key, at the top, in [discord] and in a server: file, line,
/// column and the nearest known key; exit 2 and nothing on stdout.
#[test]
fn unknown_keys_name_the_nearest_known_one() {
    let top = file("top.toml", "port = 8080\nmax_conections = 5\n");
    assert_eq!(
        refused(&top),
        format!(
            "d-back: {}:2:1: unknown key `max_conections`; the nearest known key is `max_connections`",
            top.display()
        )
    );
    let discord = file("discord.toml", "[discord]\n  info_comand = \"!dzone\"\n");
    assert_eq!(
        refused(&discord),
        format!(
            "d-back: {}:2:3: unknown key `info_comand` in [discord]; the nearest known key is `info_command`",
            discord.display()
        )
    );
    let server = file(
        "server.toml",
        "[discord]\n\n[[discord.servers]]\nid = \"1\"\nprotect = true\n",
    );
    assert_eq!(
        refused(&server),
        format!(
            "d-back: {}:5:1: unknown key `protect` in [[discord.servers]]; the nearest known key is `protected`",
            server.display()
        )
    );
}

/// A value of the wrong type names its key and what it expects; a syntax
/// error its place; a d-zone JSON file serde_json's line and column.
#[test]
fn wrong_values_and_syntax_name_file_line_and_column() {
    let port = file("port.toml", "host = \"::\"\nport = \"http\"\n");
    assert_eq!(
        refused(&port),
        format!(
            "d-back: {}:2:8: `port` expects a port number (0 to 65535): invalid type: string \"http\", expected u16",
            port.display()
        )
    );
    let base = file("base.toml", "base_path = \"dzone\"\n");
    assert_eq!(
        refused(&base),
        "d-back: the base path \"dzone\" must start with a slash, e.g. \"/dzone\""
    );
    let secs = file("secs.toml", "heartbeat_secs = \"5s\"\n");
    assert_eq!(
        refused(&secs),
        format!(
            "d-back: {}:1:18: `heartbeat_secs` expects a number of seconds (e.g. 5 or 0.5): invalid type: string \"5s\", expected f64",
            secs.display()
        )
    );
    let syntax = file("syntax.toml", "port = 80\nhost = \n");
    let line = refused(&syntax);
    assert!(
        line.starts_with(&format!("d-back: {}:2:8: ", syntax.display())),
        "{line}"
    );
    let json = file("discord-config.json", "{\"servers\": [\n  {\"id\": }\n]}");
    let line = refused(&json);
    assert!(
        line.contains(&json.display().to_string()) && line.ends_with("at line 2 column 10"),
        "{line}"
    );
}

/// An error found after parsing (a Redis source without a Redis URL) is
/// the start's own sentence, with exit 2.
#[test]
fn check_refuses_what_a_start_refuses() {
    let path = file("redis.toml", "source = \"redis\"\n");
    assert_eq!(
        refused(&path),
        "d-back: --source redis needs a Redis URL (--redis-url)"
    );
}

/// `config example` lists every key once with its default; `config check`
/// accepts it and, with nothing set, prints the same defaults.
#[test]
fn example_has_every_default_and_passes_the_check() {
    let example = stdout(&bin().args(["config", "example"]).output().unwrap());
    let defaults: Vec<&str> = example
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.contains(" = ") && !l.contains("(default: unset)"))
        .take_while(|l| !l.starts_with("token"))
        .collect();
    let path = file("example.toml", &example);
    let out = bin().args(["config", "check"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let checked: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" = "))
        .take_while(|l| !l.starts_with("token"))
        .map(str::to_string)
        .collect();
    assert_eq!(defaults, checked);
    for key in [
        "host",
        "port",
        "static_dir",
        "redis_url",
        "metrics_token",
        "source",
    ] {
        assert_eq!(
            example
                .lines()
                .filter(|l| l.starts_with(&format!("# {key} = ")))
                .count(),
            1,
            "{key} in\n{example}"
        );
    }
}

/// A start with the example file serves (the example is a working file).
#[tokio::test]
async fn a_start_accepts_the_example() {
    let example = stdout(&bin().args(["config", "example"]).output().unwrap());
    let path = file("start.toml", &format!("host = \"127.0.0.1\"\n{example}"));
    let mut child = bin()
        .args(["--port", "0", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child, "http");
    let (status, _, body) = common::http_get(addr, "/healthz").await;
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(status, 200);
    assert_eq!(body, br#"{"status":"ok"}"#);
}

/// The README's example is exactly what `config example` prints.
#[test]
fn readme_shows_the_example() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- config example -->\n```toml\n")
        .expect("README has the config example")
        + "<!-- config example -->\n```toml\n".len();
    let end = readme[start..]
        .find("```\n<!-- /config example -->")
        .expect("the example block ends")
        + start;
    let example = stdout(&bin().args(["config", "example"]).output().unwrap());
    assert_eq!(&readme[start..end], example);
}

/// The shipped example files pass the check.
#[test]
fn the_shipped_examples_check() {
    for name in ["examples/d-back.toml", "examples/discord-config.json"] {
        let out = bin()
            .args(["config", "check"])
            .arg(format!("{}/{name}", env!("CARGO_MANIFEST_DIR")))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
