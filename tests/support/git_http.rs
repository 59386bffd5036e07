#![allow(dead_code)]
//! A real git smart-HTTP server for the integration tests and benchmarks.
//!
//! [`GitServer`] runs `git http-backend` (CGI) behind a small HTTP/1.1 server on
//! `127.0.0.1:<ephemeral port>`: one thread per connection, keep-alive, chunked request bodies
//! (libgit2 pushes with them), gzip request bodies (the git CLI compresses upload-pack
//! requests; the backend inflates them), chunked streamed responses (a 100 MB clone never sits
//! in memory), HTTP Basic auth with per-user read/write access, and one-shot faults injected
//! into the next POST of a service.
//!
//! Only `std` is used. Set `FERRY_TEST_SERVER_LOG=1` to have every request (and the backend's
//! own stderr) written to stderr.

use std::collections::{HashMap, VecDeque};

use base64ct::Encoding as _;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The realm announced in `WWW-Authenticate` challenges.
pub const REALM: &str = "ferry-test";

/// Size of the buffers used to move bodies between the client and the backend.
const IO_BUF: usize = 64 * 1024;
/// Longest request line or header line accepted.
const MAX_LINE: u64 = 16 * 1024;
/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 100;
/// How much of a receive-pack response is kept to read the push report from.
const MAX_REPORT_BYTES: usize = 1024 * 1024;
/// An idle keep-alive connection (or a stalled body) is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Fetch and clone only: any receive-pack request is answered `403 Forbidden`.
    Read,
    /// Fetch, clone and push.
    Write,
}

/// A smart-HTTP service: both its `GET <repo>/info/refs?service=<name>` advertisement and its
/// `POST <repo>/<name>` RPC belong to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// `git-upload-pack`: the fetch and clone side.
    UploadPack,
    /// `git-receive-pack`: the push side.
    ReceivePack,
}

impl Service {
    /// The service's wire name, e.g. `git-upload-pack`.
    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }

    fn from_name(name: &str) -> Option<Service> {
        match name {
            "git-upload-pack" => Some(Service::UploadPack),
            "git-receive-pack" => Some(Service::ReceivePack),
            _ => None,
        }
    }
}

/// A failure injected into one POST of a service (see [`GitServer::inject`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)] // the names say when the connection drops
pub enum Fault {
    /// Close the connection without any response after reading the request.
    ///
    /// The backend never runs: a push is *not* applied. While such a fault is queued every
    /// response carries `Connection: close`, so the faulted request arrives on a fresh
    /// connection: curl silently resends a request that died without a byte of answer on a
    /// *reused* connection, which would hide the fault.
    DropBeforeBackend,
    /// Run the backend to completion (a push *is* applied), then send only the response
    /// headers and half of the body, and close.
    DropAfterBackend,
    /// Run the backend, stream the headers and part of the first piece of body (at most 512
    /// bytes), then stop forwarding. The backend is still run to completion (a push is
    /// applied) before the connection is closed, so the client only sees the failure once
    /// the server side is settled.
    DropMidResponse,
    /// Read the request, then answer nothing and keep the connection open (a stalled server):
    /// the backend never runs, so a push is *not* applied. The connection is held until the
    /// client closes it, the server stops, or [`STALL_BOUND`] passes.
    StallBeforeBackend,
    /// Run the backend to completion (a push *is* applied), then answer nothing and keep the
    /// connection open, as [`Fault::StallBeforeBackend`] does: the answer of a push that landed
    /// never arrives.
    StallAfterBackend,
}

/// The longest a stalled connection is held (a bound for the tests, not a timeout under test).
pub const STALL_BOUND: Duration = Duration::from_secs(90);

/// Holds `stream` open without answering until the peer closes it, the server stops, or
/// [`STALL_BOUND`] passes; whatever the peer sends is read and dropped.
fn stall(stream: &TcpStream, shared: &Shared) {
    let started = Instant::now();
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 4096];
    let mut reader = stream;
    while !shared.stopping.load(Ordering::SeqCst) && started.elapsed() < STALL_BOUND {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// One request as the server saw and answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Which TCP connection carried it (1, 2, …): equal ids mean a reused (keep-alive)
    /// connection.
    pub connection: u64,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, still percent-encoded, e.g. `/env.git/info/refs`.
    pub path: String,
    /// The query string without `?` (empty when none).
    pub query: String,
    /// The authenticated user; `None` when authentication failed or the server is anonymous.
    pub user: Option<String>,
    /// The user name the client offered in `Authorization`, whether or not it was accepted.
    pub offered_user: Option<String>,
    /// The status sent; `None` when the connection was closed without any response.
    pub status: Option<u16>,
    /// The smart-HTTP service the request belongs to, if any.
    pub service: Option<Service>,
    /// The fault applied to this request, if one fired.
    pub fault: Option<Fault>,
    /// The request body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The request body came with `Content-Encoding: gzip`.
    pub gzip: bool,
    /// The `Git-Protocol` header (e.g. `version=2`).
    pub git_protocol: Option<String>,
    /// The `User-Agent` header (`git/2.47.3`, `git/2.0 (libgit2 1.9.0)`, …).
    pub user_agent: Option<String>,
    /// For a receive-pack POST answered by the backend: the report-status lines, e.g.
    /// `unpack ok`, `ok refs/heads/main`, `ng refs/heads/main pre-receive hook declined`.
    pub report: Vec<String>,
}

