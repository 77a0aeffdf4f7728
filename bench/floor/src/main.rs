//! The bench's floor: the least a client can do over the same HTTP stack as polyfuse-core
//! (tokio + reqwest with rustls): POST the request, parse the JSON answer (or each SSE event),
//! check the text. Driven by the harness over stdin/stdout in JSON lines exactly like the Python
//! and Node runners (`measure`, `in_flight`, `growth`, `quit`; answers start with `@@bench `).
use std::io::Write;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

const KEY: &str = "sk-bench-123";

/// One call's inputs; `first` is told when a stream's first text arrives.
struct Job {
    model: String,
    expect: String,
    first: Option<Arc<FirstHook>>,
}

/// Counts streams that received their first text; wakes the waiter when all `n` did.
struct FirstHook {
    started: AtomicUsize,
    n: usize,
    all: Notify,
}

#[derive(Clone, Copy)]
enum Op {
    Complete,
    Stream,
}

impl Op {
    fn parse(name: &str) -> Result<Op, String> {
        match name {
            "complete" => Ok(Op::Complete),
            "stream" => Ok(Op::Stream),
            other => Err(format!(
                "the floor has no op '{other}' (it has complete, stream)"
            )),
        }
    }
}

struct Ctx {
    http: reqwest::Client,
    url: String,
}

fn check(text: &str, job: &Job) -> Result<(), String> {
    if text == job.expect {
        Ok(())
    } else {
        Err(format!(
            "unexpected answer {text:?} (expected {:?})",
            job.expect
        ))
    }
}

async fn post(ctx: &Ctx, job: &Job, stream: bool) -> Result<reqwest::Response, String> {
    let body = json!({"model": job.model, "messages": [{"role": "user", "content": "Say the words."}], "stream": stream});
    let res = ctx
        .http
        .post(&ctx.url)
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("HTTP {}", res.status()));
    }
    Ok(res)
}

/// One call; the time to first text (s) for a stream.
async fn call(ctx: &Ctx, job: &Job, op: Op) -> Result<Option<f64>, String> {
    let t0 = Instant::now();
    match op {
        Op::Complete => {
            let bytes = post(ctx, job, false)
                .await?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            check(
                v["choices"][0]["message"]["content"].as_str().unwrap_or(""),
                job,
            )?;
            Ok(None)
        }
        Op::Stream => {
            let mut body = post(ctx, job, true).await?.bytes_stream();
            let mut buf: Vec<u8> = Vec::new();
            let mut text = String::new();
            let mut first = None;
            while let Some(chunk) = body.next().await {
                buf.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
                while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                    let event: Vec<u8> = buf.drain(..end + 2).collect();
                    let data = match event.strip_prefix(b"data: ") {
                        Some(d) if !d.starts_with(b"[DONE]") => d,
                        _ => continue,
                    };
                    let v: Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
                    if let Some(piece) = v["choices"][0]["delta"]["content"].as_str() {
                        if first.is_none() && !piece.is_empty() {
                            first = Some(t0.elapsed().as_secs_f64());
                            if let Some(hook) = &job.first {
                                if hook.started.fetch_add(1, Ordering::SeqCst) + 1 == hook.n {
                                    hook.all.notify_one();
                                }
                            }
                        }
                        text.push_str(piece);
                    }
                }
            }
            check(&text, job)?;
            Ok(first)
        }
    }
}

#[derive(Default)]
struct Samples {
    lat: Vec<f64>,
    ttft: Vec<f64>,
    errors: Vec<String>,
}

