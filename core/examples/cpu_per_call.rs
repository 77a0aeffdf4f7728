//! CPU time per call of the core alone (no binding), for profiling: runs `--calls` calls at
//! `--concurrency` against an OpenAI-compatible server (e.g. a release `polyfuse-mock-server`)
//! and prints calls/s and the process's CPU µs per call (user + system, from `/proc/self/stat`
//! ticks, so run enough calls). Not a test and not part of the bench's tables.
//!
//!   cargo run --release -p polyfuse-core --example cpu_per_call -- \
//!     --url http://127.0.0.1:PORT/v1 --mode complete|plain|stream|raw-stream|raw-plain [--calls 20000] [--concurrency 50]
use std::time::Instant;

use futures_util::StreamExt;
use polyfuse_core::{Client, Config, Request, StreamEvent};
use serde_json::json;

fn cpu_ticks() -> u64 {
    // Fields 14 and 15 (utime, stime) of /proc/self/stat, in clock ticks (100 per second).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

struct Ctx {
    client: Client,
    raw: reqwest::Client,
    url: String,
    model: String,
    mode: String,
}

fn io(e: reqwest::Error) -> polyfuse_core::Error {
    polyfuse_core::Error::new(polyfuse_core::ErrorKind::Connection, e.to_string())
}

async fn one(ctx: &Ctx) -> Result<usize, polyfuse_core::Error> {
    let (mode, model) = (ctx.mode.as_str(), ctx.model.as_str());
    if mode == "raw-stream" || mode == "raw-plain" {
        // The floor: reqwest alone, the body read chunk by chunk (no SSE or JSON parsing).
        let body = json!({"model": model.trim_start_matches("m/"), "stream": mode == "raw-stream",
            "messages": [{"role": "user", "content": "Say hello"}]});
        let resp = ctx
            .raw
            .post(format!("{}/chat/completions", ctx.url))
            .bearer_auth("sk-bench-123")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(io)?;
        let mut n = 0usize;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            n += chunk.map_err(io)?.len();
        }
        return Ok(n);
    }
    let req = Request::from_values(model, json!("Say hello"), serde_json::Value::Null)?;
    if mode == "stream" {
        let mut s = ctx.client.stream(req);
        let mut n = 0usize;
        while let Some(ev) = s.next().await {
            if let StreamEvent::TextDelta { .. } = ev? {
                n += 1;
            }
        }
        Ok(n)
    } else {
        Ok(ctx.client.complete(req).await?.text.len())
    }
}

#[tokio::main(worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, "--url", "http://127.0.0.1:8000/v1");
    let mode = arg(&args, "--mode", "complete");
    let calls: usize = arg(&args, "--calls", "20000").parse()?;
    let concurrency: usize = arg(&args, "--concurrency", "50").parse()?;
    let words = arg(&args, "--words", "20");
    let mut policy = json!({});
    if mode == "plain" {
        policy = json!({"complete_via_stream": false});
    }
    let config = Config::from_value(json!({
        "env_providers": false,
        "providers": {"m": {"format": "openai", "base_url": url, "api_key": "sk-bench-123"}},
        "policy": policy,
    }))?;
    let client = Client::new(config, Vec::new())?;
    let model = format!("m/bench;words={words}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ctx = std::sync::Arc::new(Ctx {
        client,
        raw: reqwest::Client::new(),
        url: url.clone(),
        model,
        mode: mode.clone(),
    });
    // Warm-up: connections and allocator.
    for _ in 0..200 {
        one(&ctx).await?;
    }
    let t0 = Instant::now();
    let c0 = cpu_ticks();
    let per = calls / concurrency;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                one(&ctx).await?;
            }
            Ok::<(), polyfuse_core::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = t0.elapsed().as_secs_f64();
    let ticks = cpu_ticks() - c0;
    let n = (per * concurrency) as f64;
    println!(
        "mode={mode} c={concurrency} calls={n} calls/s={:.0} cpu_us/call={:.1}",
        n / secs,
        ticks as f64 * 10_000.0 / n
    );
    Ok(())
}
