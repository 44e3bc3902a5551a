//! The value types of settings: closed sets (scope, extras, compression, the
//! frontier backend) and extraction rules. Each is spelled in TOML and on the
//! command line the same way, by its `FromStr`/serde names.

use serde::{Deserialize, Serialize};

/// Which links are in scope, relative to the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScopeMode {
    /// Only the seeds' host names (any scheme or port).
    #[default]
    Host,
    /// The seeds' registrable domains (public suffix list), subdomains included.
    Domain,
    /// Anything reachable over http(s).
    Any,
}

impl std::str::FromStr for ScopeMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "host" => Ok(ScopeMode::Host),
            "domain" => Ok(ScopeMode::Domain),
            "any" => Ok(ScopeMode::Any),
            other => Err(format!("'{other}' is not a scope (host, domain or any)")),
        }
    }
}

/// Whether pages are rendered in a browser (`render`, and a `[[hosts]]` table's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RenderMode {
    /// Plain HTTP only.
    #[default]
    Never,
    /// Render pages that look script-built (see `render::signal`).
    Auto,
    /// Render every HTML page.
    Always,
}

impl std::str::FromStr for RenderMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never" => Ok(RenderMode::Never),
            "auto" => Ok(RenderMode::Auto),
            "always" => Ok(RenderMode::Always),
            other => Err(format!(
                "'{other}' is not a render mode (never, auto or always)"
            )),
        }
    }
}

/// scraper's message for most selector errors asks to "report this to the
/// developer" over two lines; the error's own name says what is wrong ("empty
/// selector", "unsupported pseudo class or element"), in one line.
pub fn selector_message(e: &scraper::error::SelectorErrorKind) -> String {
    use scraper::error::SelectorErrorKind as K;
    match e {
        K::UnexpectedSelectorParseError(inner) => {
            let debug = format!("{inner:?}");
            let name = debug
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("syntax error");
            let mut words = String::new();
            for c in name.chars() {
                if c.is_ascii_uppercase() && !words.is_empty() {
                    words.push(' ');
                }
                words.push(c.to_ascii_lowercase());
            }
            words
        }
        other => other
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    }
}

/// When a rendered page is read (`render_wait`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WaitRule {
    /// The load event.
    Load,
    /// The load event, then no request in flight for a quiet spell.
    #[default]
    Idle,
    /// An element matching this CSS selector exists.
    Selector(String),
}

impl std::str::FromStr for WaitRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "load" => Ok(WaitRule::Load),
            "idle" => Ok(WaitRule::Idle),
            _ => match s.strip_prefix("selector:").map(str::trim) {
                Some(css) if !css.is_empty() && css.len() <= 1024 => {
                    // Checked here as the browser will read it: a selector scraper
                    // cannot parse would fail every page.
                    scraper::Selector::parse(css).map_err(|e| {
                        format!(
                            "'{css}' is not a CSS selector trawl reads ({})",
                            selector_message(&e)
                        )
                    })?;
                    Ok(WaitRule::Selector(css.to_string()))
                }
                _ => Err(format!(
                    "'{s}' is not a wait rule (load, idle or selector:CSS)"
                )),
            },
        }
    }
}

impl std::fmt::Display for WaitRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitRule::Load => f.write_str("load"),
            WaitRule::Idle => f.write_str("idle"),
            WaitRule::Selector(css) => write!(f, "selector:{css}"),
        }
    }
}

impl Serialize for WaitRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WaitRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A built-in extra a page's record can carry (`extras = [...]`), each its own
/// top-level record field of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Extra {
    /// `<meta name="description">` content.
    Description,
    /// `<link rel="canonical">` target, absolute. Every record carries `canonical`
    /// now: this extra is accepted (old configs name it) and adds nothing.
    Canonical,
    /// `<html lang>` (or Content-Language in `<meta http-equiv>`).
    Lang,
    /// Every `<meta name|property=... content=...>` (OpenGraph, Twitter cards...).
    Meta,
    /// Every `<script type="application/ld+json">` block, parsed.
    JsonLd,
    /// The readable main text: scripts, styles, navigation, headers and footers removed.
    Text,
    /// The page's outlinks (URL, anchor text, rel, admitted), in record field
    /// `outlinks` (`links` is the count). Not part of `all`: a link graph is a
    /// dataset of its own, and `all` keeps the shape it had.
    Links,
    /// All of the above but `links`.
    All,
}

