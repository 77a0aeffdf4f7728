//! polyfuse-mock-server: a mock LLM provider over real HTTP on loopback, speaking the OpenAI Chat
//! Completions (and its Mistral and OpenRouter flavours), Anthropic Messages and Gemini wire
//! formats as the real API records show, with per-request scripted latency and faults (see
//! README.md for the options). Used by the Rust tests in-process ([`start`]) and by the
//! Python and Node tests as the `polyfuse-mock-server` binary.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = polyfuse_mock_server::start().await?;
//! let base = server.base_url(); // "http://127.0.0.1:PORT/v1"
//! // ... point a client at `base`, model "gpt-4o-mini;chunks=3;ttft_ms=50" ...
//! assert_eq!(server.stats().client_disconnects, 0);
//! # Ok(()) }
//! ```
//!
//! Modules: `http` (the HTTP/1.1 server), `router` (endpoints), `script` (options), `play`
//! (provider-agnostic playback of replies and streams with faults), `answer` (answer text, chunking,
//! tool calls, token counts, ids), `json` (ordered JSON text), the wire formats `openai` (with its
//! flavours `mistral` and `openrouter`), `anthropic` and `gemini`, and `stats` (observations).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod answer;
pub mod anthropic;
pub mod gemini;
pub mod http;
pub mod json;
pub mod mistral;
pub mod openai;
pub mod openrouter;
pub mod play;
pub mod router;
pub mod script;
pub mod stats;

pub use openai::Flavour;
pub use stats::Stats;

/// Listen backlog: enough for a burst of 1,000+ simultaneous connects (the kernel caps it at
/// `net.core.somaxconn`).
const BACKLOG: u32 = 4096;

/// State shared by every connection of one server.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) recorder: stats::Recorder,
    /// The default flavour of `/v1/chat/completions` ([`Flavour::to_u8`]).
    flavour: std::sync::atomic::AtomicU8,
}

impl State {
    pub(crate) fn flavour(&self) -> Flavour {
        Flavour::from_u8(self.flavour.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// A running mock server; it shuts down (closing every connection) when dropped.
pub struct MockServer {
    /// The bound loopback address (with the real port when started on port 0).
    pub addr: SocketAddr,
    state: Arc<State>,
    driver: Driver,
}

enum Driver {
    /// Runs as a task on the caller's runtime.
    Task(JoinHandle<()>),
    /// Runs on its own thread and runtime; the sender stops it.
    Thread(Option<oneshot::Sender<()>>),
}

/// Starts a server on `127.0.0.1` with an ephemeral port, as a task on the current tokio runtime.
pub async fn start() -> io::Result<MockServer> {
    start_on(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await
}

/// Starts a server on the given loopback address (port 0 = ephemeral) on the current runtime.
pub async fn start_on(addr: SocketAddr) -> io::Result<MockServer> {
    let listener = bind(addr)?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State::default());
    let task = tokio::spawn(http::serve(listener, state.clone()));
    Ok(MockServer {
        addr,
        state,
        driver: Driver::Task(task),
    })
}

/// Starts a server on `127.0.0.1` (ephemeral port) on a thread and runtime of its own, so that it
/// keeps serving whatever the caller's runtime does (a current-thread `#[tokio::test]` that blocks,
/// a test without any runtime). Callable from sync or async code.
pub fn start_background() -> io::Result<MockServer> {
    start_background_on(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
}

/// [`start_background`] on the given loopback address.
pub fn start_background_on(addr: SocketAddr) -> io::Result<MockServer> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("polyfuse-mock-server")
        .enable_all()
        .build()?;
    let listener = {
        let _entered = runtime.enter();
        bind(addr)?
    };
    let addr = listener.local_addr()?;
    let state = Arc::new(State::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = state.clone();
    std::thread::Builder::new()
        .name("polyfuse-mock-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    _ = http::serve(listener, served) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime here cancels every connection task.
        })?;
    Ok(MockServer {
        addr,
        state,
        driver: Driver::Thread(Some(stop)),
    })
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "polyfuse-mock-server binds loopback only, not {}",
                addr.ip()
            ),
        ));
    }
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

impl MockServer {
    /// `http://127.0.0.1:PORT/v1`: the base URL an OpenAI client takes.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// `http://127.0.0.1:PORT`, without a path.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the counters (same as `GET /_mock/stats`).
    pub fn stats(&self) -> Stats {
        self.state.recorder.snapshot()
    }

    /// The last logged provider requests, oldest first (same as `GET /_mock/requests`).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.state.recorder.requests()
    }

    /// Sets the flavour `/v1/chat/completions` speaks when a request does not choose one
    /// (`format=` option, `x-mock-format` header). Default: [`Flavour::OpenAi`]. Not changed by
    /// [`MockServer::reset`].
    pub fn set_flavour(&self, flavour: Flavour) {
        self.state
            .flavour
            .store(flavour.to_u8(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Clears counters, per-key counts (`fail_times`) and the request log (same as
    /// `POST /_mock/reset`).
    pub fn reset(&self) {
        self.state.recorder.reset()
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        match &mut self.driver {
            Driver::Task(task) => task.abort(),
            Driver::Thread(stop) => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
            }
        }
    }
}
