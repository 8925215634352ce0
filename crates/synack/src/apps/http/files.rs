//! Mapping request targets to files under the served directory, safely.
//!
//! A target is percent-decoded and split into segments; `..` is refused
//! outright (403) instead of being resolved, and the resulting path is
//! canonicalised (resolving symlinks) and must still lie under the
//! canonical root, so neither `..`, an absolute path nor a symlink can
//! reach outside the directory.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::response::Status;

/// What a target names.
#[derive(Debug)]
pub(crate) enum Resolved {
    /// A regular file (canonical path) and its metadata.
    File(PathBuf, Metadata),
    /// A directory without index.html: list it. The decoded URL path.
    Listing(PathBuf, String),
    /// A directory named without its trailing slash: redirect there, so
    /// relative links inside it resolve (the target with `/` added).
    Redirect(String),
}

/// Entries shown in a directory listing at most.
const MAX_LISTING: usize = 10_000;

/// Resolves `target` (origin-form or absolute-form) under `root`, which
/// must be canonical.
pub(crate) fn resolve(root: &Path, target: &str) -> Result<Resolved, Status> {
    // RFC 9112 §3.2.2: a server MUST accept the absolute-form.
    let target = strip_authority(target).ok_or(Status::BadRequest)?;
    let (path, query) = match target.find(['?', '#']) {
        Some(i) => target.split_at(i),
        None => (target, ""),
    };
    let decoded = percent_decode(path).ok_or(Status::BadRequest)?;
    if decoded.contains(&0) {
        return Err(Status::BadRequest);
    }
    let mut full = root.to_path_buf();
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => return Err(Status::Forbidden),
            seg => full.push(OsStr::from_bytes(seg)),
        }
    }
    let canon = canonical_under(root, &full)?;
    let meta = fs::metadata(&canon).map_err(fs_status)?;
    if meta.is_dir() {
        if !decoded.ends_with(b"/") {
            return Ok(Resolved::Redirect(format!("{path}/{query}")));
        }
        // index.html may itself be a symlink out: check it like any path.
        match canonical_under(root, &canon.join("index.html")) {
            Ok(index) => match fs::metadata(&index) {
                Ok(m) if m.is_file() => return Ok(Resolved::File(index, m)),
                _ => {}
            },
            Err(Status::NotFound) => {}
            Err(e) => return Err(e),
        }
        let shown = String::from_utf8_lossy(&decoded).into_owned();
        return Ok(Resolved::Listing(canon, shown));
    }
    if meta.is_file() {
        return Ok(Resolved::File(canon, meta));
    }
    // FIFOs, sockets, devices: opening one could block or worse.
    Err(Status::Forbidden)
}

/// Canonicalises `path` and checks that it lies under `root`.
fn canonical_under(root: &Path, path: &Path) -> Result<PathBuf, Status> {
    let canon = fs::canonicalize(path).map_err(fs_status)?;
    if canon.starts_with(root) {
        Ok(canon)
    } else {
        Err(Status::Forbidden)
    }
}

fn fs_status(e: io::Error) -> Status {
    match e.kind() {
        io::ErrorKind::PermissionDenied => Status::Forbidden,
        // NotFound, NotADirectory ("/file/x"), symlink loops, ...: nothing there.
        _ => Status::NotFound,
    }
}

/// The path of an origin-form (`/a/b`) or absolute-form
/// (`http://host/a/b`) target; `None` for anything else.
fn strip_authority(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return Some(target);
    }
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        &target[8..]
    } else {
        return None;
    };
    Some(rest.find('/').map_or("/", |i| &rest[i..]))
}

/// RFC 3986 §2.1 percent-decoding; `None` on a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encodes a file name for an href: unreserved bytes stay.
fn percent_encode(name: &[u8]) -> String {
    let mut s = String::with_capacity(name.len());
    for &b in name {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A simple HTML listing of `dir`, sorted by name, directories with `/`.
pub(crate) fn listing(dir: &Path, url_path: &str) -> io::Result<String> {
    let mut entries: Vec<(Vec<u8>, bool)> = Vec::new();
    for e in fs::read_dir(dir)?.take(MAX_LISTING) {
        let Ok(e) = e else { continue };
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        entries.push((e.file_name().as_bytes().to_vec(), is_dir));
    }
    entries.sort();
    let title = html_escape(url_path);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if url_path != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in entries {
        let slash = if is_dir { "/" } else { "" };
        let shown = html_escape(&String::from_utf8_lossy(&name));
        let _ = writeln!(
            html,
            "<li><a href=\"{}{slash}\">{shown}{slash}</a></li>",
            percent_encode(&name)
        );
    }
    html.push_str("</ul></body></html>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_refuses_bad_ones() {
        assert_eq!(percent_decode("/a%20b%2F").unwrap(), b"/a b/");
        assert_eq!(percent_decode("%e2%82%AC").unwrap(), "€".as_bytes());
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
    }

    #[test]
    fn absolute_form_keeps_only_the_path() {
        assert_eq!(strip_authority("http://h:80/x?y"), Some("/x?y"));
        assert_eq!(strip_authority("HTTPS://h"), Some("/"));
        assert_eq!(strip_authority("/p"), Some("/p"));
        assert_eq!(strip_authority("*"), None);
        assert_eq!(strip_authority("p"), None);
    }

    #[test]
    fn encodes_names_for_hrefs() {
        assert_eq!(percent_encode(b"a b&c.txt"), "a%20b%26c.txt");
        assert_eq!(
            html_escape("<a href='x'>&"),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
    }
}