impl Request {
    /// A receive-pack POST whose report says every ref was updated.
    pub fn push_accepted(&self) -> bool {
        push_outcome(&self.report) == Some(true)
    }

    /// A receive-pack POST whose report says the pack or some ref was refused.
    pub fn push_rejected(&self) -> bool {
        push_outcome(&self.report) == Some(false)
    }
}

/// `Some(true)` when a report says every ref was updated, `Some(false)` when something was
/// refused, `None` when there is no report.
fn push_outcome(report: &[String]) -> Option<bool> {
    let unpack_ok = report.iter().any(|l| l == "unpack ok");
    let any_unpack = report.iter().any(|l| l.starts_with("unpack "));
    let ok = report.iter().filter(|l| l.starts_with("ok ")).count();
    let ng = report.iter().filter(|l| l.starts_with("ng ")).count();
    if !any_unpack && ok == 0 && ng == 0 {
        return None;
    }
    Some(unpack_ok && ok > 0 && ng == 0)
}

/// State shared by the server handle, the acceptor and the connection threads.
struct Shared {
    root: PathBuf,
    backend: PathBuf,
    backend_arg: Option<&'static str>,
    users: Mutex<HashMap<String, (String, Access)>>,
    /// More `(user, token, access)` credentials, several per user name allowed (see
    /// [`Credentials`]).
    tokens: Mutex<Vec<(String, String, Access)>>,
    faults: Mutex<HashMap<Service, VecDeque<Fault>>>,
    log: Mutex<Vec<Request>>,
    pushes_accepted: AtomicUsize,
    pushes_rejected: AtomicUsize,
    stopping: AtomicBool,
    verbose: bool,
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not wedge the server.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn record(&self, entry: Request) {
        match push_outcome(&entry.report) {
            Some(true) => {
                self.pushes_accepted.fetch_add(1, Ordering::SeqCst);
            }
            Some(false) => {
                self.pushes_rejected.fetch_add(1, Ordering::SeqCst);
            }
            None => {}
        }
        if self.verbose {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "[git-http] conn {} {} {}{}{} user={:?} status={:?} service={:?} fault={:?} report={:?}",
                    entry.connection,
                    entry.method,
                    entry.path,
                    if entry.query.is_empty() { "" } else { "?" },
                    entry.query,
                    entry.user.as_ref().or(entry.offered_user.as_ref()),
                    entry.status,
                    entry.service,
                    entry.fault,
                    entry.report,
                );
            }
        }
        lock(&self.log).push(entry);
    }

    fn drop_before_backend_queued(&self) -> bool {
        lock(&self.faults)
            .values()
            .any(|q| q.contains(&Fault::DropBeforeBackend))
    }

    fn take_fault(&self, service: Service) -> Option<Fault> {
        lock(&self.faults)
            .get_mut(&service)
            .and_then(VecDeque::pop_front)
    }
}

