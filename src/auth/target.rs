//! What is being asked for: the host and path of a guarded request, read once into one
//! canonical form so that access rules and the app cannot see two different requests.
//!
//! Paths: percent-decoded per segment, `.` and empty segments dropped, `..` applied. What
//! would still mean different things to different servers is refused instead of guessed:
//! an encoded `/` or `\`, NUL and other control characters, invalid UTF-8, a `%` left after
//! decoding (double encoding), `..` above the root, and `..;` / `.;` (Tomcat's path
//! parameters). Case is kept; access rules decide how to compare it.
//! Hosts: lower case, without port and without the trailing dot of a fully qualified name.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// Why a request's target was refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadTarget {
    #[error("the path must start with /")]
    NotAbsolute,
    #[error("the path holds an encoded slash or backslash")]
    EncodedSeparator,
    #[error("the path holds a control character")]
    Control,
    #[error("the path is not valid UTF-8 once decoded")]
    InvalidUtf8,
    #[error("the path is encoded twice")]
    DoubleEncoded,
    #[error("the path climbs above the root")]
    AboveRoot,
    #[error("the path has an empty segment before a `..`")]
    EmptyBeforeDots,
    #[error("the path holds a segment that is empty or a dot once its ;parameters go")]
    DotParameter,
    #[error("the host is missing or malformed")]
    BadHost,
    #[error("the URL is malformed")]
    BadUrl,
}

/// One way an app may read a path's segments: ignoring ASCII case (Windows, many routers),
/// and without `;parameters` (Java servlet containers serve `/admin;x=1/` as `/admin/`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub fold_case: bool,
    pub strip_parameters: bool,
}

impl Reading {
    /// Every reading rules are checked under.
    pub const ALL: [Reading; 4] = [
        Reading {
            fold_case: false,
            strip_parameters: false,
        },
        Reading {
            fold_case: true,
            strip_parameters: false,
        },
        Reading {
            fold_case: false,
            strip_parameters: true,
        },
        Reading {
            fold_case: true,
            strip_parameters: true,
        },
    ];
}

/// A path in canonical form: decoded segments, none of them empty, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath {
    segments: Vec<String>,
    /// `/public/` and `/public` are different resources to many apps: kept for forwarding.
    trailing_slash: bool,
}

/// Characters a path segment carries encoded (RFC 3986 pchar, plus what servers misread).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// One raw segment, decoded, or why it cannot be read one way only.
fn read_segment(raw: &str) -> Result<Cow<'_, str>, BadTarget> {
    // Most segments are plain printable ASCII: nothing to decode, nothing to refuse.
    if raw
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'%' | b';' | b'\\'))
    {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes: Vec<u8> = percent_decode_str(raw).collect();
    let segment = String::from_utf8(bytes).map_err(|_| BadTarget::InvalidUtf8)?;
    if segment.contains(['/', '\\']) {
        return Err(BadTarget::EncodedSeparator);
    }
    if segment.chars().any(char::is_control) {
        return Err(BadTarget::Control);
    }
    if segment.contains('%') {
        return Err(BadTarget::DoubleEncoded);
    }
    // Servlet containers strip `;parameters` before they apply dot segments and drop
    // empty segments: `/public/;x/../admin` is `/admin` to them. A segment whose name
    // is empty, `.` or `..` once its parameters go, or a `;` that arrived encoded,
    // reads differently there than here.
    if let Some((name, _)) = segment.split_once(';')
        && matches!(name, "" | "." | "..")
    {
        return Err(BadTarget::DotParameter);
    }
    if raw.contains("%3b") || raw.contains("%3B") {
        return Err(BadTarget::EncodedSeparator);
    }
    Ok(Cow::Owned(segment))
}

