//! A small loopback HTTP proxy in front of the emulator that can rewrite answers, to stand in for
//! behaviours the emulator lacks (a FAILED Athena query, paged results). Test support only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// One request as received.
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the rewrite hook returns: pass the request upstream, or answer it directly.
pub enum Action {
    Forward,
    /// Forward, then transform the upstream JSON body.
    Transform(Box<dyn FnOnce(serde_json::Value) -> serde_json::Value + Send>),
    Respond(u16, String),
}

type Hook = Arc<dyn Fn(&Request) -> Action + Send + Sync>;

pub struct Proxy {
    pub endpoint: String,
}

impl Proxy {
    pub fn start(
        upstream: &str,
        hook: impl Fn(&Request) -> Action + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let hook: Hook = Arc::new(hook);
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let (upstream, hook) = (upstream.clone(), hook.clone());
                std::thread::spawn(move || serve(client, &upstream, &hook));
            }
        });
        Self { endpoint }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { head, body })
}

fn serve(client: TcpStream, upstream: &str, hook: &Hook) {
    let mut writer = client.try_clone().expect("clone");
    let mut reader = BufReader::new(client);
    while let Some(request) = read_request(&mut reader) {
        let (status, body) = match hook(&request) {
            Action::Respond(status, body) => (status, body.into_bytes()),
            action => {
                let (status, body) = forward(upstream, &request);
                match action {
                    Action::Transform(f) => {
                        let value =
                            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                        (status, f(value).to_string().into_bytes())
                    }
                    _ => (status, body),
                }
            }
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
            return;
        }
    }
}

fn forward(upstream: &str, request: &Request) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(upstream).expect("connect upstream");
    let head: String = request
        .head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    stream
        .write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .and_then(|()| stream.write_all(&request.body))
        .expect("write upstream");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read upstream");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    let status = String::from_utf8_lossy(&response[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    (status, response[split..].to_vec())
}
