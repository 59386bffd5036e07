//! A server that accepts connections, reads what arrives and never answers: a stalled git
//! server. Every connection is held until the client closes it or the server is dropped.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct BlackHole {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (accepted, stopping) = (Arc::clone(&accepted), Arc::clone(&stopping));
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let stopping = Arc::clone(&stopping);
                    held.push(std::thread::spawn(move || hold(stream, &stopping)));
                }
                for h in held {
                    let _ = h.join();
                }
            })
        };
        BlackHole {
            addr,
            accepted,
            stopping,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{}", self.addr, repo.trim_start_matches('/'))
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Reads and drops whatever arrives until the peer closes or the server stops.
fn hold(mut stream: TcpStream, stopping: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 4096];
    while !stopping.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if TcpStream::connect(self.addr).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
    }
}
