//! `postgres://` and `postgresql://` URLs: read them as Rails does, rewrite
//! their host, port, user or password without touching any other byte, and
//! show them with the password hidden.
//!
//! Why byte for byte: with `DATABASE_URL` set, the PgBouncer bypass cannot
//! use `DB_PORT`; it must hand Rails the same URL with another host or port.
//! Re-serialising a parsed URL would re-encode the password and reorder or
//! normalise the query, and a changed `sslmode=` spelling or password
//! encoding is a different connection. So parsing keeps the byte span of
//! every part, and a rewrite splices new text into exactly those spans.
//!
//! How Rails reads one (`ActiveRecord::DatabaseConfigurations::
//! ConnectionUrlResolver`): query parameters win over the URL's own parts
//! (`query_hash.reverse_merge(username:, password:, port:, database:,
//! host:)`), blank values are then dropped (`compact_blank`), and what is
//! left is percent-decoded (`URI::Parser#unescape`: `%XX` only, `+` stays).
//! The "effective" accessors below follow that, and a rewrite edits the part
//! that is in effect: `?host=/var/run/postgresql` rather than the authority.
//! Errors never quote the URL: a password with a stray `/` or `@` ends up in
//! whatever part a parser thinks it is.

use std::fmt;
use std::ops::Range;

/// Why a URL cannot be used. Carries no part of the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not `postgres://` or `postgresql://`.
    Scheme,
    /// `postgres:` without `//` and an authority.
    NoAuthority,
    /// More than one `@` before the host: a raw `@` in the password.
    UnencodedAt,
    /// `[` without `]` around an IPv6 address, or text after the `]`.
    BadIpv6,
    /// The port is not a number from 1 to 65535.
    BadPort,
    /// `a=1&&b=2` or `?&a=1`: Rails' `Hash[…]` raises on the empty pair.
    EmptyQueryParameter,
    /// A part decodes to bytes that are not UTF-8.
    NotUtf8 { part: &'static str },
    /// A new host for [`rewrite`] that is empty or cannot be written.
    BadNewHost,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Scheme => f.write_str("it does not start with postgres:// or postgresql://"),
            UrlError::NoAuthority => f.write_str("it has no // after the scheme"),
            UrlError::UnencodedAt => f.write_str(
                "it has more than one @ before the host; write an @ inside the user or password as %40",
            ),
            UrlError::BadIpv6 => {
                f.write_str("its IPv6 host is not of the form [address] or [address]:port")
            }
            UrlError::BadPort => f.write_str(
                "its port is not a number from 1 to 65535 (a / ? # or @ inside the password must be \
                 percent-encoded, or the parser reads past it)",
            ),
            UrlError::EmptyQueryParameter => f.write_str(
                "its query has an empty parameter (a doubled or leading &), which Rails rejects",
            ),
            UrlError::NotUtf8 { part } => write!(f, "its {part} does not decode to UTF-8"),
            UrlError::BadNewHost => f.write_str("the new host is empty or not a valid host"),
        }
    }
}

impl std::error::Error for UrlError {}

/// One `key[=value]` of the query, as byte spans of the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryParam {
    pub key: Range<usize>,
    /// `None` for a bare `key` without `=`.
    pub value: Option<Range<usize>>,
}

/// A parsed URL: byte spans into the original text, nothing decoded yet.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl<'a> {
    text: &'a str,
    pub scheme: Range<usize>,
    /// Between `//` and the first `/`, `?` or `#`.
    pub authority: Range<usize>,
    /// The user part of the userinfo (may be empty), when there is an `@`.
    pub user: Option<Range<usize>>,
    /// After the userinfo's first `:`.
    pub password: Option<Range<usize>>,
    /// The host, brackets included for IPv6; may be empty.
    pub host: Range<usize>,
    /// The digits after the host's `:`; may be empty (`host:`).
    pub port: Option<Range<usize>>,
    /// From the `/` before the database name; may be empty.
    pub path: Range<usize>,
    /// After `?`.
    pub query: Option<Range<usize>>,
    pub params: Vec<QueryParam>,
    /// After `#`; Rails ignores it.
    pub fragment: Option<Range<usize>>,
}