/// A git smart-HTTP server on `127.0.0.1` serving the bare repositories below a root
/// directory. Dropping it stops accepting, closes every open connection and joins every
/// thread (a backend still running is killed once its connection is gone).
pub struct GitServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl GitServer {
    /// Starts serving the bare repositories below `root` (the backend's `GIT_PROJECT_ROOT`)
    /// on `127.0.0.1` with an ephemeral port. Until [`GitServer::add_user`] is called every
    /// request is allowed anonymously, pushes included.
    pub fn start(root: &Path) -> GitServer {
        let root = root
            .canonicalize()
            .unwrap_or_else(|e| panic!("git server root {}: {e}", root.display()));
        let (backend, backend_arg) = locate_backend();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared {
            root,
            backend,
            backend_arg,
            users: Mutex::new(HashMap::new()),
            tokens: Mutex::new(Vec::new()),
            faults: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            pushes_accepted: AtomicUsize::new(0),
            pushes_rejected: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            verbose: std::env::var_os("FERRY_TEST_SERVER_LOG").is_some_and(|v| v == "1"),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("git-http-accept".into())
                .spawn(move || accept_loop(&listener, &shared))
                .expect("spawn acceptor thread")
        };
        GitServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/<repo>`, e.g. for `repo = "env.git"`.
    pub fn url(&self, repo: &str) -> String {
        format!("{}/{}", self.base_url(), repo.trim_start_matches('/'))
    }

    /// `http://<user>:<token>@127.0.0.1:PORT/<repo>`, both parts percent-encoded: the form the
    /// git CLI takes credentials in.
    pub fn authed_url(&self, repo: &str, user: &str, token: &str) -> String {
        format!(
            "http://{}:{}@{}/{}",
            percent_encode(user),
            percent_encode(token),
            self.addr,
            repo.trim_start_matches('/')
        )
    }

    /// The root directory served.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Adds (or replaces) a Basic-auth user whose password is `token`. From the first call
    /// on, anonymous requests are answered `401`.
    pub fn add_user(&self, user: &str, token: &str, access: Access) {
        lock(&self.shared.users).insert(user.to_owned(), (token.to_owned(), access));
    }

    /// A handle that registers more credentials from anywhere, for as long as it is kept (a
    /// fake forge minting tokens that must also push).
    pub fn credentials(&self) -> Credentials {
        Credentials {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Queues `fault` for the next authorized POST of `service`, from whichever client sends
    /// it (faults of one service fire in the order queued, each exactly once). A POST refused
    /// by auth, and git's authentication probe (a POST whose whole body is the flush packet
    /// `0000`, sent before a chunked push), do not consume a fault; GETs never do. Inject
    /// before the client operation starts: see [`Fault::DropBeforeBackend`] for why. With
    /// protocol v2 (the git CLI's default) even `ls-remote` and the ref listing of a fetch
    /// are upload-pack POSTs.
    pub fn inject(&self, service: Service, fault: Fault) {
        lock(&self.shared.faults)
            .entry(service)
            .or_default()
            .push_back(fault);
    }

    /// Faults queued for `service` that have not fired yet.
    pub fn pending_faults(&self, service: Service) -> Vec<Fault> {
        lock(&self.shared.faults)
            .get(&service)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every request answered so far, oldest first. An entry is recorded before the last byte
    /// of its response is sent (or before its connection is closed), so once a client
    /// command has returned, its requests are all here.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// Forgets the request log (the counters are kept).
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Receive-pack POSTs the backend answered with every ref updated (faulted ones
    /// included when the backend ran).
    pub fn pushes_accepted(&self) -> usize {
        self.shared.pushes_accepted.load(Ordering::SeqCst)
    }

    /// Receive-pack POSTs the backend answered with a refused ref or pack (a declining hook,
    /// a non-fast-forward, a lost ref lock).
    pub fn pushes_rejected(&self) -> usize {
        self.shared.pushes_rejected.load(Ordering::SeqCst)
    }

    /// Requests answered `status`.
    pub fn count_status(&self, status: u16) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.status == Some(status))
            .count()
    }
}

/// Registers credentials with a [`GitServer`] from another thread (see
/// [`GitServer::credentials`]). Unlike [`GitServer::add_user`], one user name may have any
/// number of tokens here, as forges have it: every GitHub App installation token pushes as
/// `x-access-token`, every GitLab token as `oauth2`.
#[derive(Clone)]
pub struct Credentials {
    shared: Arc<Shared>,
}

impl Credentials {
    /// Accepts `token` as a password of `user`, besides any other. From the first credential
    /// on, anonymous requests are answered `401`.
    pub fn add_token(&self, user: &str, token: &str, access: Access) {
        let mut tokens = lock(&self.shared.tokens);
        tokens.retain(|(u, t, _)| !(u == user && t == token));
        tokens.push((user.to_owned(), token.to_owned(), access));
    }

    /// Stops accepting `token` (under any user name) among the credentials added here.
    pub fn remove_token(&self, token: &str) {
        lock(&self.shared.tokens).retain(|(_, t, _)| t != token);
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor blocked in accept(); it sees `stopping` and winds down.
        let woke = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take()
            && woke.is_ok()
        {
            let _ = acceptor.join();
        }
    }
}

/// Writes `hooks/<name>` of the (bare) repository `repo_dir` with `script`, mode 755. A
/// script without a `#!` line is run by `/bin/sh`. What a receive hook prints to stderr
/// reaches the pushing client as `remote:` lines; a `pre-receive` hook exiting non-zero
/// rejects the whole push (`! [remote rejected] main -> main (pre-receive hook declined)`).
pub fn install_hook(repo_dir: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let hooks = repo_dir.join("hooks");
    std::fs::create_dir_all(&hooks).unwrap_or_else(|e| panic!("mkdir {}: {e}", hooks.display()));
    let path = hooks.join(name);
    let text = if script.starts_with("#!") {
        script.to_owned()
    } else {
        format!("#!/bin/sh\n{script}")
    };
    // Write under a temporary name and rename, so a push running meanwhile never sees a
    // half-written hook.
    let tmp = hooks.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", tmp.display()));
    std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("rename {}: {e}", path.display()));
}

/// Removes `hooks/<name>` of `repo_dir`, if present.
pub fn remove_hook(repo_dir: &Path, name: &str) {
    let path = repo_dir.join("hooks").join(name);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", path.display()),
    }
}

/// `<git --exec-path>/git-http-backend`, or `git http-backend` when that is not found.
fn locate_backend() -> (PathBuf, Option<&'static str>) {
    let exec_path = Command::new("git")
        .arg("--exec-path")
        .env_remove("GIT_EXEC_PATH")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if let Some(dir) = exec_path {
        let candidate = Path::new(&dir).join("git-http-backend");
        if candidate.is_file() {
            return (candidate, None);
        }
    }
    (PathBuf::from("git"), Some("http-backend"))
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut connections: Vec<(JoinHandle<()>, TcpStream)> = Vec::new();
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let Ok(control) = stream.try_clone() else {
            continue;
        };
        // Finished connection threads need no joining: forget them.
        connections.retain(|(handle, _)| !handle.is_finished());
        next_id += 1;
        let id = next_id;
        let conn_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("git-http-conn-{id}"))
            .spawn(move || serve_connection(stream, id, &conn_shared));
        if let Ok(handle) = spawned {
            connections.push((handle, control));
        }
    }
    // Unblock every connection thread (reads and writes fail from now on), then wait.
    for (_, control) in &connections {
        let _ = control.shutdown(Shutdown::Both);
    }
    for (handle, _) in connections {
        let _ = handle.join();
    }
}