async fn run_calls(
    ctx: &Arc<Ctx>,
    job: &Arc<Job>,
    ops: &[Op],
    concurrency: usize,
    max_calls: i64,
    deadline: Option<Instant>,
) -> Samples {
    let left = Arc::new(AtomicI64::new(max_calls));
    let turn = Arc::new(AtomicUsize::new(0));
    let ops: Arc<Vec<Op>> = Arc::new(ops.to_vec());
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (ctx, job, left, turn, ops) = (
            ctx.clone(),
            job.clone(),
            left.clone(),
            turn.clone(),
            ops.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut s = Samples::default();
            while left.fetch_sub(1, Ordering::Relaxed) > 0
                && deadline.is_none_or(|d| Instant::now() < d)
            {
                let op = ops[turn.fetch_add(1, Ordering::Relaxed) % ops.len()];
                let t = Instant::now();
                match call(&ctx, &job, op).await {
                    Ok(first) => {
                        s.lat.push(t.elapsed().as_secs_f64());
                        s.ttft.extend(first);
                    }
                    Err(e) => {
                        s.errors.push(e);
                        if s.errors.len() > 50 && s.lat.is_empty() {
                            break;
                        }
                    }
                }
            }
            s
        }));
    }
    let mut all = Samples::default();
    for w in workers {
        match w.await {
            Ok(s) => {
                all.lat.extend(s.lat);
                all.ttft.extend(s.ttft);
                all.errors.extend(s.errors);
            }
            Err(e) => all.errors.push(format!("worker panicked: {e}")),
        }
    }
    all
}

fn cpu_s() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_SELF covers every thread.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(r.ru_utime) + tv(r.ru_stime)
}

/// (VmRSS, VmHWM) of this process in MB.
fn mem() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn pct(sorted: &[f64], p: f64) -> Value {
    if sorted.is_empty() {
        return Value::Null;
    }
    let k = ((p / 100.0 * sorted.len() as f64 + 0.5).round() as usize).clamp(1, sorted.len()) - 1;
    json!(sorted[k] * 1e3)
}

fn num(cmd: &Value, key: &str, default: f64) -> f64 {
    cmd[key].as_f64().unwrap_or(default)
}

async fn measure(ctx: &Arc<Ctx>, job: Arc<Job>, cmd: &Value) -> Result<Value, String> {
    let op = Op::parse(cmd["op"].as_str().unwrap_or(""))?;
    let concurrency = num(cmd, "concurrency", 1.0) as usize;
    let warm = num(cmd, "warmup_calls", concurrency as f64) as usize;
    let warm_deadline = Instant::now() + Duration::from_secs_f64(num(cmd, "warmup_s", 30.0));
    run_calls(
        ctx,
        &job,
        &[op],
        concurrency,
        warm as i64,
        Some(warm_deadline),
    )
    .await;
    let peak_is_phase = reset_peak_rss();
    let (c0, t0) = (cpu_s(), Instant::now());
    let deadline = t0 + Duration::from_secs_f64(num(cmd, "duration_s", 1.0));
    let mut s = run_calls(
        ctx,
        &job,
        &[op],
        concurrency,
        num(cmd, "max_calls", 1e12) as i64,
        Some(deadline),
    )
    .await;
    let (wall, used) = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
    s.lat.sort_by(f64::total_cmp);
    s.ttft.sort_by(f64::total_cmp);
    let calls = s.lat.len();
    let (rss, hwm) = mem();
    Ok(json!({
        "calls": calls, "errors": s.errors.len(), "first_error": s.errors.first(),
        "wall_s": wall, "cpu_s": used,
        "calls_per_s": if wall > 0.0 { calls as f64 / wall } else { 0.0 },
        "cpu_us_per_call": if calls > 0 { json!(used / calls as f64 * 1e6) } else { Value::Null },
        "p50_ms": pct(&s.lat, 50.0), "p99_ms": pct(&s.lat, 99.0),
        "ttft_p50_ms": pct(&s.ttft, 50.0), "ttft_p99_ms": pct(&s.ttft, 99.0),
        "peak_rss_mb": hwm, "peak_is_phase": peak_is_phase, "rss_mb": rss,
    }))
}

