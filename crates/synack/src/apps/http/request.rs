//! HTTP/1.1 request heads (RFC 9112 §2-§6): request line, header fields,
//! and the few fields a static file server acts on.

/// Protocol version of a request: HTTP/1.x.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub minor: u8,
}

impl Version {
    /// "HTTP/1.1" or later 1.x: persistent connections by default (RFC 9112 §9.3).
    pub fn persistent_by_default(self) -> bool {
        self.minor >= 1
    }
}

/// A parsed request head, borrowing from the receive buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub version: Version,
    /// `Connection: close` was sent.
    pub close: bool,
    /// `Connection: keep-alive` was sent (meaningful for HTTP/1.0).
    pub keep_alive: bool,
    /// The request body's length (`Content-Length`), 0 without one.
    pub content_length: u64,
}

/// Why a head was refused: the status to answer with. The connection is
/// closed afterwards, since the framing of what follows is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    /// 400: malformed.
    BadRequest(&'static str),
    /// 501: a transfer coding this server does not decode.
    NotImplemented(&'static str),
    /// 505: not HTTP/1.x.
    VersionNotSupported,
    /// 431: too many header fields.
    HeadersTooLarge,
}

/// Header fields accepted per request.
pub(crate) const MAX_HEADERS: usize = 100;

/// Parses a head: the request line and header fields, each line ended by
/// LF with an optional CR before it, without the blank line that ends it.
pub(crate) fn parse(head: &[u8]) -> Result<Head<'_>, Reject> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let (method, target, version) = request_line(first)?;
    let mut h = Head {
        method,
        target,
        version,
        close: false,
        keep_alive: false,
        content_length: 0,
    };
    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut count = 0;
    for line in lines {
        count += 1;
        if count > MAX_HEADERS {
            return Err(Reject::HeadersTooLarge);
        }
        let (name, value) = field(line)?;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            // RFC 9110 §7.6.1: a comma-separated list of options.
            for opt in value.split(',').map(str::trim) {
                h.close |= opt.eq_ignore_ascii_case("close");
                h.keep_alive |= opt.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 §6.3 (5): a list of differing or invalid values is
            // unrecoverable; identical repeats may be treated as one.
            for v in value.split(',').map(str::trim) {
                let n = parse_length(v).ok_or(Reject::BadRequest("invalid Content-Length"))?;
                if content_length.is_some_and(|c| c != n) {
                    return Err(Reject::BadRequest("conflicting Content-Length"));
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // RFC 9112 §6.1: "A server that receives a request message with a
            // transfer coding it does not understand SHOULD respond with 501".
            // Static files take no request body; no decoder here.
            return Err(Reject::NotImplemented(
                "request bodies with Transfer-Encoding",
            ));
        }
    }
    // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
    // code to any HTTP/1.1 request message that lacks a Host header field and
    // to any request message that contains more than one Host header field".
    if hosts > 1 || (hosts == 0 && version.minor >= 1) {
        return Err(Reject::BadRequest("exactly one Host header is required"));
    }
    h.content_length = content_length.unwrap_or(0);
    Ok(h)
}

/// RFC 9112 §3: `method SP request-target SP HTTP-version`.
fn request_line(line: &[u8]) -> Result<(&str, &str, Version), Reject> {
    let bad = Reject::BadRequest("malformed request line");
    let line = std::str::from_utf8(line).map_err(|_| bad)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if !is_token(method) || target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad);
    }
    // RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT (case-sensitive).
    let v = version.as_bytes();
    let [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] = *v else {
        return Err(bad);
    };
    if !major.is_ascii_digit() || !minor.is_ascii_digit() {
        return Err(bad);
    }
    if major != b'1' {
        return Err(Reject::VersionNotSupported);
    }
    Ok((
        method,
        target,
        Version {
            minor: minor - b'0',
        },
    ))
}