/// One TCP connection: its buffered read half and a write half.
struct Conn {
    id: u64,
    peer: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn serve_connection(stream: TcpStream, id: u64, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let peer = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".to_owned());
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut conn = Conn {
        id,
        peer,
        reader: BufReader::with_capacity(IO_BUF, stream),
        writer,
    };
    while !shared.stopping.load(Ordering::SeqCst) {
        match handle_request(&mut conn, shared) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
    }
    let _ = conn.writer.shutdown(Shutdown::Both);
}

/// A parsed request line and headers.
struct Head {
    method: String,
    path: String,
    query: String,
    http11: bool,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the client wants the connection kept open after this exchange.
    fn keep_alive(&self) -> bool {
        if self.header_has_token("connection", "close") {
            false
        } else {
            self.http11 || self.header_has_token("connection", "keep-alive")
        }
    }

    /// The smart-HTTP service the request belongs to.
    fn service(&self) -> Option<Service> {
        if self.path.ends_with("/info/refs") {
            self.query
                .split('&')
                .find_map(|kv| kv.strip_prefix("service="))
                .and_then(Service::from_name)
        } else {
            let last = self.path.rsplit('/').next().unwrap_or_default();
            Service::from_name(last)
        }
    }
}

/// Reads one line (through `\n`), at most [`MAX_LINE`] bytes. `Ok(None)` at end of stream.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "line too long or truncated",
        ));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "line is not UTF-8"))
}

fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    // Tolerate stray empty lines between requests (RFC 9112 §2.2).
    let line = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => {}
            Some(l) => break l,
        }
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader)? else {
            return Err(io::ErrorKind::UnexpectedEof.into());
        };
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too many headers",
            ));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad header line",
            ));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(Some(Head {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        http11: version == "HTTP/1.1",
        headers,
    }))
}

/// How the request body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

fn framing(head: &Head) -> Result<Framing, &'static str> {
    if let Some(te) = head.header("transfer-encoding") {
        return if te
            .rsplit(',')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
        {
            Ok(Framing::Chunked)
        } else {
            Err("unsupported transfer-encoding")
        };
    }
    match head.header("content-length") {
        None => Ok(Framing::None),
        Some(v) => match v.parse::<u64>() {
            Ok(0) => Ok(Framing::None),
            Ok(n) => Ok(Framing::Length(n)),
            Err(_) => Err("bad content-length"),
        },
    }
}

