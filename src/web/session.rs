//! The status page's sessions: a cookie the server can check without storing anything, and a
//! per-session token in each form against cross-site requests. Both are HMACs keyed by the admin
//! token's digest, so changing `ADMIN_TOKEN` ends every session.
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie's name.
pub const COOKIE: &str = "dss_session";
/// A login lasts this long.
pub const LIFETIME: chrono::Duration = chrono::Duration::hours(12);

#[derive(Clone, Debug)]
pub struct Sessions {
    key: [u8; 32],
}

impl Sessions {
    pub fn new(key: &[u8; 32]) -> Self {
        Self { key: *key }
    }

    fn mac(&self, purpose: &str, message: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(message.as_bytes());
        mac
    }

    /// A new session's cookie value: when it ends, and a MAC over that.
    pub fn issue(&self, now: DateTime<Utc>) -> String {
        let expires = (now + LIFETIME).timestamp();
        let mac = self.mac("session", &expires.to_string()).finalize().into_bytes();
        format!("{expires}.{}", hex::encode(mac))
    }

    /// Whether `value` is a cookie this key issued and it has not expired.
    pub fn is_valid(&self, value: &str, now: DateTime<Utc>) -> bool {
        let Some((expires, mac)) = value.split_once('.') else {
            return false;
        };
        let (Ok(at), Ok(mac)) = (expires.parse::<i64>(), hex::decode(mac)) else {
            return false;
        };
        // Compared in constant time by `verify_slice`.
        at > now.timestamp() && self.mac("session", expires).verify_slice(&mac).is_ok()
    }

    /// The token every form of this session carries.
    pub fn form_token(&self, session: &str) -> String {
        hex::encode(self.mac("form", session).finalize().into_bytes())
    }

    pub fn form_token_matches(&self, session: &str, given: &str) -> bool {
        hex::decode(given).is_ok_and(|given| self.mac("form", session).verify_slice(&given).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_valid_until_it_expires_and_only_under_its_key() {
        let sessions = Sessions::new(&[7; 32]);
        let now = Utc::now();
        let cookie = sessions.issue(now);
        assert!(sessions.is_valid(&cookie, now));
        assert!(!sessions.is_valid(&cookie, now + LIFETIME + chrono::Duration::seconds(1)));
        assert!(!Sessions::new(&[8; 32]).is_valid(&cookie, now), "another token");
        let (expires, mac) = cookie.split_once('.').unwrap();
        let later = format!("{}.{mac}", expires.parse::<i64>().unwrap() + 3600);
        assert!(!sessions.is_valid(&later, now), "an expiry changed by hand");
        assert!(!sessions.is_valid("garbage", now));
    }

    #[test]
    fn a_form_token_belongs_to_its_session() {
        let sessions = Sessions::new(&[7; 32]);
        let (a, b) = (sessions.issue(Utc::now()), "other");
        let token = sessions.form_token(&a);
        assert!(sessions.form_token_matches(&a, &token));
        assert!(!sessions.form_token_matches(b, &token));
        assert!(!sessions.form_token_matches(&a, "00"));
    }
}
