//! What the fuzz targets share: the request text format of the header and JWS targets.
//!
//! ```text
//! METHOD /path
//! name: value
//! name: value
//!
//! body bytes
//! ```
//!
//! Lines end with `\n` (a `\r` before it is dropped). Header names and values the `http` crate
//! refuses are skipped, as hyper would refuse the request before the adapter saw it; the bytes
//! it accepts (obs-text included) reach the validators as they would in the adapter.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// A request decoded from fuzz input.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: &'a [u8],
}

/// Decodes the request text format; `None` when the first line is not `METHOD path`.
pub fn request(data: &[u8]) -> Option<Request<'_>> {
    let (head, body) = match find(data, b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &data[data.len()..]),
    };
    let mut lines = head.split(|&b| b == b'\n').map(trim_cr);
    let first = std::str::from_utf8(lines.next()?).ok()?;
    let (method, path) = first.split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii_start();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    Some(Request {
        method,
        path: path.to_owned(),
        headers,
        body,
    })
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Splits `data` at the first `0xff` byte (never in UTF-8 text): the selector part and the rest.
pub fn split_ff(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