/// The request body, decoded from its framing.
enum Body<'a> {
    Empty,
    Buffered(io::Cursor<Vec<u8>>),
    Length(io::Take<&'a mut BufReader<TcpStream>>),
    Chunked(ChunkedReader<'a>),
}

impl<'a> Body<'a> {
    fn new(reader: &'a mut BufReader<TcpStream>, framing: Framing) -> Body<'a> {
        match framing {
            Framing::None => Body::Empty,
            Framing::Length(n) => Body::Length(reader.take(n)),
            Framing::Chunked => Body::Chunked(ChunkedReader {
                inner: reader,
                left: 0,
                done: false,
            }),
        }
    }

    /// Reads and discards the rest of the body; `Ok` means the connection is positioned at
    /// the next request.
    fn drain(&mut self) -> io::Result<()> {
        let expected = match self {
            Body::Length(take) => Some(take.limit()),
            _ => None,
        };
        let copied = io::copy(self, &mut io::sink())?;
        match expected {
            Some(n) if copied < n => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Empty => Ok(0),
            Body::Buffered(c) => c.read(buf),
            Body::Length(take) => {
                let want = take.limit();
                let n = take.read(buf)?;
                if n == 0 && want > 0 && !buf.is_empty() {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(n)
            }
            Body::Chunked(c) => c.read(buf),
        }
    }
}

/// Decodes a `Transfer-Encoding: chunked` body.
struct ChunkedReader<'a> {
    inner: &'a mut BufReader<TcpStream>,
    /// Bytes left in the current chunk.
    left: u64,
    done: bool,
}

impl ChunkedReader<'_> {
    fn bad(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("chunked body: {what}"))
    }
}

impl Read for ChunkedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let line = read_line(self.inner)?.ok_or_else(|| Self::bad("eof before chunk size"))?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| Self::bad("bad chunk size"))?;
            if size == 0 {
                // Trailers, then the empty line ending the body.
                loop {
                    match read_line(self.inner)? {
                        None => return Err(Self::bad("eof in trailers")),
                        Some(l) if l.is_empty() => break,
                        Some(_) => {}
                    }
                }
                self.done = true;
                return Ok(0);
            }
            self.left = size;
        }
        let max = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(Self::bad("eof inside a chunk"));
        }
        self.left -= n as u64;
        if self.left == 0 {
            let mut crlf = [0u8; 2];
            self.inner.read_exact(&mut crlf)?;
            if &crlf != b"\r\n" {
                return Err(Self::bad("chunk not followed by CRLF"));
            }
        }
        Ok(n)
    }
}

/// The outcome of checking a request's credentials.
enum Auth {
    /// No users are configured: everything is allowed.
    Anonymous,
    /// A known user with the right password.
    User(String, Access),
    /// Missing or wrong credentials.
    Denied,
}

/// Checks the `Authorization` header; also returns the user name offered, if any.
fn authenticate(shared: &Shared, header: Option<&str>) -> (Auth, Option<String>) {
    let offered = header
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| base64_decode(rest.trim()))?
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .map(|pair| match pair.split_once(':') {
            Some((u, p)) => (u.to_owned(), p.to_owned()),
            None => (pair, String::new()),
        });
    let users = lock(&shared.users);
    let tokens = lock(&shared.tokens);
    let offered_user = offered.as_ref().map(|(u, _)| u.clone());
    if users.is_empty() && tokens.is_empty() {
        return (Auth::Anonymous, offered_user);
    }
    let auth = match &offered {
        Some((user, password)) => match users.get(user) {
            Some((token, access)) if token == password => Auth::User(user.clone(), *access),
            _ => tokens
                .iter()
                .find(|(u, t, _)| u == user && t == password)
                .map_or(Auth::Denied, |(_, _, access)| {
                    Auth::User(user.clone(), *access)
                }),
        },
        None => Auth::Denied,
    };
    (auth, offered_user)
}

