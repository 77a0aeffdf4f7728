//! The `polyfuse-mock-server` binary, for the Python and Node test suites:
//! `polyfuse-mock-server [--port N] [--host 127.0.0.1] [--format F] [--ignore-stdin]`. Prints
//! `LISTENING http://127.0.0.1:PORT` as its first stdout line, then serves until stdin reaches EOF
//! (so a dead test harness never leaks it), SIGTERM or SIGINT.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

const USAGE: &str =
    "usage: polyfuse-mock-server [--port N] [--host 127.0.0.1|::1|localhost] [--format F] [--ignore-stdin]
  --port N        port to listen on (default 0: an ephemeral port)
  --host H        loopback address to bind (default 127.0.0.1)
  --format F      what /v1/chat/completions speaks by default: openai (default), mistral, openrouter
  --ignore-stdin  do not exit when stdin reaches EOF (e.g. when started with </dev/null)
Prints `LISTENING http://HOST:PORT` first; exits on stdin EOF, SIGTERM or SIGINT.";

struct Args {
    host: IpAddr,
    port: u16,
    flavour: polyfuse_mock_server::Flavour,
    watch_stdin: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        flavour: polyfuse_mock_server::Flavour::OpenAi,
        watch_stdin: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                args.port = v.parse().map_err(|_| format!("invalid port `{v}`"))?;
            }
            "--host" => {
                let v = value()?;
                args.host = match v.as_str() {
                    "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    "::1" | "[::1]" => IpAddr::V6(Ipv6Addr::LOCALHOST),
                    other => other
                        .parse()
                        .map_err(|_| format!("invalid host `{other}`"))?,
                };
                if !args.host.is_loopback() {
                    return Err(format!("--host must be a loopback address, not `{v}`"));
                }
            }
            "--format" => {
                let v = value()?;
                args.flavour = polyfuse_mock_server::Flavour::from_name(&v)
                    .ok_or(format!("invalid format `{v}` (openai|mistral|openrouter)"))?;
            }
            "--ignore-stdin" => args.watch_stdin = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("polyfuse-mock-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("polyfuse-mock-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(args));
    // Exit without waiting for the blocking stdin reader thread.
    std::process::exit(code);
}

async fn run(args: Args) -> i32 {
    let server = match polyfuse_mock_server::start_on(SocketAddr::new(args.host, args.port)).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "polyfuse-mock-server: cannot listen on {}:{}: {e}",
                args.host, args.port
            );
            return 1;
        }
    };
    server.set_flavour(args.flavour);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "LISTENING {}", server.url());
        let _ = out.flush();
    }
    tokio::select! {
        _ = stdin_eof(), if args.watch_stdin => {}
        _ = terminate() => {}
    }
    drop(server);
    0
}

/// Resolves when stdin reaches EOF (or fails).
async fn stdin_eof() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 1024];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
