//! Helpers shared by the `serve` integration tests: start the real binary on an ephemeral
//! port, a minimal HTTP/1.1 client, temporary packs, polling and metric reading.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "each test file uses a part of the helpers; they fail loudly on broken fixtures"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const POLICY_V1: &str = "namespace t\npolicy p {\n  rule version = 1\n  rule ok = default false when user.role is defined { yield user.role == \"admin\" }\n  export decision of version\n  export decision of ok attach role as user.role\n}\n";

pub fn write_pack(dir: &Path, policy: &str) {
    std::fs::write(
        dir.join("sentrie.pack.toml"),
        "[schema]\nversion = 1\n\n[pack]\nname = \"srv\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("p.sentrie"), policy).unwrap();
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(pack: &Path, extra: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentrie"));
        cmd.arg("serve")
            .arg(pack)
            .args(["--port", "0", "--workers", "2"])
            .args(extra);
        Server::spawn(cmd)
    }

    /// Starts `sentrie ARGS... --port 0 --workers 2` (the arguments name the packs).
    pub fn start_args(args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentrie"));
        cmd.args(args).args(["--port", "0", "--workers", "2"]);
        Server::spawn(cmd)
    }

    /// Starts `sentrie serve` through `sh -c "PREFIX; exec sentrie serve ..."` (resource
    /// limits set with `ulimit`).
    pub fn start_with_shell(prefix: &str, pack: &Path, extra: &[&str]) -> Server {
        let mut script = format!("{prefix}; exec \"$0\" serve \"$1\" --port 0 --workers 2");
        for (i, _) in extra.iter().enumerate() {
            script.push_str(&format!(" \"${}\"", i + 2));
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_sentrie"))
            .arg(pack)
            .args(extra);
        Server::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let address = line
                    .strip_prefix("listening on http://")
                    .or_else(|| line.strip_prefix("listening on https://"));
                if let Some(rest) = address {
                    let _ = tx.send(
                        rest.rsplit(':')
                            .next()
                            .unwrap_or("0")
                            .parse::<u16>()
                            .unwrap_or(0),
                    );
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server did not start");
        Server { child, port, log }
    }

    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(self.port, method, path, headers, body)
    }

    pub fn decide(&self, target: &str, facts: &str) -> Resp {
        self.req(
            "POST",
            &format!("/decision/{target}"),
            &[],
            format!("{{\"facts\": {facts}}}").as_bytes(),
        )
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    pub fn wait_exit(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), self.log.lock().unwrap().clone());
            }
            assert!(Instant::now() < deadline, "server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer before reading a large body; ignore write errors after that.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sentrie-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn version(s: &Server) -> i64 {
    let r = s.decide("t/p/version", "{}");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["decisions"][0]["decision"]["value"]
        .as_i64()
        .unwrap()
}

pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn metric(s: &Server, name: &str) -> Option<u64> {
    let text = String::from_utf8(s.req("GET", "/metrics", &[], b"").body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// One keep-alive HTTP/1.1 connection for many requests (load tests).
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// POSTs `body` to `path` and reads the response (its length from `Content-Length`).
    pub fn post(&mut self, path: &str, body: &[u8]) -> Resp {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.writer.write_all(head.as_bytes()).unwrap();
        self.writer.write_all(body).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body).unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }
}

/// Reads a JSON-lines file.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A free TCP port on 127.0.0.1 (for a server that needs its port before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process (an origin, nginx) killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