// The password is in the text: Debug shows the redacted form only.
impl fmt::Debug for DatabaseUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&redacted(self.text))
            .finish()
    }
}

/// Parses a PostgreSQL URL into spans.
pub fn parse(url: &str) -> Result<DatabaseUrl<'_>, UrlError> {
    let colon = url.find(':').ok_or(UrlError::Scheme)?;
    let scheme = &url[..colon];
    // ActiveRecord.protocol_adapters maps postgres to postgresql; URI
    // schemes are case-insensitive.
    if !scheme.eq_ignore_ascii_case("postgres") && !scheme.eq_ignore_ascii_case("postgresql") {
        return Err(UrlError::Scheme);
    }
    if !url[colon + 1..].starts_with("//") {
        return Err(UrlError::NoAuthority);
    }
    let auth_start = colon + 3;
    let auth_end = find_from(url, auth_start, &['/', '?', '#']);
    let authority = &url[auth_start..auth_end];

    let (user, password, host_start) = match authority.find('@') {
        Some(at) => {
            if authority[at + 1..].contains('@') {
                return Err(UrlError::UnencodedAt);
            }
            let userinfo_end = auth_start + at;
            let (user, password) = match authority[..at].find(':') {
                Some(c) => (
                    auth_start..auth_start + c,
                    Some(auth_start + c + 1..userinfo_end),
                ),
                None => (auth_start..userinfo_end, None),
            };
            (Some(user), password, userinfo_end + 1)
        }
        None => (None, None, auth_start),
    };

    let host_port = &url[host_start..auth_end];
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port.find(']').ok_or(UrlError::BadIpv6)?;
        let host = host_start..host_start + close + 1;
        let rest = &host_port[close + 1..];
        if rest.is_empty() {
            (host, None)
        } else if rest.starts_with(':') {
            (host, Some(host_start + close + 2..auth_end))
        } else {
            return Err(UrlError::BadIpv6);
        }
    } else {
        match host_port.find(':') {
            Some(c) => (
                host_start..host_start + c,
                Some(host_start + c + 1..auth_end),
            ),
            None => (host_start..auth_end, None),
        }
    };
    // URI's port is `\d*`; the range is checked where the port is used.
    if let Some(p) = &port
        && !url[p.clone()].bytes().all(|b| b.is_ascii_digit())
    {
        return Err(UrlError::BadPort);
    }

    let path_end = find_from(url, auth_end, &['?', '#']);
    let path = auth_end..path_end;
    let (query, query_end) = if url[path_end..].starts_with('?') {
        let end = find_from(url, path_end + 1, &['#']);
        (Some(path_end + 1..end), end)
    } else {
        (None, path_end)
    };
    let fragment = url[query_end..]
        .starts_with('#')
        .then(|| query_end + 1..url.len());
    let params = match &query {
        Some(q) => query_params(url, q.clone())?,
        None => Vec::new(),
    };

    Ok(DatabaseUrl {
        text: url,
        scheme: 0..colon,
        authority: auth_start..auth_end,
        user,
        password,
        host,
        port,
        path,
        query,
        params,
        fragment,
    })
}

fn find_from(s: &str, from: usize, stops: &[char]) -> usize {
    s[from..].find(stops).map_or(s.len(), |i| from + i)
}

