//! A throwaway `vigil serve` for end-to-end tests.
//!
//! [`VigilServer::start`] picks free loopback ports (pgwire and HTTP) and a fresh
//! temporary data directory, spawns the `vigil` binary that cargo built for this test
//! target, and returns once the server accepts TCP connections (polled against a
//! deadline, so a slow start costs only the time it takes). Dropping the guard kills
//! the process, also when the test panics, and removes the directory.
//! [`VigilServer::start_in`] starts on a directory the test prepared first.

#![allow(dead_code)] // each test target uses a different part of this module

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

/// How long a server may take to accept its first connection. Generous, because
/// a debug build opening its catalog on a loaded 2-core machine is slow.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// Attempts to start when the server exits early, which is what a port taken in
/// the gap between choosing it and the server binding it looks like.
const START_ATTEMPTS: u32 = 3;

/// Lines of the server's output shown when something fails.
const LOG_TAIL_LINES: usize = 40;

/// A running `vigil serve` process with its own port and data directory.
pub struct VigilServer {
    child: Child,
    port: u16,
    /// The HTTP API's port: never the default 6876, so tests do not collide.
    http_port: u16,
    /// Removed when the guard drops, after the process is gone.
    dir: TempDir,
}

impl VigilServer {
    /// Starts `vigil serve --workers WORKERS` and waits until it listens.
    pub fn start(workers: usize) -> anyhow::Result<VigilServer> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let mut server = Self::spawn(workers)?;
            match server.wait_until_listening() {
                Ok(()) => return Ok(server),
                // Only an early exit may be a lost race for the port; a server
                // that runs but never listens will not do better next time.
                Err(e) if server.exit_status().is_some() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn spawn(workers: usize) -> anyhow::Result<VigilServer> {
        Self::spawn_in(scratch_dir()?, workers)
    }

    fn spawn_in(dir: TempDir, workers: usize) -> anyhow::Result<VigilServer> {
        let (port, http_port) = free_ports()?;
        let child = Self::spawn_process(dir.path(), port, http_port, workers)?;
        Ok(VigilServer {
            child,
            port,
            http_port,
            dir,
        })
    }

    /// Starts `vigil serve --workers WORKERS` on `dir` (from [`scratch_dir`]), whose
    /// `data` subdirectory the test may have filled already, and waits until it
    /// listens. An early exit is retried on new ports in the same directory.
    pub fn start_in(dir: TempDir, workers: usize) -> anyhow::Result<VigilServer> {
        let mut server = Self::spawn_in(dir, workers)?;
        let mut attempts = 1;
        loop {
            match server.wait_until_listening() {
                Ok(()) => return Ok(server),
                Err(_) if attempts < START_ATTEMPTS && server.exit_status().is_some() => {
                    attempts += 1;
                    (server.port, server.http_port) = free_ports()?;
                    server.child = Self::spawn_process(
                        server.dir.path(),
                        server.port,
                        server.http_port,
                        workers,
                    )?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Kills the process with SIGKILL, as a crash would, and starts a new one on the
    /// same data directory and port; returns once it listens again.
    pub fn crash_and_restart(&mut self, workers: usize) -> anyhow::Result<()> {
        self.child.kill().context("killing vigil serve")?;
        self.child.wait()?;
        self.child = Self::spawn_process(self.dir.path(), self.port, self.http_port, workers)?;
        self.wait_until_listening()
    }

    fn spawn_process(
        dir: &Path,
        port: u16,
        http_port: u16,
        workers: usize,
    ) -> anyhow::Result<Child> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))?;
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--http-listen")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--workers")
            .arg(workers.to_string())
            // Tests start from an empty catalog.
            .arg("--no-builtin-views")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawning vigil serve")
    }

    fn wait_until_listening(&mut self) -> anyhow::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Some(status) = self.exit_status() {
                bail!(
                    "vigil serve exited with {status} before listening on {addr}\n{}",
                    self.log_tail()
                );
            }
            if answers_postgres(addr) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "vigil serve did not accept connections on {addr} within {STARTUP_DEADLINE:?}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP API's address, `127.0.0.1:PORT`, as `vigil publish --http` takes it.
    pub fn http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    /// The data directory the server runs on.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// A libpq-style connection string for tokio-postgres.
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=vigil dbname=vigil connect_timeout=10",
            self.port
        )
    }

    /// A scratch directory that lives as long as the server (the data directory
    /// is its `data` subdirectory), for files a test hands to a client.
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `Some` once the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines the server printed, labelled, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        format!(
            "--- vigil serve output (last {} lines) ---\n{}\n--- end of vigil serve output ---",
            tail.len(),
            tail.join("\n")
        )
    }
}

impl Drop for VigilServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a PostgreSQL server answers at `addr`: an SSLRequest gets its one-byte
/// answer. A TCP connect alone is not enough: the kernel accepts connections as
/// soon as the port is bound, before the server serves them (or fails to start
/// and resets them).
fn answers_postgres(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = [0u8; 1];
    stream.write_all(&SSL_REQUEST).is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && matches!(answer[0], b'N' | b'S')
}

/// A loopback port nothing listens on right now. The server binds it a moment
/// later; [`START_ATTEMPTS`] covers the rare case that someone else got there first.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Two different free ports: both listeners are held until both are chosen.
fn free_ports() -> anyhow::Result<(u16, u16)> {
    let first = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    let second = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok((first.local_addr()?.port(), second.local_addr()?.port()))
}

/// A fresh temporary directory for a server: its data directory will be the `data`
/// subdirectory. Removed when the returned guard (or the server given it) drops.
pub fn scratch_dir() -> anyhow::Result<TempDir> {
    tempfile::Builder::new()
        .prefix("vigil-test-")
        .tempdir()
        .context("creating a temporary directory")
}