impl Extra {
    /// The extras `All` stands for, in record order (`canonical` is a field of
    /// every record, so not an extra any more).
    pub const EACH: [Extra; 5] = [
        Extra::Description,
        Extra::Lang,
        Extra::Meta,
        Extra::JsonLd,
        Extra::Text,
    ];

    /// The record field this extra fills.
    pub fn field(self) -> &'static str {
        match self {
            Extra::Links => "outlinks",
            other => other.name(),
        }
    }

    /// The extra's name in `extras = [...]` and `--extras`.
    pub fn name(self) -> &'static str {
        match self {
            Extra::Links => "links",
            Extra::Description => "description",
            Extra::Canonical => "canonical",
            Extra::Lang => "lang",
            Extra::Meta => "meta",
            Extra::JsonLd => "json_ld",
            Extra::Text => "text",
            Extra::All => "all",
        }
    }
}

impl std::str::FromStr for Extra {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // `canonical` is no longer an extra (every record has it) but old commands
        // and configs name it: accepted, it adds nothing.
        Extra::EACH
            .into_iter()
            .chain([Extra::Canonical, Extra::Links, Extra::All])
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                format!(
                    "'{s}' is not an extra (description, lang, meta, json_ld, text, links, all)"
                )
            })
    }
}

/// Where the frontier lives: in this process, or in Redis, shared by every process
/// that joins the same crawl. Written as `"embedded"` or the `redis://` address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Embedded,
    /// `redis://HOST:PORT/DB` or `rediss://...` (TLS), with any user and password.
    Redis(String),
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "embedded" => Ok(Backend::Embedded),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(Backend::Redis(url.to_string()))
            }
            other => Err(format!(
                "'{}' is neither \"embedded\" nor a redis://HOST:PORT/DB (or rediss://) address",
                crate::frontier::redis::redact(other)
            )),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Embedded => f.write_str("embedded"),
            Backend::Redis(url) => f.write_str(url),
        }
    }
}

impl Serialize for Backend {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Backend {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|m| serde::de::Error::custom(format!("invalid frontier: {m}")))
    }
}

/// How pages.jsonl is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zstd,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!(
                "'{other}' is not a compression (none, gzip or zstd)"
            )),
        }
    }
}

/// A named extraction rule set: applied to pages whose canonical URL matches
/// `pattern`; the first matching set fills the record's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Names the set in the record (`rule`) and in errors.
    pub name: String,
    /// Regex searched for in the page's canonical URL.
    pub pattern: String,
    /// Field name → how to extract it.
    pub fields: std::collections::BTreeMap<String, FieldRule>,
}

/// One field of a rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// CSS selector (scraper's dialect).
    pub selector: String,
    /// What to take from a matched element: text (default), html (inner HTML) or attr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take: Option<Take>,
    /// The attribute to take; implies `take = "attr"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attr: Option<String>,
    /// Every match as an array (true) or the first match (false).
    #[serde(default)]
    pub all: bool,
    /// Keeps capture group 1 (or the whole match) of this regex; no match = no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// string (default), integer, number or url (resolved against the page).
    #[serde(default, rename = "type")]
    pub kind: FieldType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Take {
    Text,
    Html,
    Attr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    #[default]
    String,
    Integer,
    Number,
    Url,
}

/// The default User-Agent: names trawl and its version, with room for a contact URL.
pub fn default_user_agent() -> String {
    format!(
        "trawl/{} (+https://github.com/trawl-crawler/trawl; set user_agent to add your contact URL)",
        env!("CARGO_PKG_VERSION")
    )
}

/// File extensions never HTML, the default of `skip_extensions`: images, audio,
/// video, archives, fonts, stylesheets, scripts, office documents, PDF and
/// installers (about the list Scrapy's link extractor ignores, plus fonts, scripts
/// and a few newer formats). Lower case, without the dot.
pub const NEVER_HTML: &[&str] = &[
    // images
    "apng", "avif", "bmp", "gif", "heic", "ico", "jpeg", "jpg", "png", "psd", "svg", "tif", "tiff",
    "webp", "ai", "eps", "ps", "cdr", "drw", "dxf", "mng", "pct", "psp", "pst",
    // audio
    "aac", "aiff", "au", "flac", "m4a", "mid", "midi", "mp3", "oga", "ogg", "opus", "ra", "wav",
    "wma", // video
    "3gp", "asf", "asx", "avi", "flv", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "ogv", "qt",
    "rm", "swf", "webm", "wmv", // archives
    "7z", "7zip", "bz2", "rar", "tar", "tar.gz", "tgz", "xz", "zip", "zst", // fonts
    "eot", "otf", "ttf", "woff", "woff2", // stylesheets and scripts
    "css", "js", "mjs", // office documents and PDF
    "doc", "docx", "odg", "odp", "ods", "odt", "pdf", "pps", "ppt", "pptx", "rtf", "xls", "xlsx",
    // installers and disk images
    "apk", "bin", "deb", "dmg", "exe", "iso", "jar", "msi", "rpm",
];