/// `(@query || "").split("&").map { |pair| pair.split("=", 2) }`: Ruby's
/// `split` drops trailing empty pieces; an empty piece elsewhere makes
/// `Hash[…]` raise.
fn query_params(url: &str, query: Range<usize>) -> Result<Vec<QueryParam>, UrlError> {
    let mut pieces = Vec::new();
    let mut start = query.start;
    for (i, b) in url[query.clone()].bytes().enumerate() {
        if b == b'&' {
            pieces.push(start..query.start + i);
            start = query.start + i + 1;
        }
    }
    pieces.push(start..query.end);
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
        .into_iter()
        .map(|piece| {
            if piece.is_empty() {
                return Err(UrlError::EmptyQueryParameter);
            }
            Ok(match url[piece.clone()].find('=') {
                Some(eq) => QueryParam {
                    key: piece.start..piece.start + eq,
                    value: Some(piece.start + eq + 1..piece.end),
                },
                None => QueryParam {
                    key: piece,
                    value: None,
                },
            })
        })
        .collect()
}

impl<'a> DatabaseUrl<'a> {
    fn param(&self, key: &str) -> Option<usize> {
        // Rails symbolises the raw key: `%68ost` is not `host`.
        self.params
            .iter()
            .rposition(|p| &self.text[p.key.clone()] == key)
    }

    /// The raw text in effect for a setting: `None` when absent or blank,
    /// which leaves the setting to `config/database.yml`.
    fn effective_raw(&self, key: &str, part: Option<Range<usize>>) -> Option<&'a str> {
        // The last query parameter with the Rails key wins (`Hash[…]`),
        // else the URL's own part, if it has one.
        let span = match self.param(key) {
            Some(i) => self.params[i].value.clone(),
            None => part,
        }?;
        let raw = &self.text[span];
        // ActiveSupport's blank?: empty or whitespace only.
        (!raw.chars().all(char::is_whitespace)).then_some(raw)
    }

    fn effective(&self, key: &str, part: Option<Range<usize>>) -> Result<Option<String>, UrlError> {
        self.effective_raw(key, part)
            .map(|raw| decode(raw, key))
            .transpose()
    }

    /// The host Rails would use, brackets removed (`URI#hostname`); a value
    /// starting with `/` is a Unix socket directory. `None`: the URL leaves
    /// it to `DB_HOST`.
    pub fn host(&self) -> Result<Option<String>, UrlError> {
        let host = self.effective("host", Some(self.host.clone()))?;
        Ok(host.map(
            |h| match h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                Some(inner) => inner.to_owned(),
                None => h,
            },
        ))
    }

    /// The socket directory from `?host=/…`, when that is where the host is.
    #[cfg(test)]
    pub fn socket_dir(&self) -> Result<Option<String>, UrlError> {
        Ok(self.host()?.filter(|h| h.starts_with('/')))
    }

    pub fn port(&self) -> Result<Option<u16>, UrlError> {
        self.effective("port", self.port.clone())?
            .map(|p| match p.trim().parse::<u16>() {
                Ok(port) if port != 0 => Ok(port),
                _ => Err(UrlError::BadPort),
            })
            .transpose()
    }

    pub fn user(&self) -> Result<Option<String>, UrlError> {
        self.effective("username", self.user.clone())
    }

    pub fn password(&self) -> Result<Option<String>, UrlError> {
        self.effective("password", self.password.clone())
    }

    /// `?sslmode=…`, which Rails passes to libpq.
    pub fn sslmode(&self) -> Result<Option<String>, UrlError> {
        self.effective("sslmode", None)
    }

    /// The path without its leading `/`.
    pub fn database(&self) -> Result<Option<String>, UrlError> {
        let path = (!self.path.is_empty()).then(|| {
            let skip = usize::from(self.text[self.path.clone()].starts_with('/'));
            self.path.start + skip..self.path.end
        });
        self.effective("database", path)
    }
}

/// `URI::Parser#unescape`: valid `%XX` sequences only; anything else stays.
fn decode(raw: &str, part: &str) -> Result<String, UrlError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            let h = std::str::from_utf8(h).ok()?;
            u8::from_str_radix(h, 16)
                .ok()
                .filter(|_| h.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::NotUtf8 {
        part: match part {
            "host" => "host",
            "port" => "port",
            "username" => "user",
            "password" => "password",
            _ => "database name",
        },
    })
}

