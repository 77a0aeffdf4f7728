//! Provider-agnostic playback of a scripted response on a connection: the `gate` every format
//! passes first (`fail_times` counting, latency, resets, hangs, the scripted error), JSON replies,
//! and SSE streams built by a wire-format module as a [`StreamPlan`], with the stream faults
//! (`ttft_ms`, `chunk_delay_ms`, `cut_after`, `stall_after`, `malformed_at`, `error_after`,
//! `no_done`) applied the same way for every provider.

use std::time::{Duration, Instant};

use crate::http::{Conn, Gone};
use crate::script::{CutMode, ErrorKind, NoDone, Script};
use crate::stats::{Outcome, Recorder};

/// The events of one streamed response, each already framed (e.g. `data: {...}\n\n`); every
/// event goes out as its own HTTP chunk.
#[derive(Debug, Clone, Default)]
pub struct StreamPlan {
    /// Events before the content (OpenAI: the role chunk). Not counted by the fault options.
    pub head: Vec<Vec<u8>>,
    /// Content events, numbered from 1 by `cut_after`, `stall_after`, `malformed_at`, `error_after`.
    pub content: Vec<Vec<u8>>,
    /// Structural events sent right before content event `i` (same index) and not counted by the
    /// fault options, e.g. Anthropic's `content_block_stop` + `content_block_start` between two
    /// blocks. Shorter than `content` (or empty) means none for the rest.
    pub before: Vec<Vec<Vec<u8>>>,
    /// Events after the content (finish chunk, usage chunk).
    pub tail: Vec<Vec<u8>>,
    /// The terminator (OpenAI: `data: [DONE]`), if the format has one.
    pub done: Option<Vec<u8>>,
    /// Sent instead of the content event `malformed_at` names.
    pub malformed: Vec<u8>,
    /// The mid-stream error events sent by `error_after` (followed by `done`).
    pub error: Vec<Vec<u8>>,
    /// For formats whose last content event also carries the finish (Gemini's last chunk has
    /// `finishReason`; Mistral's streamed tool call comes with `finish_reason` and usage): the
    /// events sent instead of the last content event plus `tail` when the stream ends normally.
    /// When a fault fires at the end (`cut_after`/`stall_after`/`error_after` ≥ the number of
    /// content events), or `malformed_at` names the last one, the plain last content event goes
    /// out and the fault follows it, so a broken stream never shows a finish.
    pub fused_end: Option<Vec<Vec<u8>>>,
    /// The format's keep-alive event (an SSE comment, Anthropic's `ping`), sent by
    /// `keepalive_ms` during the `ttft_ms` and `chunk_delay_ms` waits. Not counted by the faults.
    pub keepalive: Vec<u8>,
}

/// What the provider-neutral part of an exchange decided (steps 4–6 of the README's processing
/// order): the exchange is over, or the format must send this scripted error, or the answer.
pub(crate) enum Gate {
    /// Already handled (`reset`, `hang`, or the client left during `latency_ms`).
    Done(Outcome),
    /// Send this error status and kind, in the format's own body.
    Error(u16, ErrorKind, Script),
    /// Answer normally, with this script (faults dropped if past `fail_times`).
    Answer(Script),
}

/// Counts `key` (`fail_times` drops the faults past the first N), waits `latency_ms` (plus
/// `ttft_ms` unless streaming), then applies `reset`, `hang`, and the scripted error, whose status
/// defaults per kind from `default_status` (a format's own, e.g. Anthropic's 529 overloaded).
pub(crate) async fn gate(
    conn: &mut Conn,
    recorder: &Recorder,
    script: Script,
    key: &str,
    stream: bool,
    default_status: impl Fn(ErrorKind) -> u16,
) -> Gate {
    let count = recorder.count_key(key);
    let script = match script.fail_times {
        Some(n) if count > n => script.without_faults(),
        _ => script,
    };
    let before_headers = if stream {
        script.latency
    } else {
        script.latency + script.ttft
    };
    if conn.pause(before_headers).await.is_err() {
        return Gate::Done(Outcome::ClientGone);
    }
    if script.reset {
        return Gate::Done(reset(conn));
    }
    if script.hang {
        return Gate::Done(hang(conn).await);
    }
    match script.error_response_with(default_status) {
        Some((status, kind)) => Gate::Error(status, kind, script),
        None => Gate::Answer(script),
    }
}

/// Sends a complete response; `Completed`, or `ClientGone` if the write failed.
pub async fn reply(
    conn: &mut Conn,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    keep_alive: bool,
) -> Outcome {
    match conn.send(status, headers, body, keep_alive).await {
        Ok(()) => Outcome::Completed,
        Err(Gone) => Outcome::ClientGone,
    }
}

