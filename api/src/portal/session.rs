//! Portal sessions: a browser logs in once with its token and then carries an opaque session
//! cookie (`HttpOnly`, `SameSite=Strict`), never the token itself.
//!
//! - A session remembers the token's hash, not the token: every request looks the token up
//!   again, so a revoked token ends its sessions at once.
//! - A session lasts [`SESSION_TTL`] from login; at most [`MAX_SESSIONS`] exist (the oldest goes).
//! - A session authenticates safe requests only (`GET`, `HEAD`): pages, the API reads the pages'
//!   scripts make and the live stream. Writes still need `Authorization: Bearer`, so a forged
//!   cross-site form can change nothing (no CSRF surface).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use engine::access::TokenHash;
use rand::RngCore;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "colometer_session";
/// How long a session lasts after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

struct Session {
    token: TokenHash,
    expires: Instant,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Session>,
    order: VecDeque<String>,
}

/// The server's sessions (in memory: a restart logs everyone out).
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for a token (already checked) and returns its ID.
    pub fn open(&self, token: TokenHash) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut inner = self.lock();
        let now = Instant::now();
        while inner.by_id.len() >= MAX_SESSIONS {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.by_id.remove(&old);
                }
                None => break,
            }
        }
        // Expired sessions at the front go too.
        while let Some(front) = inner.order.front().cloned() {
            match inner.by_id.get(&front) {
                Some(s) if s.expires > now => break,
                _ => {
                    inner.order.pop_front();
                    inner.by_id.remove(&front);
                }
            }
        }
        inner.by_id.insert(id.clone(), Session { token, expires: now + SESSION_TTL });
        inner.order.push_back(id.clone());
        id
    }

    /// The token hash of a live session.
    pub fn token(&self, id: &str) -> Option<TokenHash> {
        let inner = self.lock();
        inner.by_id.get(id).filter(|s| s.expires > Instant::now()).map(|s| s.token.clone())
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        let mut inner = self.lock();
        inner.by_id.remove(id);
        inner.order.retain(|x| x != id);
    }
}

/// The session ID a request's `Cookie` headers carry.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value opening a session.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", SESSION_TTL.as_secs())
}

/// The `Set-Cookie` value ending it.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn sessions_open_find_and_close() {
        let s = Sessions::default();
        let id = s.open(TokenHash::of("secret"));
        assert_eq!(id.len(), 64);
        assert_eq!(s.token(&id).map(|t| t.0), Some(TokenHash::of("secret").0));
        assert!(s.token("nope").is_none());
        s.close(&id);
        assert!(s.token(&id).is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; colometer_session=abc ; b=2"));
        assert_eq!(cookie(&h).as_deref(), Some("abc"));
        h.clear();
        h.append(COOKIE, HeaderValue::from_static("colometer_session="));
        assert_eq!(cookie(&h), None);
        assert!(set_cookie("x").contains("HttpOnly; SameSite=Strict"));
    }
}
