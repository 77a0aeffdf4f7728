//! `keepalive_ms=N`: each format's real keep-alive event (SSE comment, OpenRouter's processing
//! comment, Anthropic's `ping`) every N ms during the `ttft_ms` and `chunk_delay_ms` waits, each
//! its own HTTP chunk, not counted by the faults, never sent during a stall, and a client leaving
//! during such a wait still ends the exchange.

mod common;

use std::time::Duration;

use common::*;

/// The keep-alive bytes of each format.
fn keepalive(format: Format) -> &'static [u8] {
    match format {
        Format::OpenAi | Format::Mistral => b": keep-alive\n\n",
        Format::OpenRouter => b": OPENROUTER PROCESSING\n\n",
        Format::Anthropic => b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
        Format::Gemini => b": keep-alive\r\n\r\n",
    }
}

/// Each HTTP chunk as `ka` (exactly the format's keep-alive) or `ev` (anything else).
fn labels(format: Format, r: &Response) -> Vec<&'static str> {
    r.chunks
        .iter()
        .map(|c| {
            if c.as_slice() == keepalive(format) {
                "ka"
            } else {
                "ev"
            }
        })
        .collect()
}

#[tokio::test]
async fn keepalives_fill_the_ttft_and_chunk_delay_waits_in_every_format() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // Waits of 120 ms with a keep-alive every 50 ms: two keep-alives each (at 50 and 100 ms).
    let model = "m;words=2;ttft_ms=120;chunk_delay_ms=120;keepalive_ms=50";
    for format in Format::ALL {
        let r = format.call(server.addr, model, true).await;
        assert_eq!(r.status(), 200, "{format:?}");
        assert!(r.complete, "{format:?}");
        let expected: &[&str] = match format {
            // role, 2 ka, w1, 2 ka, w2, finish, usage, [DONE]
            Format::OpenAi => &["ev", "ka", "ka", "ev", "ka", "ka", "ev", "ev", "ev", "ev"],
            // role, 2 ka, w1, 2 ka, w2, finish with usage, [DONE]
            Format::Mistral => &["ev", "ka", "ka", "ev", "ka", "ka", "ev", "ev", "ev"],
            // 2 processing comments, role, 2 ka, w1, 2 ka, w2, finish, usage, [DONE]
            Format::OpenRouter => &[
                "ka", "ka", "ev", "ka", "ka", "ev", "ka", "ka", "ev", "ev", "ev", "ev",
            ],
            // message_start, content_block_start, the recorded ping, 2 ka, delta, 2 ka, delta,
            // content_block_stop, message_delta, message_stop
            Format::Anthropic => &[
                "ev", "ev", "ka", "ka", "ka", "ev", "ka", "ka", "ev", "ev", "ev", "ev",
            ],
            // 2 ka, w1, 2 ka, w2 with the finish
            Format::Gemini => &["ka", "ka", "ev", "ka", "ka", "ev"],
        };
        assert_eq!(labels(format, &r), expected, "{format:?}: {}", r.text());
        // The events right after the last two pairs of keep-alives carry w1, then w2 (OpenRouter's
        // role chunk also follows a pair: its two processing comments).
        let after_pairs: Vec<String> = r
            .chunks
            .windows(3)
            .filter(|w| {
                w[0].as_slice() == keepalive(format)
                    && w[1].as_slice() == keepalive(format)
                    && w[2].as_slice() != keepalive(format)
            })
            .map(|w| String::from_utf8_lossy(&w[2]).into_owned())
            .collect();
        let [.., first, second] = after_pairs.as_slice() else {
            panic!("{format:?}: {after_pairs:?}")
        };
        assert!(first.contains("\"w1\""), "{format:?}: {first}");
        assert!(second.contains("\" w2\""), "{format:?}: {second}");
    }
}

#[tokio::test]
async fn keepalives_are_not_counted_by_faults_and_stop_at_a_stall() {
    let server = polyfuse_mock_server::start().await.unwrap();
    // cut_after counts content chunks only: the keep-alives during ttft do not move it.
    let r = Format::OpenAi
        .call(
            server.addr,
            "m;words=4;ttft_ms=60;keepalive_ms=25;cut_after=2",
            true,
        )
        .await;
    assert!(!r.complete);
    assert_eq!(labels(Format::OpenAi, &r), ["ev", "ka", "ka", "ev", "ev"]);
    assert_eq!(streamed_text(&chunks_json(&r.events())), "w1 w2");

    // malformed_at=1 names the first content chunk, not a keep-alive.
    let r = Format::Mistral
        .call(
            server.addr,
            "m;words=2;ttft_ms=60;keepalive_ms=25;malformed_at=1",
            true,
        )
        .await;
    assert_eq!(r.chunks[1].as_slice(), keepalive(Format::Mistral));
    assert_eq!(r.chunks[2].as_slice(), keepalive(Format::Mistral));
    assert_eq!(r.chunks[3].as_slice(), b"data: {\"id\": broken-json\n\n");

    // After stall_after the stream is silent: no keep-alives while stalled.
    let mut c = Format::Anthropic
        .send(server.addr, "m;words=3;keepalive_ms=20;stall_after=1", true)
        .await;
    assert_eq!(c.read_head().await.unwrap().status, 200);
    for _ in 0..4 {
        c.next_chunk().await.unwrap().unwrap(); // message_start, block start, ping, w1
    }
    let silent = tokio::time::timeout(Duration::from_millis(150), c.next_chunk()).await;
    assert!(
        silent.is_err(),
        "nothing, not even a ping, during the stall"
    );
    drop(c);
    eventually("stalled client left", || {
        server.stats().client_disconnects == 1
    })
    .await;
}

#[tokio::test]
async fn leaving_during_a_keepalive_wait_ends_the_exchange() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let mut c = Format::Gemini
        .send(server.addr, "m;ttft_ms=30000;keepalive_ms=20", true)
        .await;
    assert_eq!(c.read_head().await.unwrap().status, 200);
    for _ in 0..2 {
        let chunk = c.next_chunk().await.unwrap().unwrap();
        assert_eq!(chunk.as_slice(), keepalive(Format::Gemini));
    }
    drop(c);
    eventually("client disconnect during the keep-alive wait", || {
        let s = server.stats();
        s.client_disconnects == 1 && s.in_flight == 0
    })
    .await;
    assert_eq!(server.stats().completed, 0);
}

#[tokio::test]
async fn bad_values_are_rejected_and_non_streams_ignore_it() {
    let server = polyfuse_mock_server::start().await.unwrap();
    for bad in ["keepalive_ms=0", "keepalive_ms=soon", "keepalive_ms=-5"] {
        let r = Format::OpenAi
            .call(server.addr, &format!("m;{bad}"), true)
            .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(r.json()["error"]["code"], "mock_bad_option", "{bad}");
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("keepalive_ms"));
    }
    let r = Format::Anthropic
        .call(server.addr, "m;keepalive_ms=5;ttft_ms=30", false)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json()["type"], "message");
}
