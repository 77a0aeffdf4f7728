//! The `polyfuse-mock-server` binary: prints `LISTENING <url>` first, serves, and exits when its
//! stdin reaches EOF or on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn spawn() -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyfuse-mock-server"))
        .args(["--port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("LISTENING http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(url.starts_with("127.0.0.1:"), "{url}");
    (child, url.parse().unwrap())
}

async fn exits_soon(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the binary did not exit");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn serves_then_exits_on_stdin_eof() {
    let (mut child, addr) = spawn();
    let r = completion(addr, chat("gpt-4o-mini", "hi")).await;
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "Mock answer from gpt-4o-mini: hi"
    );
    let stats = get(addr, "/_mock/stats").await.json();
    assert_eq!(stats["requests"], 1);
    drop(child.stdin.take());
    assert!(exits_soon(&mut child).await.success());
}

#[cfg(unix)]
#[tokio::test]
async fn exits_on_sigterm() {
    let (mut child, addr) = spawn();
    assert_eq!(get(addr, "/_mock/health").await.status(), 200);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    exits_soon(&mut child).await;
}
