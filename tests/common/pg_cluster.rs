//! A throwaway PostgreSQL cluster of a test's own (initdb on a free port,
//! started and stopped with pg_ctl as the `postgres` user when run as
//! root), for tests that take the database away; shared by path (`#[path]`)
//! so suites that do not need it do not compile it.
#![allow(dead_code)]

use std::process::{Command, Stdio};

use crate::common::TempDir;

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// Runs a PostgreSQL binary as the `postgres` user when we are root
/// (initdb and postgres refuse to run as root).
fn pg(tool: &str, args: &[&str]) -> std::process::Output {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let path = format!("{BIN}/{tool}");
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(&path)
    };
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The throwaway cluster; stopped at once when dropped.
pub struct Cluster {
    data: String,
    port: u16,
    _dir: TempDir,
}

impl Cluster {
    pub fn new() -> Cluster {
        let dir = TempDir::new("pg");
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres", &dir.path().display().to_string()])
            .status();
        let data = dir.path().join("data").display().to_string();
        pg(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cluster = Cluster {
            data,
            port,
            _dir: dir,
        };
        cluster.start();
        cluster
    }

    pub fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self._dir.path().display()
        );
        let log = self._dir.path().join("log").display().to_string();
        pg(
            "pg_ctl",
            &["-D", &self.data, "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    pub fn stop(&self) {
        pg("pg_ctl", &["-D", &self.data, "-m", "fast", "-w", "stop"]);
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            pg(
                "pg_ctl",
                &["-D", &self.data, "-m", "immediate", "-w", "stop"],
            )
        });
    }
}