/// Serves one request; `Ok(true)` when the connection may carry another.
fn handle_request(conn: &mut Conn, shared: &Shared) -> io::Result<bool> {
    let head = match read_head(&mut conn.reader) {
        Ok(Some(head)) => head,
        Ok(None) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            let text = format!("bad request: {e}\n");
            send_simple(&mut conn.writer, 400, "Bad Request", &[], &text, false)?;
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let service = head.service();
    let framing = match framing(&head) {
        Ok(f) => f,
        Err(why) => {
            send_simple(&mut conn.writer, 400, "Bad Request", &[], why, false)?;
            return Ok(false);
        }
    };
    let (auth, offered_user) = authenticate(shared, head.header("authorization"));
    let mut entry = Request {
        connection: conn.id,
        method: head.method.clone(),
        path: head.path.clone(),
        query: head.query.clone(),
        user: None,
        offered_user,
        status: None,
        service,
        fault: None,
        chunked: framing == Framing::Chunked,
        gzip: head
            .header("content-encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip")),
        git_protocol: head.header("git-protocol").map(str::to_owned),
        user_agent: head.header("user-agent").map(str::to_owned),
        report: Vec::new(),
    };
    let expects_continue = head.header_has_token("expect", "100-continue");
    if let Auth::User(user, _) = &auth {
        entry.user = Some(user.clone());
    }

    let refusal = match &auth {
        Auth::Denied => Some((
            401,
            "Unauthorized",
            "authentication required: use HTTP Basic auth with a user and its token\n".to_owned(),
        )),
        Auth::User(user, Access::Read) if service == Some(Service::ReceivePack) => Some((
            403,
            "Forbidden",
            format!("user '{user}' has read-only access: pushing needs write access\n"),
        )),
        _ => None,
    };
    if let Some((status, reason, text)) = refusal {
        // Keep the connection only when the body can be skipped without the client waiting
        // for a `100 Continue` that will never come.
        let mut keep = head.keep_alive() && !shared.drop_before_backend_queued();
        if framing != Framing::None {
            if expects_continue {
                keep = false;
            } else {
                keep &= Body::new(&mut conn.reader, framing).drain().is_ok();
            }
        }
        let mut extra = Vec::new();
        if status == 401 {
            extra.push((
                "WWW-Authenticate".to_owned(),
                format!("Basic realm=\"{REALM}\""),
            ));
        }
        entry.status = Some(status);
        shared.record(entry);
        send_simple(&mut conn.writer, status, reason, &extra, &text, keep)?;
        return Ok(keep);
    }
    let remote_user = entry.user.clone();

    if expects_continue && framing != Framing::None {
        conn.writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = Body::new(&mut conn.reader, framing);
    // git's authentication probe before a chunked push: a POST of just a flush packet.
    let mut probe = false;
    if framing == Framing::Length(4) {
        let mut four = vec![0u8; 4];
        body.read_exact(&mut four)?;
        probe = four == b"0000";
        body = Body::Buffered(io::Cursor::new(four));
    }
    let fault = match service {
        Some(s) if head.method == "POST" && !probe => shared.take_fault(s),
        _ => None,
    };
    entry.fault = fault;

    if fault == Some(Fault::DropBeforeBackend) {
        let _ = body.drain();
        shared.record(entry);
        let _ = conn.writer.shutdown(Shutdown::Both);
        return Ok(false);
    }
    if fault == Some(Fault::StallBeforeBackend) {
        let _ = body.drain();
        shared.record(entry);
        stall(&conn.writer, shared);
        return Ok(false);
    }

    let child = spawn_backend(shared, &head, framing, remote_user.as_deref(), &conn.peer);
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = body.drain();
            entry.status = Some(500);
            shared.record(entry);
            let text = format!("cannot run git http-backend: {e}\n");
            send_simple(
                &mut conn.writer,
                500,
                "Internal Server Error",
                &[],
                &text,
                false,
            )?;
            return Ok(false);
        }
    };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("backend stdout is piped");
    let keep_alive = head.keep_alive();
    let writer = &mut conn.writer;
    thread::scope(|scope| {
        let feeder = scope.spawn(move || feed_backend(&mut body, stdin));
        let mut exchange = Exchange {
            shared,
            writer,
            child: &mut child,
            feeder: Some(feeder),
            entry,
            recorded: false,
            keep_alive,
        };
        let result = exchange.respond(stdout, fault);
        if result.is_err() {
            // The client is gone (or the server is stopping): unblock the feeder and stop the
            // backend; nothing more can be said on this connection.
            let _ = exchange.writer.shutdown(Shutdown::Both);
            let _ = exchange.child.kill();
            let _ = exchange.child.wait();
            if let Some(feeder) = exchange.feeder.take() {
                let _ = feeder.join();
            }
            if !exchange.recorded {
                exchange.shared.record(exchange.entry.clone());
            }
        }
        result
    })
}

/// Streams the request body into the backend's stdin, closing it at the end of the body.
/// When the backend stops reading early, the rest of the body is read and discarded so the
/// connection stays usable. Returns whether the whole body was read from the client.
fn feed_backend(body: &mut Body<'_>, stdin: Option<ChildStdin>) -> bool {
    let mut sink = stdin;
    let mut buf = vec![0u8; IO_BUF];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        if let Some(stdin) = sink.as_mut()
            && stdin.write_all(&buf[..n]).is_err()
        {
            sink = None;
        }
    }
}

