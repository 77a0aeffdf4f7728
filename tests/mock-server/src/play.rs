//! Provider-agnostic playback of a scripted response on a connection: JSON replies, resets, hangs,
//! and SSE streams built by a wire-format module as a [`StreamPlan`], with the stream faults
//! (`ttft_ms`, `chunk_delay_ms`, `cut_after`, `stall_after`, `malformed_at`, `error_after`,
//! `no_done`) applied the same way for every provider.

use crate::http::{Conn, Gone};
use crate::script::{CutMode, NoDone, Script};
use crate::stats::Outcome;

/// The events of one streamed response, each already framed (e.g. `data: {...}\n\n`); every
/// event goes out as its own HTTP chunk.
#[derive(Debug, Clone, Default)]
pub struct StreamPlan {
    /// Events before the content (OpenAI: the role chunk). Not counted by the fault options.
    pub head: Vec<Vec<u8>>,
    /// Content events, numbered from 1 by `cut_after`, `stall_after`, `malformed_at`, `error_after`.
    pub content: Vec<Vec<u8>>,
    /// Events after the content (finish chunk, usage chunk).
    pub tail: Vec<Vec<u8>>,
    /// The terminator (OpenAI: `data: [DONE]`), if the format has one.
    pub done: Option<Vec<u8>>,
    /// Sent instead of the content event `malformed_at` names.
    pub malformed: Vec<u8>,
    /// The mid-stream error events sent by `error_after` (followed by `done`).
    pub error: Vec<Vec<u8>>,
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
    conn.pause(script.ttft).await?;

    let total = plan.content.len();
    for sent in 0..=total {
        let at_end = sent == total;
        if sent > 0 && !at_end {
            conn.pause(script.chunk_delay).await?;
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
