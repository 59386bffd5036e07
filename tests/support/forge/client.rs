//! A minimal blocking HTTP/1.1 client for the tests: one request per connection
//! (`Connection: close`), `Content-Length` request bodies, `Content-Length`, chunked or
//! until-close response bodies. Only `std`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a test waits for an answer before giving up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The URL of the `Link` header's `rel="<rel>"` entry.
    pub fn link(&self, rel: &str) -> Option<String> {
        let want = format!("rel=\"{rel}\"");
        self.header("link")?.split(',').find_map(|part| {
            let (url, params) = part.split_once(';')?;
            params.split(';').any(|p| p.trim() == want).then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        })
    }
}

/// Sends `method url` with `headers` and an optional body; `Err` on a network failure or a
/// timeout.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<HttpResponse> {
    request_with_timeout(method, url, headers, body, DEFAULT_TIMEOUT)
}

/// [`request`] with a JSON body.
pub fn send_json(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> io::Result<HttpResponse> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("content-type", "application/json"));
    request(method, url, &all, Some(&bytes))
}

/// [`request`] with a form-encoded body (as the `gitlab` crate sends its parameters).
pub fn send_form(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    pairs: &[(&str, &str)],
) -> io::Result<HttpResponse> {
    let body = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                super::util::percent_encode(k),
                super::util::percent_encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("content-type", "application/x-www-form-urlencoded"));
    request(method, url, &all, Some(body.as_bytes()))
}

/// [`request`] that gives up after `timeout` without an answer.
pub fn request_with_timeout(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "only http:// URLs"))?;
    let (host, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.unwrap_or_default();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ferry-test-client\r\nAccept: */*\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    let status_line = read_line(&mut reader)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader)?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v): &(String, String)| v.clone())
    };
    let mut body = Vec::new();
    if method == "HEAD" || status == 204 || status == 304 {
        // No body.
    } else if find("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let size_line = read_line(&mut reader)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers up to the empty line.
                while !read_line(&mut reader)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = reader.read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