fn spawn_backend(
    shared: &Shared,
    head: &Head,
    framing: Framing,
    remote_user: Option<&str>,
    peer: &str,
) -> io::Result<Child> {
    let mut cmd = Command::new(&shared.backend);
    if let Some(arg) = shared.backend_arg {
        cmd.arg(arg);
    }
    // Nothing git-related from the test process may leak in (GIT_DIR from a hook, a global
    // config, …); PATH and HOME stay.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(&key);
        }
    }
    for key in [
        "REMOTE_USER",
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "HTTP_CONTENT_ENCODING",
        "HTTP_GIT_PROTOCOL",
        "PATH_TRANSLATED",
    ] {
        cmd.env_remove(key);
    }
    cmd.env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("SERVER_SOFTWARE", "ferry-test-git-http")
        .env("REQUEST_METHOD", &head.method)
        .env("PATH_INFO", percent_decode(&head.path))
        .env("QUERY_STRING", &head.query)
        .env("REMOTE_ADDR", peer);
    if let Some(user) = remote_user {
        cmd.env("REMOTE_USER", user);
    }
    if let Some(ct) = head.header("content-type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    match framing {
        Framing::Length(n) => {
            cmd.env("CONTENT_LENGTH", n.to_string());
        }
        Framing::None if head.method == "POST" => {
            cmd.env("CONTENT_LENGTH", "0");
        }
        // Chunked: no CONTENT_LENGTH, the backend reads its stdin to the end.
        Framing::None | Framing::Chunked => {}
    }
    if let Some(enc) = head.header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(proto) = head.header("git-protocol") {
        cmd.env("GIT_PROTOCOL", proto)
            .env("HTTP_GIT_PROTOCOL", proto);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(if shared.verbose {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    cmd.spawn()
}

/// Writes a complete response with a `Content-Length` body.
fn send_simple(
    w: &mut TcpStream,
    status: u16,
    reason: &str,
    extra: &[(String, String)],
    text: &str,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in extra {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    let _ = write!(
        out,
        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{text}",
        text.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    w.write_all(out.as_bytes())?;
    w.flush()
}

/// The CGI response head.
struct CgiHead {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
}

fn read_cgi_head(out: &mut impl BufRead) -> io::Result<CgiHead> {
    let mut head = CgiHead {
        status: 200,
        reason: "OK".to_owned(),
        headers: Vec::new(),
    };
    loop {
        let Some(line) = read_line(out)? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "backend ended before its headers",
            ));
        };
        if line.is_empty() {
            return Ok(head);
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad CGI header"));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("status") {
            let (code, reason) = value.split_once(' ').unwrap_or((value, ""));
            head.status = code
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad CGI status"))?;
            head.reason = if reason.is_empty() {
                reason_phrase(head.status).to_owned()
            } else {
                reason.to_owned()
            };
        } else if !["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            head.headers.push((name.to_owned(), value.to_owned()));
        }
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Unknown",
    }
}

/// One request being answered by the backend.
struct Exchange<'a, 'scope> {
    shared: &'a Shared,
    writer: &'a mut TcpStream,
    child: &'a mut Child,
    feeder: Option<thread::ScopedJoinHandle<'scope, bool>>,
    /// The log entry; its status is set once the response head is sent.
    entry: Request,
    /// Whether `entry` went to the log already.
    recorded: bool,
    keep_alive: bool,
}

impl Exchange<'_, '_> {
    /// Whether the request body was read to its end (joining the feeder thread).
    fn body_consumed(&mut self) -> bool {
        self.feeder
            .take()
            .is_some_and(|f| f.join().unwrap_or(false))
    }

    /// Waits for the backend and the feeder, then records the log entry.
    fn settle(&mut self, status: u16, body: &[u8]) -> bool {
        let _ = self.child.wait();
        let consumed = self.body_consumed();
        self.entry.status = Some(status);
        if self.entry.method == "POST" && self.entry.service == Some(Service::ReceivePack) {
            self.entry.report = parse_report(body);
        }
        self.shared.record(self.entry.clone());
        self.recorded = true;
        consumed
    }

    fn write_head(&mut self, head: &CgiHead, keep_alive: bool) -> io::Result<()> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", head.status, head.reason);
        for (k, v) in &head.headers {
            let _ = write!(out, "{k}: {v}\r\n");
        }
        let _ = write!(
            out,
            "Transfer-Encoding: chunked\r\nConnection: {}\r\n\r\n",
            if keep_alive { "keep-alive" } else { "close" }
        );
        self.writer.write_all(out.as_bytes())?;
        self.entry.status = Some(head.status);
        Ok(())
    }

    fn write_chunk(&mut self, frame: &mut Vec<u8>, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        frame.clear();
        let _ = write!(frame, "{:x}\r\n", data.len());
        frame.extend_from_slice(data);
        frame.extend_from_slice(b"\r\n");
        self.writer.write_all(frame)
    }

    /// Answers from the backend's output, applying `fault` if any. `Ok(true)` when the
    /// connection can carry another request.
    fn respond(&mut self, stdout: ChildStdout, fault: Option<Fault>) -> io::Result<bool> {
        let mut out = BufReader::with_capacity(IO_BUF, stdout);
        let head = match read_cgi_head(&mut out) {
            Ok(h) => h,
            Err(e) => {
                let _ = io::copy(&mut out, &mut io::sink());
                self.settle(502, &[]);
                let text = format!("git http-backend failed: {e}\n");
                send_simple(self.writer, 502, "Bad Gateway", &[], &text, false)?;
                return Ok(false);
            }
        };
        let keep_report = self.entry.service == Some(Service::ReceivePack);
        let mut report = Vec::new();
        let mut frame = Vec::with_capacity(IO_BUF + 16);
        match fault {
            Some(Fault::DropAfterBackend) => {
                let mut body = Vec::new();
                out.read_to_end(&mut body)?;
                self.settle(head.status, &body);
                self.write_head(&head, false)?;
                let half = body.len() / 2;
                self.write_chunk(&mut frame, &body[..half])?;
                self.writer.flush()?;
                let _ = self.writer.shutdown(Shutdown::Both);
                Ok(false)
            }
            Some(Fault::StallAfterBackend) => {
                let mut body = Vec::new();
                out.read_to_end(&mut body)?;
                self.settle(head.status, &body);
                stall(self.writer, self.shared);
                Ok(false)
            }
            Some(Fault::DropMidResponse) => {
                self.write_head(&head, false)?;
                let first = out.fill_buf()?.to_vec();
                out.consume(first.len());
                let part = (first.len() / 2).min(512);
                self.write_chunk(&mut frame, &first[..part])?;
                self.writer.flush()?;
                // Let the backend finish (its effects are then settled before the client sees
                // the connection drop), without forwarding any more of its output.
                report.extend_from_slice(&first);
                let mut buf = vec![0u8; IO_BUF];
                loop {
                    let n = out.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    if keep_report && report.len() < MAX_REPORT_BYTES {
                        report.extend_from_slice(&buf[..n]);
                    }
                }
                self.settle(head.status, &report);
                let _ = self.writer.shutdown(Shutdown::Both);
                Ok(false)
            }
            Some(Fault::DropBeforeBackend | Fault::StallBeforeBackend) | None => {
                let keep_alive = self.keep_alive && !self.shared.drop_before_backend_queued();
                self.write_head(&head, keep_alive)?;
                // The latest piece of output is held back until the backend has exited and
                // the request is logged: a client reading a complete git answer (which may
                // end before the HTTP body does) then always finds its request in the log,
                // with the backend's effects settled.
                let mut buf = vec![0u8; IO_BUF];
                let mut held = vec![0u8; IO_BUF];
                let mut held_len = 0;
                loop {
                    let n = match out.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    if keep_report && report.len() < MAX_REPORT_BYTES {
                        report.extend_from_slice(&buf[..n]);
                    }
                    self.write_chunk(&mut frame, &held[..held_len])?;
                    std::mem::swap(&mut buf, &mut held);
                    held_len = n;
                }
                let consumed = self.settle(head.status, &report);
                self.write_chunk(&mut frame, &held[..held_len])?;
                self.writer.write_all(b"0\r\n\r\n")?;
                self.writer.flush()?;
                Ok(keep_alive && consumed)
            }
        }
    }
}

