//! Server lifecycle through the library API: dropping a server closes its listener and its open
//! connections; `start_background` serves without the caller's runtime.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

#[tokio::test]
async fn drop_closes_listener_and_connections() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let addr = server.addr;
    assert!(server.base_url().ends_with(&format!(":{}/v1", addr.port())));
    let mut c = Client::connect(addr).await;
    c.send_completion(&chat("m;hang=1", "q"), &[]).await;
    eventually("request in flight", || server.stats().in_flight == 1).await;
    drop(server);
    let closed = tokio::time::timeout(Duration::from_secs(3), c.read_to_close()).await;
    assert!(closed.is_ok(), "open connection closed on drop");
    let mut refused = false;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "listener closed on drop");
}

#[test]
fn background_server_without_a_runtime() {
    let server = polyfuse_mock_server::start_background().unwrap();
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    let body = chat("m;text=sync", "q").to_string();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("connection: close\r\n"));
    assert!(response.contains(r#""content":"sync""#));
    assert_eq!(server.stats().completed, 1);
}