async fn in_flight(ctx: &Arc<Ctx>, job: Arc<Job>, cmd: &Value) -> Result<Value, String> {
    let op = Op::parse(cmd["op"].as_str().unwrap_or(""))?;
    let n = num(cmd, "n", 1.0) as usize;
    run_calls(ctx, &job, &[op], n.min(50), 100, None).await;
    let (before, _) = mem();
    reset_peak_rss();
    let hook = Arc::new(FirstHook {
        started: AtomicUsize::new(0),
        n,
        all: Notify::new(),
    });
    let live = Arc::new(Job {
        model: job.model.clone(),
        expect: job.expect.clone(),
        first: Some(hook.clone()),
    });
    let t0 = Instant::now();
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (ctx, live, errors) = (ctx.clone(), live.clone(), errors.clone());
            tokio::spawn(async move {
                if let Err(e) = call(&ctx, &live, op).await {
                    errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                }
            })
        })
        .collect();
    let wait = Duration::from_secs_f64(num(cmd, "deadline_s", 120.0));
    let reached = tokio::time::timeout(wait, hook.all.notified())
        .await
        .is_ok()
        || hook.started.load(Ordering::SeqCst) == n;
    let ramp = t0.elapsed().as_secs_f64();
    let (during, hwm) = mem();
    for t in tasks {
        let _ = t.await;
    }
    let (after, _) = mem();
    let errors = errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(json!({
        "n": n, "all_in_flight": reached, "in_flight_reached": hook.started.load(Ordering::SeqCst),
        "ramp_s": ramp, "total_s": t0.elapsed().as_secs_f64(),
        "errors": errors.len(), "first_error": errors.first(),
        "rss_before_mb": before, "rss_in_flight_mb": during, "peak_rss_mb": hwm, "rss_after_mb": after,
        "kb_per_stream": (during - before) * 1024.0 / n as f64,
    }))
}

async fn growth(ctx: &Arc<Ctx>, job: Arc<Job>, cmd: &Value) -> Result<Value, String> {
    let ops = cmd["ops"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| Op::parse(o.as_str().unwrap_or("")))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|| Err("growth needs `ops`".into()))?;
    let mut checkpoints: Vec<i64> = cmd["checkpoints"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    checkpoints.sort_unstable();
    let concurrency = num(cmd, "concurrency", 1.0) as usize;
    let (mut done, mut errors, mut first_error, mut points) = (0, 0, None, Vec::new());
    let t0 = Instant::now();
    for cp in checkpoints {
        let s = run_calls(ctx, &job, &ops, concurrency, cp - done, None).await;
        done = cp;
        errors += s.errors.len();
        first_error = first_error.or(s.errors.into_iter().next());
        points.push(json!({"calls": cp, "rss_mb": mem().0, "s": t0.elapsed().as_secs_f64()}));
    }
    Ok(json!({"points": points, "errors": errors, "first_error": first_error}))
}

fn reply(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "@@bench {v}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut base = None;
    while let Some(a) = args.next() {
        if a == "--base-url" {
            base = args.next();
        }
    }
    let Some(base) = base else {
        eprintln!("usage: polyfuse-bench-floor --base-url http://127.0.0.1:PORT/v1");
        std::process::exit(2);
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = match reqwest::Client::builder().tcp_nodelay(true).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench floor: cannot build the HTTP client: {e}");
            std::process::exit(1);
        }
    };
    let ctx = Arc::new(Ctx {
        http,
        url: format!("{base}/chat/completions"),
    });
    reply(
        json!({"ready": true, "client": "floor", "ops": ["complete", "stream"], "versions": {"reqwest": "0.13"}}),
    );
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let cmd: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                reply(json!({"ok": false, "error": format!("bad command: {e}")}));
                continue;
            }
        };
        let name = cmd["cmd"].as_str().unwrap_or("").to_owned();
        if name == "quit" {
            reply(json!({"bye": true}));
            return;
        }
        let job = Arc::new(Job {
            model: cmd["model"].as_str().unwrap_or("").to_owned(),
            expect: cmd["expect"].as_str().unwrap_or("").to_owned(),
            first: None,
        });
        let out = match name.as_str() {
            "measure" => measure(&ctx, job, &cmd).await,
            "in_flight" => in_flight(&ctx, job, &cmd).await,
            "growth" => growth(&ctx, job, &cmd).await,
            other => Err(format!("unknown command '{other}'")),
        };
        match out {
            Ok(Value::Object(mut m)) => {
                m.insert("ok".into(), json!(true));
                reply(Value::Object(m));
            }
            Ok(other) => reply(json!({"ok": true, "value": other})),
            Err(e) => reply(json!({"ok": false, "error": e})),
        }
    }
}
