//! A `redis-server` of one test, started on a free port and killed when
//! dropped (or by the test, to see an outage), for the suites that join
//! instances through a real Redis (`tests/redis.rs`, `tests/shards.rs`).

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::WAIT;

/// How long a test waits for Redis to come back and be noticed.
pub const HEAL: Duration = Duration::from_secs(15);

/// A `redis-server` of this test, killed when dropped.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = Redis { port, child: None };
        r.spawn();
        r
    }

    pub fn spawn(&mut self) {
        let child = Command::new("/usr/bin/redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (apt-get install redis-server)");
        self.child = Some(child);
        let start = Instant::now();
        while self.try_cmd::<String>(&mut redis::cmd("PING")).is_err() {
            assert!(start.elapsed() < WAIT, "redis-server did not answer PING");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn try_cmd<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> redis::RedisResult<T> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
        cmd.query(&mut conn)
    }

    pub fn cmd<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> T {
        self.try_cmd(cmd).expect("redis answers")
    }

    /// Subscribers of a guild's channel.
    pub fn subscribers(&self, guild: &str) -> usize {
        let (_, n): (String, usize) = self.cmd(
            redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(format!("d-back:{guild}")),
        );
        n
    }

    pub async fn until_subscribers(&self, guild: &str, n: usize) {
        let start = Instant::now();
        while self.subscribers(guild) != n {
            assert!(
                start.elapsed() < HEAL,
                "{guild} never had {n} subscribers (has {})",
                self.subscribers(guild)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
