//! A git server that has moved: every request on `127.0.0.1` is answered `302 Found` with a
//! `Location` on another base URL (another host or port), and recorded with whether it carried
//! an `Authorization` header.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request the redirector answered (all of it shown in assertion messages).
#[derive(Clone, Debug)]
#[allow(dead_code, reason = "read through Debug in assertion messages")]
pub struct Seen {
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    pub authorization: bool,
    /// The names of the request's headers, lowercase.
    pub headers: Vec<String>,
}

pub struct Redirector {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Redirector {
    /// Answers every request with a redirect to `to` (`http://host:port`, no trailing slash)
    /// followed by the request's own path and query.
    pub fn start(to: &str) -> Redirector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let to = to.trim_end_matches('/').to_owned();
        let acceptor = {
            let (seen, stopping) = (Arc::clone(&seen), Arc::clone(&stopping));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Some(request) = answer(stream, &to) {
                        seen.lock().expect("log").push(request);
                    }
                }
            })
        };
        Redirector {
            addr,
            seen,
            stopping,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{}", self.addr, repo.trim_start_matches('/'))
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

/// Reads one request head and answers it with the redirect (the connection is then closed).
fn answer(stream: TcpStream, to: &str) -> Option<Seen> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut authorization = false;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        authorization |= header.to_ascii_lowercase().starts_with("authorization:");
        if let Some((name, _)) = header.split_once(':') {
            headers.push(name.trim().to_ascii_lowercase());
        }
    }
    let response = format!(
        "HTTP/1.1 302 Found\r\nLocation: {to}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
    Some(Seen {
        method,
        target,
        authorization,
        headers,
    })
}

impl Drop for Redirector {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if TcpStream::connect(self.addr).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
    }
}
