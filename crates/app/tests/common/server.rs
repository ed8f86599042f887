//! A running `serve`, driven over HTTP with curl, shared by the end-to-end tests.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::BIN;

/// How long a server may take to start or to stop before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running `serve --source none`, killed when dropped.
pub struct Server {
    child: Child,
    /// Where curl connects: the listen address, with 0.0.0.0 replaced by loopback.
    pub base: String,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start(extra, env).unwrap_or_else(|stderr| panic!("serve did not start: {stderr}"))
    }

    /// Starts the server; the error is its stderr when it exits instead of listening.
    pub fn try_start(extra: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        Self::try_start_in(tempfile::tempdir().unwrap(), extra, env)
    }

    /// Starts a server on the database and the data directory (the journal, the file
    /// offsets) a killed one left: see [`Server::kill_keeping_files`].
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        Self::try_start_in(dir, extra, &[])
            .unwrap_or_else(|stderr| panic!("serve did not start: {stderr}"))
    }

    /// The database `serve` uses in `dir` unless told another.
    pub fn db_in(dir: &std::path::Path) -> String {
        format!("sqlite://{}", dir.join("incidents.db").display())
    }

    fn try_start_in(
        dir: tempfile::TempDir,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let db = Self::db_in(dir.path());
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--source", "none", "--format", "json"])
            .args(extra)
            .env("XDG_DATA_HOME", dir.path())
            .env_remove("IC_INGEST_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !extra.contains(&"--db") {
            command.args(["--db", &db]);
        }
        if !extra.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let address = read_address(child.stderr.take().unwrap());
        match address.recv_timeout(PATIENCE) {
            Ok(Ok(address)) => Ok(Self {
                child,
                base: format!("http://{}", address.replace("0.0.0.0", "127.0.0.1")),
                dir,
            }),
            Ok(Err(stderr)) => {
                let _ = child.wait();
                Err(stderr)
            }
            Err(_) => {
                let _ = child.kill();
                Err("no address printed in time".into())
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/logs` with NDJSON lines; the status and the body.
    pub fn post_ndjson(&self, lines: &str) -> (u16, String) {
        // From a file: a body of thousands of lines is longer than an argument may be.
        let mut body = tempfile::NamedTempFile::new().expect("a temporary file");
        std::io::Write::write_all(&mut body, lines.as_bytes()).expect("written");
        let data = format!("@{}", body.path().display());
        curl(&[
            "-H",
            "Content-Type: application/x-ndjson",
            "--data-binary",
            &data,
            &self.url("/api/logs"),
        ])
    }

    pub fn logs_processed(&self) -> u64 {
        let (status, body) = curl(&[&self.url("/api/stats")]);
        assert_eq!(status, 200, "{body}");
        json(&body)["logs_processed"].as_u64().unwrap()
    }

    pub fn metrics(&self) -> String {
        curl(&[&self.url("/metrics")]).1
    }

    /// A file in the server's temporary directory.
    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    /// Its stdout, line by line, as it is printed (the reports, with `--format json`).
    pub fn stdout_lines(&mut self) -> mpsc::Receiver<String> {
        let stdout = self.child.stdout.take().expect("stdout not taken yet");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Kills the process with SIGKILL: no flush, no goodbye.
    pub fn kill(self) {
        drop(self.kill_keeping_files());
    }

    /// Kills the process with SIGKILL and hands over its directory, for the next server.
    pub fn kill_keeping_files(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let empty = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, empty)
    }

    /// Sends SIGTERM and waits for the exit; returns stdout (the reports).
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signals a child process this test started and still owns.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let stdout = self.child.stdout.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut out = String::new();
            if let Some(mut stdout) = stdout {
                let _ = stdout.read_to_string(&mut out);
            }
            let _ = tx.send(out);
        });
        let out = rx
            .recv_timeout(PATIENCE)
            .expect("the server ends after SIGTERM");
        (self.child.wait().unwrap(), out)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads stderr on a thread: the address once `Incident Commander on http://ADDR` appears (or
/// all of stderr if the process ends first), then keeps draining so the pipe never fills.
fn read_address(stderr: impl Read + Send + 'static) -> mpsc::Receiver<Result<String, String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        let mut sent = false;
        // IC_TEST_SERVE_STDERR=1 shows what the servers log, to see why a test failed.
        let echo = std::env::var_os("IC_TEST_SERVE_STDERR").is_some();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("{line}");
            }
            if !sent && let Some(rest) = line.split("Incident Commander on http://").nth(1) {
                let address = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(Ok(address.to_owned()));
                sent = true;
            }
            if !sent {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
        if !sent {
            let _ = tx.send(Err(seen));
        }
    });
    rx
}

/// POSTs NDJSON `lines` to `url`; the status, or `None` when no answer came (the server died).
pub fn try_post(url: &str, lines: &str) -> Option<u16> {
    let mut body = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut body, lines.as_bytes()).unwrap();
    let output = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(["-H", "Content-Type: application/x-ndjson", "--data-binary"])
        .arg(format!("@{}", body.path().display()))
        .arg(url)
        .output()
        .expect("curl is needed for this test (apt-get install curl)");
    let code: u16 = String::from_utf8_lossy(&output.stdout).parse().unwrap_or(0);
    (output.status.success() && code != 0).then_some(code)
}

/// Runs curl; returns the status code and the body.
pub fn curl(args: &[&str]) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("curl is needed for this test (apt-get install curl): {err}"));
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Protobuf answers are not text; the status code after them is.
    let text = String::from_utf8_lossy(&output.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}