/// Splits pkt-lines, skipping flush/delim packets; stops at anything malformed.
fn pkt_lines(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let Some(len) = std::str::from_utf8(&data[..4])
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
        else {
            break;
        };
        if len < 4 {
            data = &data[4..];
            continue;
        }
        if len > data.len() {
            break;
        }
        out.push(&data[4..len]);
        data = &data[len..];
    }
    out
}

/// The report-status lines of a receive-pack response, side-band multiplexed or not.
fn parse_report(body: &[u8]) -> Vec<String> {
    let packets = pkt_lines(body);
    let sideband = packets
        .first()
        .is_some_and(|p| matches!(p.first(), Some(1..=3)));
    let lines: Vec<Vec<u8>> = if sideband {
        let mut band1 = Vec::new();
        for p in &packets {
            if p.first() == Some(&1) {
                band1.extend_from_slice(&p[1..]);
            }
        }
        pkt_lines(&band1).into_iter().map(<[u8]>::to_vec).collect()
    } else {
        packets.into_iter().map(<[u8]>::to_vec).collect()
    };
    lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).trim_end_matches('\n').to_owned())
        .filter(|l| l.starts_with("unpack ") || l.starts_with("ok ") || l.starts_with("ng "))
        .collect()
}

/// Standard base64 (padded, as Basic auth sends it); `None` on anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64ct::Base64::decode_vec(text).ok()
}

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    base64ct::Base64::encode_string(data)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
