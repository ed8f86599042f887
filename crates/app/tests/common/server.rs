//! A running `serve`, driven over HTTP with curl, shared by the end-to-end tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use incident_commander::BANNER;
use serde_json::Value;

use super::BIN;

/// How long a server may take to start or to stop before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running `serve` (`--source none` unless the test gives sources), killed when dropped.
/// Its stdout and stderr are read on threads as they come, so neither pipe ever fills.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<mpsc::Receiver<String>>,
    /// Its log lines after the banner.
    stderr: mpsc::Receiver<String>,
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
        command.args(["serve", "--format", "json"]);
        if !extra.contains(&"--source") {
            command.args(["--source", "none"]);
        }
        command
            .args(extra)
            .env("XDG_DATA_HOME", dir.path())
            .env_remove("IC_INGEST_TOKEN")
            .stdin(Stdio::piped())
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
        let (address, stderr) = read_address(child.stderr.take().unwrap());
        match address.recv_timeout(PATIENCE) {
            Ok(Ok(address)) => Ok(Self {
                stdin: child.stdin.take(),
                stdout: Some(lines_of(child.stdout.take().unwrap())),
                stderr,
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
        self.stdout.take().expect("stdout not taken yet")
    }

    /// Writes to the server's stdin (its `stdin` source, with `--source stdin`).
    pub fn send(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin not closed yet");
        stdin
            .write_all(data)
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|err| panic!("write to the server's stdin: {err}"));
    }

    /// One JSON log line on the server's stdin.
    pub fn send_line(&mut self, line: &Value) {
        self.send(format!("{line}\n").as_bytes());
    }

    /// Closes stdin, which ends a `stdin` source; waits for the exit; returns stdout.
    pub fn close_stdin_and_wait(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        self.wait_with_stdout()
    }

    /// Waits until the server logs a line containing `needle`; the line. The event itself,
    /// not a timer.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(err) => panic!("the server did not log {needle:?}: {err}"),
            }
        }
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

    /// Stops the process with SIGSTOP, as a machine starved of CPU or a long pause would:
    /// it holds what it took and answers nothing until [`Server::resume`].
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused process go on with SIGCONT.
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signals a child process this test started and still owns.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Sends SIGTERM and waits for the exit; returns stdout (the reports).
    pub fn terminate(self) -> (std::process::ExitStatus, String) {
        self.signal(libc::SIGTERM);
        self.wait_with_stdout()
    }

    /// The exit status, and what is left of stdout once the process closes it (nothing when
    /// the test took its lines).
    fn wait_with_stdout(mut self) -> (std::process::ExitStatus, String) {
        let mut out = String::new();
        let Some(stdout) = self.stdout.take() else {
            return (self.child.wait().unwrap(), out);
        };
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match stdout.recv_timeout(left) {
                Ok(line) => {
                    out.push_str(&line);
                    out.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("the server did not end"),
            }
        }
        (self.child.wait().unwrap(), out)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child's output, line by line as it comes, read on a thread.
fn lines_of(output: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The address a server printed (or its whole stderr when it ended first), and its log lines
/// after that.
type Started = (
    mpsc::Receiver<Result<String, String>>,
    mpsc::Receiver<String>,
);

/// Reads stderr on a thread: the address once the [`BANNER`] appears, then the lines after it.
fn read_address(stderr: impl Read + Send + 'static) -> Started {
    let (tx, rx) = mpsc::channel();
    let (log_tx, log_rx) = mpsc::channel();
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
            if sent {
                // Nobody may be listening: the lines are dropped then.
                let _ = log_tx.send(line);
            } else if let Some(rest) = line.split(BANNER).nth(1) {
                let address = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(Ok(address.to_owned()));
                sent = true;
            } else {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
        if !sent {
            let _ = tx.send(Err(seen));
        }
    });
    (rx, log_rx)
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