/// The product token a user-agent name starts with: its leading ASCII letters,
/// `-` and `_` (Google's `ExtractUserAgent`). It is how a `User-agent:` line is
/// read and how our own name is cut (`trawl/0.1 (+https://x)` is `trawl`): as no
/// line can name more than this, a name with digits or dots (`bot9/1.0`) is obeyed
/// by its token (`bot`), which is also what a `User-agent: bot9` line names.
pub fn product_token(name: &[u8]) -> &[u8] {
    let n = name
        .iter()
        .take_while(|b| b.is_ascii_alphabetic() || matches!(b, b'-' | b'_'))
        .count();
    &name[..n]
}

/// One header sent on every request of the crawl: `--header 'Name: value'`, or a
/// `[headers]` table in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Lower case, as it goes on the wire.
    pub name: String,
    pub value: String,
}

/// Most `--header`s a crawl takes, and the longest value: a request head has to fit
/// what servers accept (8 KiB is common).
pub const MAX_HEADERS: usize = 64;
pub const MAX_HEADER_VALUE: usize = 4096;

/// Headers trawl decides itself: the connection's framing, the host it asks, and
/// the user agent that robots.txt is read for (`--user-agent`).
const MANAGED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "user-agent",
];

impl Header {
    /// A header from its name and value, checked as HTTP wants them.
    pub fn new(name: &str, value: &str) -> Result<Header, String> {
        let name = name.trim();
        let value = value.trim();
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(lower.as_bytes()).is_err() || name.is_empty() {
            return Err(format!("'{name}' is not a header name"));
        }
        if lower == "user-agent" {
            return Err(
                "set the user agent with user_agent (--user-agent): robots.txt is read for it"
                    .into(),
            );
        }
        if MANAGED_HEADERS.contains(&lower.as_str()) {
            return Err(format!("{name} is decided by trawl, not set by hand"));
        }
        if value.len() > MAX_HEADER_VALUE {
            return Err(format!(
                "the value of {name} is over {MAX_HEADER_VALUE} bytes"
            ));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(format!(
                "the value of {name} holds a character a header cannot carry"
            ));
        }
        Ok(Header {
            name: lower,
            value: value.to_string(),
        })
    }

    /// True for headers that carry credentials: never written to an archive.
    pub fn is_secret(name: &str) -> bool {
        matches!(
            name.to_ascii_lowercase().as_str(),
            "authorization" | "proxy-authorization" | "cookie"
        )
    }
}

impl std::str::FromStr for Header {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, value) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}' is not a header: write it 'Name: value'"))?;
        Header::new(name, value)
    }
}

/// `[headers]` in the config file: a table of name = value, read in name order.
pub mod header_table {
    use super::Header;
    use serde::de::Error as _;
    use serde::ser::SerializeMap as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(headers: &[Header], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(headers.len()))?;
        for h in headers {
            map.serialize_entry(&h.name, &h.value)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Header>, D::Error> {
        let table = BTreeMap::<String, String>::deserialize(d)?;
        table
            .iter()
            .map(|(name, value)| Header::new(name, value).map_err(D::Error::custom))
            .collect()
    }
}

/// A `--proxy` URL, checked: http://, https:// or socks5h://, with a host. Plain
/// socks5:// is refused: it resolves names here, past the private-address guard's
/// view, where socks5h:// lets the proxy resolve them as an HTTP proxy does. The
/// error never repeats the URL (it may hold a password).
pub fn proxy_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s.trim())
        .map_err(|e| format!("the proxy is not a URL ({e}): write it like http://host:3128"))?;
    match url.scheme() {
        "http" | "https" | "socks5h" => {}
        "socks5" => {
            return Err("use socks5h:// (the proxy resolves names), not socks5://".to_string())
        }
        other => {
            return Err(format!(
                "the proxy's scheme '{other}' is not http, https or socks5h"
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the proxy URL has no host".to_string());
    }
    Ok(url)
}