/// RFC 9112 §5: `field-name ":" OWS field-value OWS`.
fn field(line: &[u8]) -> Result<(&str, &str), Reject> {
    // §5.2: obs-fold; "A server that receives an obs-fold ... MUST either
    // reject the message by sending a 400 (Bad Request) ..." (we do).
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(Reject::BadRequest("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(Reject::BadRequest("header line without a colon"))?;
    // §5.1: "No whitespace is allowed between the field name and colon";
    // the token check refuses it along with other non-token bytes.
    let name = std::str::from_utf8(&line[..colon]).map_err(|_| Reject::BadRequest("bad name"))?;
    if !is_token(name) {
        return Err(Reject::BadRequest("invalid header name"));
    }
    let value = &line[colon + 1..];
    // CR, LF and NUL are never allowed in a field value (RFC 9110 §5.5).
    if value.iter().any(|&b| b == b'\r' || b == b'\0') {
        return Err(Reject::BadRequest("invalid header value"));
    }
    // Values may carry obs-text (non-ASCII); the fields we read are ASCII,
    // so a lossy view is enough and others are never looked at.
    let value = std::str::from_utf8(value).unwrap_or("");
    Ok((name, value.trim_matches([' ', '\t'])))
}

/// RFC 9110 §5.6.2: `token = 1*tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `Content-Length = 1*DIGIT`, refusing signs, spaces and overflow.
fn parse_length(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(head: &str) -> Head<'_> {
        parse(head.as_bytes()).unwrap()
    }

    fn err(head: &str) -> Reject {
        parse(head.as_bytes()).unwrap_err()
    }

    #[test]
    fn simple_get() {
        let h = ok("GET /index.html HTTP/1.1\r\nHost: a\r\nUser-Agent: x");
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/index.html");
        assert_eq!(h.version, Version { minor: 1 });
        assert!(!h.close);
        assert_eq!(h.content_length, 0);
    }

    #[test]
    fn bare_lf_line_ends_are_accepted() {
        // RFC 9112 §2.2: a recipient MAY recognise a single LF.
        assert_eq!(ok("GET / HTTP/1.1\nHost: a").target, "/");
    }

    #[test]
    fn connection_options_are_a_case_insensitive_list() {
        assert!(ok("GET / HTTP/1.1\r\nHost: a\r\nconnection: Upgrade, CLOSE").close);
        let h = ok("GET / HTTP/1.0\r\nConnection: Keep-Alive");
        assert!(h.keep_alive && !h.close);
    }

    #[test]
    fn http10_needs_no_host() {
        assert_eq!(ok("GET / HTTP/1.0").version, Version { minor: 0 });
    }

    #[test]
    fn http11_without_or_with_two_hosts_is_400() {
        assert!(matches!(err("GET / HTTP/1.1"), Reject::BadRequest(_)));
        assert!(matches!(
            err("GET / HTTP/1.1\r\nHost: a\r\nHost: b"),
            Reject::BadRequest(_)
        ));
    }

    #[test]
    fn malformed_request_lines_are_400() {
        for bad in [
            "GET /",
            "GET  / HTTP/1.1",
            "GET / HTTP/1.1 extra",
            "GET / http/1.1",
            "GET / HTTP/1",
            "GET / HTTP/1.x",
            "G(T / HTTP/1.1",
            "",
            "GET /a\x01b HTTP/1.1",
        ] {
            assert!(
                matches!(
                    parse(format!("{bad}\r\nHost: a").as_bytes()),
                    Err(Reject::BadRequest(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn other_major_versions_are_505() {
        assert_eq!(
            err("GET / HTTP/2.0\r\nHost: a"),
            Reject::VersionNotSupported
        );
    }

    #[test]
    fn malformed_fields_are_400() {
        for bad in [
            "Host : a", "Host a", " folded", "\tfolded", "Ho st: a", "X: a\rb",
        ] {
            let head = format!("GET / HTTP/1.0\r\n{bad}");
            assert!(
                matches!(parse(head.as_bytes()), Err(Reject::BadRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn content_length_is_parsed_and_checked() {
        assert_eq!(
            ok("GET / HTTP/1.0\r\nContent-Length: 12").content_length,
            12
        );
        assert_eq!(
            ok("GET / HTTP/1.0\r\nContent-Length: 5, 5").content_length,
            5
        );
        for bad in ["-1", "+1", "1 2", "", "99999999999999999999999", "0x10"] {
            let head = format!("GET / HTTP/1.0\r\nContent-Length: {bad}");
            assert!(
                matches!(parse(head.as_bytes()), Err(Reject::BadRequest(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            err("GET / HTTP/1.0\r\nContent-Length: 1\r\nContent-Length: 2"),
            Reject::BadRequest(_)
        ));
    }

    #[test]
    fn transfer_encoding_is_501() {
        assert!(matches!(
            err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"),
            Reject::NotImplemented(_)
        ));
    }

    #[test]
    fn too_many_fields_is_431() {
        let mut head = String::from("GET / HTTP/1.1\r\nHost: a");
        for i in 0..MAX_HEADERS {
            head.push_str(&format!("\r\nX-{i}: y"));
        }
        assert_eq!(err(&head), Reject::HeadersTooLarge);
    }
}
