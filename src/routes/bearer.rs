use actix_web::http::header;
use actix_web::HttpRequest;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// A token kept as its SHA-256: comparing digests takes the same time whatever the length or
/// content of what a client sends.
#[derive(Clone, Debug, Default)]
pub struct BearerToken(Option<[u8; 32]>);

impl BearerToken {
    pub fn new(token: Option<&SecretString>) -> Self {
        Self(token.map(|t| Sha256::digest(t.expose_secret().as_bytes()).into()))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The token's digest, as a key for what is derived from it (the status page's sessions).
    pub(crate) fn digest(&self) -> Option<&[u8; 32]> {
        self.0.as_ref()
    }

    /// Whether `given` is the token (never, when none is set).
    pub fn matches(&self, given: &str) -> bool {
        let Some(expected) = &self.0 else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        // Every byte compared, whatever the first difference.
        given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// Whether the request carries `Authorization: Bearer <the token>`.
    pub fn authorizes(&self, request: &HttpRequest) -> bool {
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| self.matches(given))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_matches() {
        let token = BearerToken::new(Some(&SecretString::from("s3cret")));
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cret!"));
        assert!(!token.matches(""));
        assert!(!BearerToken::new(None).matches(""), "no token set admits nobody");
    }
}