/// Percent-encodes all but RFC 3986 unreserved characters and `keep`.
pub fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A new host as it goes into the authority: IPv6 literals in brackets.
fn authority_host(host: &str) -> Result<String, UrlError> {
    if host.is_empty() || host.starts_with('/') {
        return Err(UrlError::BadNewHost);
    }
    if host.contains(':') {
        let inner = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let (address, zone) = match inner.split_once('%') {
            Some((a, z)) => (a, Some(z)),
            None => (inner, None),
        };
        let valid = !address.is_empty()
            && address
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid {
            return Err(UrlError::BadNewHost);
        }
        return Ok(match zone {
            Some(zone) => format!("[{address}%25{}]", encode(zone, b"")),
            None => format!("[{address}]"),
        });
    }
    Ok(encode(host, b""))
}

/// Text spliced into the URL: replace `range` (empty for an insertion).
struct Edit {
    range: Range<usize>,
    text: String,
}

/// The URL with only the given parts replaced; every other byte is kept.
///
/// Each part is written where Rails reads it from: a `host=`, `port=`,
/// `username=` or `password=` query parameter when the URL has one, the
/// authority otherwise. A socket directory (a host starting with `/`)
/// cannot live in the authority, so it goes into `?host=`, added when
/// missing. A missing port or userinfo is inserted. A `Some("")` password
/// is written as empty, which Rails treats as "no password in the URL" and
/// then takes `DB_PASS`.
pub fn rewrite(
    url: &str,
    host: Option<&str>,
    port: Option<u16>,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<String, UrlError> {
    let parsed = parse(url)?;
    let mut edits = Vec::new();
    let mut socket_param = None;

    let user_param = parsed.param("username");
    let password_param = parsed.param("password");
    if let (Some(user), Some(i)) = (user, user_param) {
        edits.push(param_edit(&parsed, i, &encode(user, b"")));
    }
    if let (Some(password), Some(i)) = (password, password_param) {
        edits.push(param_edit(&parsed, i, &encode(password, b"")));
    }
    let user = user.filter(|_| user_param.is_none());
    let password = password.filter(|_| password_param.is_none());
    match &parsed.user {
        Some(user_span) => {
            if let Some(user) = user {
                edits.push(Edit {
                    range: user_span.clone(),
                    text: encode(user, b""),
                });
            }
            if let Some(password) = password {
                edits.push(match &parsed.password {
                    Some(span) => Edit {
                        range: span.clone(),
                        text: encode(password, b""),
                    },
                    None => Edit {
                        range: user_span.end..user_span.end,
                        text: format!(":{}", encode(password, b"")),
                    },
                });
            }
        }
        None if user.is_some() || password.is_some() => {
            let mut userinfo = encode(user.unwrap_or(""), b"");
            if let Some(password) = password {
                userinfo.push(':');
                userinfo.push_str(&encode(password, b""));
            }
            userinfo.push('@');
            edits.push(Edit {
                range: parsed.authority.start..parsed.authority.start,
                text: userinfo,
            });
        }
        None => {}
    }

    if let Some(host) = host {
        if host.is_empty() {
            return Err(UrlError::BadNewHost);
        }
        match parsed.param("host") {
            Some(i) => edits.push(param_edit(&parsed, i, &encode(host, b"/:"))),
            None if host.starts_with('/') => {
                socket_param = Some(format!("host={}", encode(host, b"/:")));
            }
            None => edits.push(Edit {
                range: parsed.host.clone(),
                text: authority_host(host)?,
            }),
        }
    }

    if let Some(port) = port {
        if port == 0 {
            return Err(UrlError::BadPort);
        }
        match (parsed.param("port"), &parsed.port) {
            (Some(i), _) => edits.push(param_edit(&parsed, i, &port.to_string())),
            (None, Some(digits)) => edits.push(Edit {
                range: digits.clone(),
                text: port.to_string(),
            }),
            (None, None) => edits.push(Edit {
                range: parsed.host.end..parsed.host.end,
                text: format!(":{port}"),
            }),
        }
    }

    if let Some(added) = socket_param {
        edits.push(match &parsed.query {
            Some(q) if !q.is_empty() => Edit {
                range: q.end..q.end,
                text: format!("&{added}"),
            },
            Some(q) => Edit {
                range: q.end..q.end,
                text: added,
            },
            None => Edit {
                range: parsed.path.end..parsed.path.end,
                text: format!("?{added}"),
            },
        });
    }

    Ok(splice(url, edits))
}

/// `url` with each edit's range replaced by its text.
fn splice(url: &str, mut edits: Vec<Edit>) -> String {
    // Insertions can share a position (`postgres://` + user, host and port
    // all land at one offset): the order they were pushed in is the order
    // of the parts in a URL, and the sort is stable.
    edits.sort_by_key(|e| e.range.start);
    let mut out = String::with_capacity(url.len() + 32);
    let mut pos = 0;
    for edit in edits {
        out.push_str(&url[pos..edit.range.start]);
        out.push_str(&edit.text);
        pos = edit.range.end;
    }
    out.push_str(&url[pos..]);
    out
}

/// Replaces a query parameter's value, adding `=` to a bare key.
fn param_edit(parsed: &DatabaseUrl<'_>, index: usize, value: &str) -> Edit {
    let param = &parsed.params[index];
    match &param.value {
        Some(span) => Edit {
            range: span.clone(),
            text: value.to_owned(),
        },
        None => Edit {
            range: param.key.end..param.key.end,
            text: format!("={value}"),
        },
    }
}

/// What [`redacted`] shows for text that does not parse: the password could
/// be anywhere in it.
pub const UNPARSEABLE: &str = "postgres://***";

/// The URL with the password, and any query parameter named like a
/// password (`password=`, `sslpassword=`), shown as `***`.
pub fn redacted(url: &str) -> String {
    let Ok(parsed) = parse(url) else {
        return UNPARSEABLE.to_owned();
    };
    let mut spans: Vec<Range<usize>> = parsed.password.iter().cloned().collect();
    spans.extend(parsed.params.iter().filter_map(|p| {
        let key = url[p.key.clone()].to_ascii_lowercase();
        p.value.clone().filter(|_| key.contains("password"))
    }));
    spans.retain(|s| !s.is_empty());
    let edits = spans
        .into_iter()
        .map(|range| Edit {
            range,
            text: "***".to_owned(),
        })
        .collect();
    splice(url, edits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_full_url_is_read_part_by_part() {
        let url = "postgres://mastodon:p%40ss%2Fw0rd@db.example.com:6432/mastodon_production?sslmode=require#frag";
        let u = parse(url).unwrap();
        assert_eq!(&url[u.scheme.clone()], "postgres");
        assert_eq!(u.user().unwrap().as_deref(), Some("mastodon"));
        assert_eq!(u.password().unwrap().as_deref(), Some("p@ss/w0rd"));
        assert_eq!(u.host().unwrap().as_deref(), Some("db.example.com"));
        assert_eq!(u.port().unwrap(), Some(6432));
        assert_eq!(
            u.database().unwrap().as_deref(),
            Some("mastodon_production")
        );
        assert_eq!(&url[u.query.clone().unwrap()], "sslmode=require");
        assert_eq!(&url[u.fragment.clone().unwrap()], "frag");
        assert_eq!(u.socket_dir().unwrap(), None);
    }

    #[test]
    fn the_postgresql_scheme_and_missing_parts_are_accepted() {
        let u = parse("postgresql://db/mastodon").unwrap();
        assert_eq!(u.host().unwrap().as_deref(), Some("db"));
        assert_eq!(u.port().unwrap(), None);
        assert_eq!(u.user().unwrap(), None);
        assert_eq!(u.password().unwrap(), None);
        let bare = parse("postgres://").unwrap();
        assert_eq!(bare.host().unwrap(), None);
        assert_eq!(bare.database().unwrap(), None);
    }

    #[test]
    fn an_ipv6_host_loses_its_brackets_when_read() {
        let u = parse("postgres://u@[::1]:5433/db").unwrap();
        assert_eq!(u.host().unwrap().as_deref(), Some("::1"));
        assert_eq!(u.port().unwrap(), Some(5433));
        assert_eq!(parse("postgres://[::1/db").unwrap_err(), UrlError::BadIpv6);
    }

    #[test]
    fn query_host_and_port_win_over_the_authority() {
        let u =
            parse("postgres://u:pw@localhost:5432/db?host=/var/run/postgresql&port=6432").unwrap();
        assert_eq!(u.host().unwrap().as_deref(), Some("/var/run/postgresql"));
        assert_eq!(
            u.socket_dir().unwrap().as_deref(),
            Some("/var/run/postgresql")
        );
        assert_eq!(u.port().unwrap(), Some(6432));
        // A blank query value still wins, and leaves the host to DB_HOST.
        let blank = parse("postgres://h/db?host=").unwrap();
        assert_eq!(blank.host().unwrap(), None);
    }

    #[test]
    fn broken_urls_are_errors_that_do_not_quote_the_url() {
        for (url, error) in [
            ("mysql2://h/db", UrlError::Scheme),
            ("postgres:db", UrlError::NoAuthority),
            ("postgres://u:p@ss@h/db", UrlError::UnencodedAt),
            ("postgres://u:se/cret@h/db", UrlError::BadPort),
            ("postgres://h/db?a=1&&b=2", UrlError::EmptyQueryParameter),
        ] {
            assert_eq!(parse(url).unwrap_err(), error, "{url}");
        }
        let bad_port = parse("postgres://h:99999/db").unwrap();
        assert_eq!(bad_port.port().unwrap_err(), UrlError::BadPort);
        let message = UrlError::BadPort.to_string();
        assert!(!message.contains("cret"));
    }

    #[test]
    fn rewriting_host_and_port_keeps_every_other_byte() {
        let url = "postgres://m:p%40ss@pgbouncer:6432/mastodon_production?sslmode=require&application_name=x%20y#f";
        assert_eq!(
            rewrite(url, Some("10.0.0.5"), Some(5432), None, None).unwrap(),
            "postgres://m:p%40ss@10.0.0.5:5432/mastodon_production?sslmode=require&application_name=x%20y#f"
        );
    }

    #[test]
    fn rewriting_a_socket_directory_edits_the_query_value() {
        let url =
            "postgresql://m@/mastodon?host=%2Fvar%2Frun%2Fpgbouncer&port=6432&sslmode=disable";
        assert_eq!(
            rewrite(url, Some("/var/run/postgresql"), Some(5432), None, None).unwrap(),
            "postgresql://m@/mastodon?host=/var/run/postgresql&port=5432&sslmode=disable"
        );
    }

    #[test]
    fn a_missing_port_is_inserted_after_the_host() {
        assert_eq!(
            rewrite("postgres://u@db/x", None, Some(5432), None, None).unwrap(),
            "postgres://u@db:5432/x"
        );
        assert_eq!(
            rewrite("postgres://u@[::1]/x", None, Some(5432), None, None).unwrap(),
            "postgres://u@[::1]:5432/x"
        );
    }

    #[test]
    fn a_new_ipv6_host_gets_brackets() {
        assert_eq!(
            rewrite("postgres://db:6432/x", Some("::1"), None, None, None).unwrap(),
            "postgres://[::1]:6432/x"
        );
        assert_eq!(
            rewrite(
                "postgres://[::1]:6432/x",
                Some("db.internal"),
                None,
                None,
                None
            )
            .unwrap(),
            "postgres://db.internal:6432/x"
        );
    }

    #[test]
    fn a_socket_directory_without_a_query_host_is_added_to_the_query() {
        assert_eq!(
            rewrite(
                "postgres://u@h/db#f",
                Some("/run/postgresql"),
                None,
                None,
                None
            )
            .unwrap(),
            "postgres://u@h/db?host=/run/postgresql#f"
        );
        assert_eq!(
            rewrite(
                "postgres://u@h/db?sslmode=disable",
                Some("/run/pg"),
                None,
                None,
                None
            )
            .unwrap(),
            "postgres://u@h/db?sslmode=disable&host=/run/pg"
        );
    }

    #[test]
    fn user_and_password_are_percent_encoded_when_written() {
        assert_eq!(
            rewrite("postgres://h/db", None, None, Some("mig"), Some("p@ss:/w")).unwrap(),
            "postgres://mig:p%40ss%3A%2Fw@h/db"
        );
        assert_eq!(
            rewrite("postgres://old:x@h/db", None, None, Some("new user"), None).unwrap(),
            "postgres://new%20user:x@h/db"
        );
        assert_eq!(
            rewrite("postgres://u@h/db", None, None, None, Some("s3cr#t")).unwrap(),
            "postgres://u:s3cr%23t@h/db"
        );
        assert_eq!(
            rewrite(
                "postgres://u:a@h/db?password=b",
                None,
                None,
                None,
                Some("c")
            )
            .unwrap(),
            "postgres://u:a@h/db?password=c"
        );
    }

    #[test]
    fn redaction_hides_the_password_and_password_parameters() {
        assert_eq!(
            redacted("postgres://m:p%40ss@h:5432/db?sslpassword=k&sslmode=require"),
            "postgres://m:***@h:5432/db?sslpassword=***&sslmode=require"
        );
        assert_eq!(redacted("postgres://m@h/db"), "postgres://m@h/db");
        assert_eq!(redacted("postgres://m:p@ss@h/db"), UNPARSEABLE);
        assert_eq!(redacted("not a url with secret"), UNPARSEABLE);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let u = parse("postgres://m:hunter2@h/db").unwrap();
        assert!(!format!("{u:?}").contains("hunter2"));
    }

    /// A URL put together from parts, so a rewrite's expected output can be
    /// put together from the same parts.
    #[derive(Clone, Debug)]
    struct Parts {
        scheme: &'static str,
        userinfo: Option<String>,
        host: String,
        port: Option<u16>,
        path: String,
        params: Vec<(String, String)>,
        fragment: Option<String>,
    }

    impl Parts {
        fn url(&self) -> String {
            let mut url = format!("{}://", self.scheme);
            if let Some(userinfo) = &self.userinfo {
                url.push_str(userinfo);
                url.push('@');
            }
            url.push_str(&self.host);
            if let Some(port) = self.port {
                url.push_str(&format!(":{port}"));
            }
            url.push_str(&self.path);
            if !self.params.is_empty() {
                let query: Vec<String> = self
                    .params
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                url.push('?');
                url.push_str(&query.join("&"));
            }
            if let Some(fragment) = &self.fragment {
                url.push('#');
                url.push_str(fragment);
            }
            url
        }

        /// The same parts with a new host and port, written where Rails
        /// reads them.
        fn moved(&self, host: &str, port: u16) -> Parts {
            let mut out = self.clone();
            let mut set = |key: &str, value: String| -> bool {
                match out.params.iter().rposition(|(k, _)| k == key) {
                    Some(i) => {
                        out.params[i].1 = value;
                        true
                    }
                    None => false,
                }
            };
            if !set("host", host.to_owned()) {
                out.host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.to_owned()
                };
            }
            if !set("port", port.to_string()) {
                out.port = Some(port);
            }
            out
        }
    }

    fn encoded() -> impl Strategy<Value = String> {
        "([a-zA-Z0-9._~!$&'()*+,;=-]|%[0-9A-F]{2}){0,12}"
    }

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
            "(25[0-5]|[01]?[0-9]?[0-9])(\\.(25[0-5]|[01]?[0-9]?[0-9])){3}",
            Just("[::1]".to_owned()),
            Just("[2001:db8::5]".to_owned()),
        ]
    }

    fn new_host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
            Just("::1".to_owned()),
            Just("fd00::2".to_owned()),
            Just("192.168.1.9".to_owned()),
        ]
    }

    fn parts() -> impl Strategy<Value = Parts> {
        let param = prop_oneof![
            (
                "sslmode|application_name|connect_timeout|pool",
                "[a-zA-Z0-9%+._-]{1,8}"
            ),
            (Just("host".to_owned()), "(%2F|/)[a-z/]{1,12}"),
            (Just("port".to_owned()), "[1-9][0-9]{0,3}"),
        ];
        (
            prop_oneof![Just("postgres"), Just("postgresql")],
            proptest::option::of((encoded(), proptest::option::of(encoded()))),
            host(),
            proptest::option::of(1u16..),
            "(/[a-zA-Z0-9_%]{0,12})?",
            proptest::collection::vec(param, 0..4),
            proptest::option::of("[a-z0-9/?]{0,6}"),
        )
            .prop_map(
                |(scheme, userinfo, host, port, path, params, fragment)| Parts {
                    scheme,
                    userinfo: userinfo.map(|(user, password)| match password {
                        Some(password) => format!("{user}:{password}"),
                        None => user,
                    }),
                    host,
                    port,
                    path,
                    params,
                    fragment,
                },
            )
    }

    proptest! {
        #[test]
        fn rewriting_host_and_port_changes_nothing_else(
            parts in parts(),
            host in new_host(),
            port in 1u16..,
        ) {
            let url = parts.url();
            let rewritten = rewrite(&url, Some(&host), Some(port), None, None).unwrap();
            prop_assert_eq!(rewritten, parts.moved(&host, port).url());
        }

        #[test]
        fn a_rewritten_url_reads_back_as_the_new_values(
            parts in parts(),
            host in new_host(),
            port in 1u16..,
            user in "[ -~]{1,10}",
            password in "[ -~]{1,10}",
        ) {
            let url = parts.url();
            let rewritten = rewrite(&url, Some(&host), Some(port), Some(&user), Some(&password)).unwrap();
            let back = parse(&rewritten).unwrap();
            prop_assert_eq!(back.host().unwrap(), Some(host));
            prop_assert_eq!(back.port().unwrap(), Some(port));
            // Written percent-encoded, so never blank: Rails keeps them.
            prop_assert_eq!(back.user().unwrap(), Some(user));
            prop_assert_eq!(back.password().unwrap(), Some(password));
        }

        #[test]
        fn redacted_never_contains_the_password(
            parts in parts(),
            // `ß` appears in no other generated part, raw or encoded.
            password in "ß[ -~]{0,12}",
            in_query in any::<bool>(),
        ) {
            let mut parts = parts;
            let encoded_password = encode(&password, b"");
            if in_query {
                parts.params.push(("password".to_owned(), encoded_password.clone()));
            } else {
                parts.userinfo = Some(format!("user:{encoded_password}"));
            }
            let shown = redacted(&parts.url());
            prop_assert!(!shown.contains(&password));
            prop_assert!(!shown.contains(&encoded_password));
        }

        #[test]
        fn redacted_never_panics_or_echoes_unparseable_text(text in "\\PC{0,40}") {
            let shown = redacted(&text);
            if parse(&text).is_err() {
                prop_assert_eq!(shown, UNPARSEABLE);
            }
        }
    }
}
