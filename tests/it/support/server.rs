//! The one loopback HTTP server of the test suite: on 127.0.0.1 (a free port), on its own thread
//! and runtime, stopped on drop. What it does with a request is a handler (an async closure): stand
//! in for a service, forward to an upstream (the emulator) through [`Upstream`], rewrite the
//! request or the answer on the way. Whatever the handler does, the server RECORDS every exchange
//! (arrival and answer times, method, path, headers, body, status, answer body), so a test asserts
//! on what the binary really sent rather than on what it printed.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// One request as received (its body read whole).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// A query-string parameter of the URL (percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form(self.uri.query().unwrap_or_default()).remove(name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as a form (the AWS query protocol: STS), percent-decoded.
    pub fn form(&self) -> std::collections::BTreeMap<String, String> {
        form(&self.text())
    }

    /// (access key id, region, service) of the SigV4 `Authorization` header.
    pub fn scope(&self) -> Option<Scope> {
        let auth = self.header("authorization")?;
        let credential = auth.split("Credential=").nth(1)?.split(',').next()?;
        let parts: Vec<&str> = credential.split('/').collect();
        (parts.len() >= 5).then(|| Scope {
            access_key: parts[0].into(),
            region: parts[2].into(),
            service: parts[3].into(),
        })
    }

    /// The AWS operation: the `X-Amz-Target` suffix (JSON protocols), the `Action` of a form
    /// (query protocol); empty for REST calls (match on [`Request::path`] for those).
    pub fn action(&self) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().unwrap_or(target).to_string();
        }
        self.form().remove("Action").unwrap_or_default()
    }
}

/// Who signed a request, for which region and service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

/// A `key=value&...` text, percent-decoded (`+` is a space).
pub fn form(text: &str) -> std::collections::BTreeMap<String, String> {
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, "application/json", body)
    }

    pub fn xml(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, "text/xml", body)
    }

    /// An AWS JSON-protocol error (`__type` and `x-amzn-errortype`).
    pub fn aws_error(status: u16, code: &str, message: &str) -> Self {
        let mut reply = Self::json(
            status,
            serde_json::json!({"__type": code, "message": message}).to_string(),
        );
        reply.headers.push(("x-amzn-errortype".into(), code.into()));
        reply
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Rewrite a JSON answer.
    pub fn map_json(mut self, f: impl FnOnce(&mut serde_json::Value)) -> Self {
        let mut value: serde_json::Value =
            serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null);
        f(&mut value);
        self.body = Bytes::from(value.to_string());
        self
    }

    fn into_response(self) -> hyper::Response<Full<Bytes>> {
        let mut builder = hyper::Response::builder().status(self.status);
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        builder
            .body(Full::new(self.body))
            .expect("a valid response")
    }
}

/// One request and what became of it.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: Request,
    /// When the request was read whole, and when its answer was ready (`None`: still pending).
    pub arrived: Instant,
    pub answered: Option<Instant>,
    pub reply: Option<Reply>,
}

impl std::ops::Deref for Exchange {
    type Target = Request;
    fn deref(&self) -> &Request {
        &self.request
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
type Handler = Arc<dyn Fn(Request) -> BoxFuture + Send + Sync>;

#[derive(Default)]
struct Log {
    exchanges: Mutex<Vec<Exchange>>,
    changed: Condvar,
}

/// The server. Cloning its log is cheap enough for tests: read it with [`Server::exchanges`].
pub struct Server {
    pub endpoint: String,
    log: Arc<Log>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serve every request with `handle` (on a runtime of two worker threads).
    pub fn start<F, Fut>(handle: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        Self::with_workers(2, handle)
    }

    /// A recording proxy: every request forwarded to `upstream` as is.
    pub fn recording(upstream: &str) -> Self {
        let upstream = Upstream::new(upstream);
        Self::start(move |req| {
            let upstream = upstream.clone();
            async move { upstream.send(&req).await }
        })
    }

    pub fn with_workers<F, Fut>(workers: usize, handle: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |req| Box::pin(handle(req)));
        let log = Arc::new(Log::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let server_log = log.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a loopback port");
                addr_tx
                    .send(listener.local_addr().expect("local address"))
                    .expect("report the port");
                let serve = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let (handler, log) = (handler.clone(), server_log.clone());
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let (handler, log) = (handler.clone(), log.clone());
                                async move { Ok::<_, Infallible>(serve_one(&handler, &log, req).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = rx => {}
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server started");
        Self {
            endpoint: format!("http://{addr}"),
            log,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Every exchange so far, in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.exchanges.lock().unwrap().clone()
    }

    /// The exchanges of one AWS operation (see [`Request::action`]), in arrival order.
    pub fn calls(&self, action: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.action() == action)
            .collect()
    }

    /// Block until `done` holds for the log (then true), or `timeout` passes (then false). For
    /// synchronising with the binary on an event it causes, never for measuring time.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Exchange]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut log = self.log.exchanges.lock().unwrap();
        loop {
            if done(&log) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            log = self.log.changed.wait_timeout(log, left).unwrap().0;
        }
    }
}

async fn serve_one(
    handler: &Handler,
    log: &Log,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let request = Request {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    };
    let index = {
        let mut exchanges = log.exchanges.lock().unwrap();
        exchanges.push(Exchange {
            request: request.clone(),
            arrived: Instant::now(),
            answered: None,
            reply: None,
        });
        log.changed.notify_all();
        exchanges.len() - 1
    };
    let reply = handler(request).await;
    {
        let mut exchanges = log.exchanges.lock().unwrap();
        exchanges[index].answered = Some(Instant::now());
        exchanges[index].reply = Some(reply.clone());
        log.changed.notify_all();
    }
    reply.into_response()
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where a handler forwards requests (the emulator), through one pooled HTTP client.
#[derive(Clone)]
pub struct Upstream {
    endpoint: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Upstream {
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Relay `req` as received.
    pub async fn send(&self, req: &Request) -> Reply {
        self.send_body(req, req.body.clone()).await
    }

    /// Relay `req` with another body (its length is recomputed).
    pub async fn send_body(&self, req: &Request, body: Bytes) -> Reply {
        let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut forward = hyper::Request::builder()
            .method(req.method.clone())
            .uri(format!("{}{path}", self.endpoint));
        for (k, v) in &req.headers {
            if k != "content-length" {
                forward = forward.header(k, v);
            }
        }
        let forward = forward.body(Full::new(body)).expect("a valid request");
        let response = match self.client.request(forward).await {
            Ok(r) => r,
            Err(e) => return Reply::new(502, "text/plain", format!("upstream unreachable: {e}")),
        };
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Reply {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .filter(|(k, _)| *k != "content-length" && *k != "transfer-encoding")
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body,
        }
    }
}