impl NormalPath {
    /// Reads a raw request path (no query, no fragment).
    pub fn parse(raw: &str) -> Result<Self, BadTarget> {
        let rest = raw.strip_prefix('/').ok_or(BadTarget::NotAbsolute)?;
        let mut segments: Vec<String> = Vec::new();
        let mut trailing_slash = true;
        let mut empty_seen = false;
        for raw_segment in rest.split('/') {
            let segment = read_segment(raw_segment)?;
            trailing_slash = matches!(&*segment, "" | "." | "..");
            match &*segment {
                "" => empty_seen = true,
                "." => {}
                // `/admin//../public`: servers that merge `//` read `/public`, URL parsers
                // (WHATWG: Node, Deno) keep the empty segment and read `/admin/public`.
                ".." if empty_seen => return Err(BadTarget::EmptyBeforeDots),
                ".." => {
                    segments.pop().ok_or(BadTarget::AboveRoot)?;
                }
                _ => segments.push(segment.into_owned()),
            }
        }
        Ok(Self {
            trailing_slash: trailing_slash && !segments.is_empty(),
            segments,
        })
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether `prefix`'s segments begin this path, as `reading` compares segments.
    pub fn starts_with(&self, prefix: &NormalPath, reading: Reading) -> bool {
        prefix.segments.len() <= self.segments.len()
            && prefix.segments.iter().zip(&self.segments).all(|(p, s)| {
                let s = match reading.strip_parameters {
                    true => s.split_once(';').map_or(s.as_str(), |(name, _)| name),
                    false => s,
                };
                match reading.fold_case {
                    true => p.eq_ignore_ascii_case(s),
                    false => p == s,
                }
            })
    }
}

/// The canonical path, re-encoded: what the built-in proxy sends to the app.
impl fmt::Display for NormalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            write!(f, "/{}", utf8_percent_encode(segment, SEGMENT))?;
        }
        if self.trailing_slash {
            f.write_str("/")?;
        }
        Ok(())
    }
}

/// A host as rules name it: lower case, no port, no trailing dot. `authority` may carry a
/// port (`cam.example.home:443`) or be an IPv6 literal in brackets.
pub fn normalise_host(authority: &str) -> Result<String, BadTarget> {
    // `%` would be decoded into the name by the parser below: one reading only.
    if authority.contains(['@', '%']) {
        return Err(BadTarget::BadHost);
    }
    let host = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(BadTarget::BadHost)?;
        let port = &authority[end + 1..];
        if !(port.is_empty() || valid_port(port.strip_prefix(':').unwrap_or("x"))) {
            return Err(BadTarget::BadHost);
        }
        &authority[..=end]
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if valid_port(port) => host,
            Some(_) => return Err(BadTarget::BadHost),
            None => authority,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.ends_with('.') {
        return Err(BadTarget::BadHost);
    }
    // The usual case, a plain name whose last label starts with a letter (no IP literal,
    // nothing for IDNA to do), is lower-cased as it is.
    let last_label = host.rsplit('.').next().unwrap_or(host);
    let plain = last_label.starts_with(|c: char| c.is_ascii_alphabetic())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host
            .split('.')
            .any(|l| l.is_empty() || l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")));
    if plain {
        return Ok(host.to_ascii_lowercase());
    }
    // IDNA and IP literals the way browsers read them, so `CAM.example.home`, the
    // Unicode and the punycode spellings of one name are one host.
    match url::Host::parse(host) {
        Ok(url::Host::Domain(d)) => Ok(d),
        Ok(ip) => Ok(ip.to_string()),
        Err(_) => Err(BadTarget::BadHost),
    }
}

fn valid_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

/// What a guarded request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub path: NormalPath,
}

