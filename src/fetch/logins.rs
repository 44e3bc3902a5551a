//! Credentials given in a seed URL (`https://user:pass@host/`): sent as HTTP Basic
//! auth to that seed's exact origin (scheme, host, port) and nowhere else.
//!
//! Every URL loses its user info when it is canonicalised, so credentials are
//! never written to a record, an archive, a log line or a shared frontier; this
//! map is the only place they live, in this process's memory. It must never take
//! credentials from anything but the operator's own seeds (a link's user info is
//! dropped, never used).

use std::collections::HashMap;

use percent_encoding::percent_decode_str;
use url::Url;

use super::guard::origin_of;

/// A user name and password, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Login(***)")
    }
}

/// The seeds' logins, by origin.
#[derive(Debug, Default, Clone)]
pub struct Logins(HashMap<String, Login>);

impl Logins {
    /// Keeps the user info of a seed URL as written (before canonicalisation), if
    /// it has any. The first seed naming an origin wins.
    pub fn add_seed(&mut self, raw: &Url) {
        if raw.username().is_empty() && raw.password().is_none() {
            return;
        }
        let Some(origin) = origin_of(raw) else {
            return;
        };
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        self.0.entry(origin).or_insert_with(|| Login {
            user: decode(raw.username()),
            password: raw.password().map(decode),
        });
    }

    /// The login for `url`'s exact origin, if a seed gave one.
    pub fn for_url(&self, url: &Url) -> Option<&Login> {
        if self.0.is_empty() {
            return None;
        }
        self.0.get(&origin_of(url)?)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> Url {
        Url::parse(u).unwrap()
    }

    #[test]
    fn a_login_is_for_its_exact_origin_only() {
        let mut l = Logins::default();
        l.add_seed(&url("https://ann:s%40cret@example.com/start"));
        l.add_seed(&url("https://example.org/"));
        let login = l.for_url(&url("https://example.com/other?x=1")).unwrap();
        assert_eq!(login.user, "ann");
        assert_eq!(login.password.as_deref(), Some("s@cret"));
        assert!(l.for_url(&url("https://example.com:8443/")).is_none());
        assert!(l.for_url(&url("http://example.com/")).is_none());
        assert!(l.for_url(&url("https://www.example.com/")).is_none());
        assert!(l.for_url(&url("https://example.org/")).is_none());
        assert_eq!(format!("{login:?}"), "Login(***)");
    }
}
