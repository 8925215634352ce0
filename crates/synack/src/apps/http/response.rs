//! Response heads: status lines, the Date format, content types.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// The statuses this server sends (RFC 9110 §15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    MovedPermanently,
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    ContentTooLarge,
    UriTooLong,
    HeaderFieldsTooLarge,
    InternalError,
    NotImplemented,
    VersionNotSupported,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::MovedPermanently => 301,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::ContentTooLarge => 413,
            Status::UriTooLong => 414,
            Status::HeaderFieldsTooLarge => 431,
            Status::InternalError => 500,
            Status::NotImplemented => 501,
            Status::VersionNotSupported => 505,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::MovedPermanently => "Moved Permanently",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::ContentTooLarge => "Content Too Large",
            Status::UriTooLong => "URI Too Long",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalError => "Internal Server Error",
            Status::NotImplemented => "Not Implemented",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

/// Builds a response head. Every response carries Date and Server (RFC 9110
/// §6.6.1: an origin server with a clock MUST send Date) and a
/// Content-Length, so the client always knows where the body ends.
pub(crate) struct HeadBuilder {
    buf: String,
}

impl HeadBuilder {
    pub fn new(status: Status, server: &str, now: SystemTime) -> Self {
        let mut buf = String::with_capacity(256);
        // Infallible: fmt::Write for String never fails.
        let _ = write!(
            buf,
            "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: {server}\r\n",
            status.code(),
            status.reason(),
            http_date(now)
        );
        Self { buf }
    }

    pub fn header(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        let _ = write!(self.buf, "{name}: {value}\r\n");
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push_str("\r\n");
        self.buf.into_bytes()
    }
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 9110 §5.6.7 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. Times
/// before 1970 are shown as the epoch.
pub(crate) fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wday = DAYS[((days + 4) % 7) as usize];
    format!(
        "{wday}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Gregorian (year, month 1-12, day 1-31) of a day count since 1970-01-01.
/// Counts in 400-year cycles (146,097 days) starting on 1 March, so the
/// leap day falls at the end of each counted year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Days from 0000-03-01 to 1970-01-01.
    let z = days + 719_468;
    let cycle = z / 146_097;
    let doc = z % 146_097; // day of cycle
    // Year of cycle: 365 days a year, minus the leap days already passed.
    let yoc = (doc - doc / 1460 + doc / 36_524 - doc / 146_096) / 365;
    let doy = doc - (365 * yoc + yoc / 4 - yoc / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // month from March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = cycle * 400 + yoc + u64::from(m <= 2);
    (y, m, d)
}

/// Content-Type by file extension (case-insensitive); unknown types are
/// `application/octet-stream`, which browsers download rather than render.
pub(crate) fn content_type(ext: Option<&str>) -> &'static str {
    let ext = ext.map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt" | "text" | "log") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        Some("ico") => "image/vnd.microsoft.icon",
        Some("mp4") => "video/mp4",
        Some("woff2") => "font/woff2",
        Some("pcap") => "application/vnd.tcpdump.pcap",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        http_date(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn rfc_9110_example_date() {
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn epoch_and_leap_days() {
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_709_164_799), "Wed, 28 Feb 2024 23:59:59 GMT");
        assert_eq!(at(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(at(1_709_251_200), "Fri, 01 Mar 2024 00:00:00 GMT");
        assert_eq!(at(4_102_444_800), "Fri, 01 Jan 2100 00:00:00 GMT");
    }

    #[test]
    fn head_has_status_date_server_and_blank_line() {
        let h = HeadBuilder::new(Status::NotFound, "synack", UNIX_EPOCH)
            .header("Content-Length", 0)
            .finish();
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "HTTP/1.1 404 Not Found\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Server: synack\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type(Some("HTML")), "text/html; charset=utf-8");
        assert_eq!(content_type(Some("png")), "image/png");
        assert_eq!(content_type(Some("bin")), "application/octet-stream");
        assert_eq!(content_type(None), "application/octet-stream");
    }
}