/// `reset=1`: close with a TCP RST before any response byte.
pub fn reset(conn: &mut Conn) -> Outcome {
    conn.arm_reset();
    Outcome::ServerAbort
}

/// `hang=1`: never answer; returns when the client goes away.
pub async fn hang(conn: &mut Conn) -> Outcome {
    conn.wait_until_gone().await;
    Outcome::ClientGone
}

/// Streams `plan` with status 200 and `headers` (which must include the content type), applying
/// the script's timing and stream faults.
pub async fn stream(
    conn: &mut Conn,
    headers: &[(String, String)],
    plan: &StreamPlan,
    script: &Script,
    keep_alive: bool,
) -> Outcome {
    match stream_inner(conn, headers, plan, script, keep_alive).await {
        Ok(outcome) => outcome,
        Err(Gone) => Outcome::ClientGone,
    }
}

async fn stream_inner(
    conn: &mut Conn,
    headers: &[(String, String)],
    plan: &StreamPlan,
    script: &Script,
    keep_alive: bool,
) -> Result<Outcome, Gone> {
    conn.start_chunked(200, headers, keep_alive).await?;
    for event in &plan.head {
        conn.send_chunk(event).await?;
    }
    wait(conn, script.ttft, plan, script).await?;

    let total = plan.content.len();
    let fault_at_end = [script.cut_after, script.stall_after, script.error_after]
        .iter()
        .any(|k| k.is_some_and(|k| k >= total));
    let fused_end = plan
        .fused_end
        .as_ref()
        .filter(|_| total > 0 && !fault_at_end && script.malformed_at != Some(total));
    for sent in 0..=total {
        let at_end = sent == total;
        if sent > 0 && !at_end {
            wait(conn, script.chunk_delay, plan, script).await?;
        }
        // A fault "after K" fires once K content events are out (or at the end if there are fewer).
        let fires = |k: Option<usize>| k.is_some_and(|k| k == sent || (at_end && k > sent));
        if fires(script.cut_after) {
            conn.mark_broken();
            if script.cut_mode == CutMode::Rst {
                conn.arm_reset();
            }
            return Ok(Outcome::ServerAbort);
        }
        if fires(script.stall_after) {
            conn.wait_until_gone().await;
            return Err(Gone);
        }
        if fires(script.error_after) {
            for event in &plan.error {
                conn.send_chunk(event).await?;
            }
            return finish(conn, plan, script).await;
        }
        if at_end {
            break;
        }
        for event in plan.before.get(sent).into_iter().flatten() {
            conn.send_chunk(event).await?;
        }
        if let (Some(fused), true) = (fused_end, sent + 1 == total) {
            for event in fused {
                conn.send_chunk(event).await?;
            }
            return finish(conn, plan, script).await;
        }
        let event = if script.malformed_at == Some(sent + 1) {
            &plan.malformed
        } else {
            &plan.content[sent]
        };
        conn.send_chunk(event).await?;
    }
    for event in &plan.tail {
        conn.send_chunk(event).await?;
    }
    finish(conn, plan, script).await
}

/// Waits `duration`, watching the socket. With `keepalive_ms=N` it sends the keep-alive event at
/// every multiple of N strictly inside the wait (⌈duration / N⌉ − 1 events, each its own HTTP
/// chunk), on a schedule fixed at the start, so a late wake-up never changes how many are sent.
async fn wait(
    conn: &mut Conn,
    duration: Duration,
    plan: &StreamPlan,
    script: &Script,
) -> Result<(), Gone> {
    let Some(every) = script.keepalive.filter(|_| !plan.keepalive.is_empty()) else {
        return conn.pause(duration).await;
    };
    let start = Instant::now();
    let until = |offset: Duration| (start + offset).saturating_duration_since(Instant::now());
    let mut next = every;
    while next < duration {
        conn.pause(until(next)).await?;
        conn.send_chunk(&plan.keepalive).await?;
        next += every;
    }
    conn.pause(until(duration)).await
}

/// The terminator (unless `no_done`), then the end of the HTTP body.
async fn finish(conn: &mut Conn, plan: &StreamPlan, script: &Script) -> Result<Outcome, Gone> {
    match script.no_done {
        NoDone::Off => {
            if let Some(done) = &plan.done {
                conn.send_chunk(done).await?;
            }
        }
        NoDone::Omit => {}
        NoDone::Hold => {
            conn.wait_until_gone().await;
            return Err(Gone);
        }
    }
    conn.end_chunked().await?;
    Ok(Outcome::Completed)
}