impl Target {
    pub fn new(authority: &str, raw_path: &str) -> Result<Self, BadTarget> {
        Ok(Self {
            host: normalise_host(authority)?,
            path: NormalPath::parse(raw_path)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn path(raw: &str) -> Result<String, BadTarget> {
        NormalPath::parse(raw).map(|p| p.to_string())
    }

    #[test]
    fn dot_segments_duplicate_slashes_and_encoding_are_read_once() {
        for (raw, canonical) in [
            ("/", "/"),
            ("//admin", "/admin"),
            ("/./admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/public/../admin/secret.txt", "/admin/secret.txt"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/.%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/public/", "/public/"),
            ("/public/.", "/public/"),
            ("/public/x/..", "/public/"),
            ("/a b/ü", "/a%20b/%C3%BC"),
            ("/cam;jsessionid=1/live", "/cam;jsessionid=1/live"),
        ] {
            assert_eq!(path(raw).as_deref(), Ok(canonical), "{raw}");
        }
    }

    #[test]
    fn what_stays_ambiguous_is_refused() {
        for (raw, why) in [
            (
                "/public%2F..%2Fadmin%2Fsecret.txt",
                BadTarget::EncodedSeparator,
            ),
            ("/public/..%2Fadmin/secret.txt", BadTarget::EncodedSeparator),
            ("/public/..%5Cadmin", BadTarget::EncodedSeparator),
            ("/public\\..\\admin", BadTarget::EncodedSeparator),
            ("/a%00b", BadTarget::Control),
            ("/a%0d%0aX: y", BadTarget::Control),
            ("/%ff", BadTarget::InvalidUtf8),
            ("/%c0%ae%c0%ae/admin", BadTarget::InvalidUtf8),
            ("/public/%252e%252e/admin", BadTarget::DoubleEncoded),
            ("/%zz", BadTarget::DoubleEncoded),
            ("/..", BadTarget::AboveRoot),
            ("/public/../../etc", BadTarget::AboveRoot),
            ("/public/..;/admin", BadTarget::DotParameter),
            ("admin", BadTarget::NotAbsolute),
            ("", BadTarget::NotAbsolute),
        ] {
            assert_eq!(path(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn the_corpus_of_hostile_paths_reads_as_written_down() {
        let corpus = include_str!("../../tests/corpus/paths.txt");
        let lines = corpus
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
        for line in lines {
            let (expected, raw) = line.split_once(char::is_whitespace).unwrap();
            let raw = raw.trim();
            match (expected, path(raw)) {
                ("refuse", Err(_)) => {}
                (canonical, Ok(got)) => assert_eq!(got, canonical, "{raw}"),
                (_, got) => panic!("{raw}: {got:?}"),
            }
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let p = |s| NormalPath::parse(s).unwrap();
        let [exact, folded, stripped, both] = Reading::ALL;
        assert!(p("/public/x").starts_with(&p("/public"), exact));
        assert!(p("/public").starts_with(&p("/public/"), exact));
        assert!(!p("/publicity.txt").starts_with(&p("/public"), both));
        assert!(!p("/Admin").starts_with(&p("/admin"), exact));
        assert!(p("/Admin/x").starts_with(&p("/admin"), folded));
        assert!(!p("/admin;x=1/s").starts_with(&p("/admin"), folded));
        assert!(p("/admin;x=1/s").starts_with(&p("/admin"), stripped));
        assert!(p("/ADMIN;x=1/s").starts_with(&p("/admin"), both));
        assert!(p("/anything").starts_with(&p("/"), exact));
    }

    #[test]
    fn hosts_lose_case_port_and_trailing_dot() {
        for (raw, host) in [
            ("cam.example.home", "cam.example.home"),
            ("CAM.Example.Home:443", "cam.example.home"),
            ("cam.example.home.", "cam.example.home"),
            ("cam.example.home.:8443", "cam.example.home"),
            ("[::1]:80", "[::1]"),
            ("127.0.0.1:8080", "127.0.0.1"),
        ] {
            assert_eq!(normalise_host(raw).as_deref(), Ok(host), "{raw}");
        }
        assert_eq!(
            normalise_host("カメラ.example.home"),
            normalise_host("XN--LCKXFYA.Example.Home.")
        );
        assert!(
            normalise_host("カメラ.example.home")
                .unwrap()
                .starts_with("xn--")
        );
        for bad in [
            "",
            ".",
            "cam.example.home..",
            "user@cam.example.home",
            "cam.example.home:x",
            "cam example",
            "[::1",
            "cam%2eexample.home",
        ] {
            assert_eq!(normalise_host(bad), Err(BadTarget::BadHost), "{bad:?}");
        }
    }

    proptest! {
        /// The canonical form is a fixed point: reading it again changes nothing, so the
        /// app (given the canonical path) and the rules see the same request.
        #[test]
        fn canonical_paths_read_back_unchanged(raw in "(/[a-zA-Z0-9.%;~ü_-]{0,6}){0,6}/?") {
            if let Ok(once) = NormalPath::parse(&raw) {
                let again = NormalPath::parse(&once.to_string()).unwrap();
                prop_assert_eq!(&again, &once);
                for segment in once.segments() {
                    prop_assert!(!segment.is_empty() && segment != "." && segment != "..");
                    prop_assert!(!segment.contains(['/', '\\', '%']));
                }
            }
        }

        /// No input makes the reader panic, and anything accepted starts at the root.
        #[test]
        fn any_input_is_read_or_refused(raw in "\\PC{0,40}") {
            if let Ok(p) = NormalPath::parse(&raw) {
                prop_assert!(p.to_string().starts_with('/'));
            }
            let _ = normalise_host(&raw);
        }

        /// A dot segment, however it is encoded, never survives into a prefix match.
        #[test]
        fn encoded_dots_never_escape_a_prefix(
            dots in prop::sample::select(vec!["..", "%2e%2e", ".%2e", "%2e.", "%2E%2E"]),
            tail in "[a-z]{1,8}",
        ) {
            let raw = format!("/public/{dots}/{tail}");
            let p = NormalPath::parse(&raw).unwrap();
            for reading in Reading::ALL {
                prop_assert!(!p.starts_with(&NormalPath::parse("/public").unwrap(), reading));
            }
        }
    }
}
