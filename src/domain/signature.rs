use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A shared secret configured in DeepSource's dashboard. `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookSecret(SecretString);

impl WebhookSecret {
    pub const MIN_LEN: usize = 16;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() < Self::MIN_LEN {
            return Err(format!(
                "each secret must be at least {} characters",
                Self::MIN_LEN
            ));
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

/// The decoded `x-deepsource-signature` header: 32 bytes of HMAC-SHA256.
#[derive(Debug, PartialEq, Eq)]
pub struct Signature([u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing x-deepsource-signature header")]
    Missing,
    #[error("x-deepsource-signature is not hex")]
    NotHex,
    #[error("x-deepsource-signature is not a SHA-256 HMAC (expected 64 hex digits)")]
    WrongLength,
    #[error("x-deepsource-signature does not match the body")]
    Mismatch,
}

impl Signature {
    /// Hex in either letter case, with or without a `sha256=` prefix.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        let header = header.trim();
        let hex_part = match header.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &header[7..],
            _ => header,
        };
        let bytes = hex::decode(hex_part).map_err(|e| match e {
            hex::FromHexError::OddLength => SignatureError::WrongLength,
            _ => SignatureError::NotHex,
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SignatureError::WrongLength)?;
        Ok(Self(bytes))
    }
}

/// Checks bodies against every configured secret, so a secret can be rotated without dropping events.
#[derive(Clone, Debug)]
pub struct SignatureVerifier {
    secrets: Vec<WebhookSecret>,
}

impl SignatureVerifier {
    pub fn new(secrets: Vec<WebhookSecret>) -> Self {
        Self { secrets }
    }

    /// With no secrets configured (an explicit opt-out at start-up) nothing is checked.
    pub fn is_enabled(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The header alone, before any body is read: a client that cannot even present a
    /// well-formed signature is refused for the price of its headers. `None` when unchecked.
    pub fn expect_signature(&self, header: Option<&str>) -> Result<Option<Signature>, SignatureError> {
        if !self.is_enabled() {
            return Ok(None);
        }
        Signature::parse(header.ok_or(SignatureError::Missing)?).map(Some)
    }

    /// The body against a signature `expect_signature` let through.
    pub fn check(&self, signature: Option<&Signature>, body: &[u8]) -> Result<(), SignatureError> {
        let Some(signature) = signature else {
            return match self.is_enabled() {
                true => Err(SignatureError::Missing),
                false => Ok(()),
            };
        };
        let matches = self.secrets.iter().any(|secret| {
            let mut mac = HmacSha256::new_from_slice(secret.0.expose_secret().as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(body);
            // verify_slice compares in constant time.
            mac.verify_slice(&signature.0).is_ok()
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        let signature = self.expect_signature(header)?;
        self.check(signature.as_ref(), body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // printf '%s' '{"id":"1","type":"test.event"}' | openssl dgst -sha256 -hmac 'first-secret-0123456789'
    const BODY: &[u8] = br#"{"id":"1","type":"test.event"}"#;
    const SIG: &str = "916b115be5cc198a76d73febda84602c461f30fd85c6c16f7991baf171a5511c";

    fn verifier(secrets: &[&str]) -> SignatureVerifier {
        SignatureVerifier::new(secrets.iter().map(|s| WebhookSecret::parse(s).unwrap()).collect())
    }

    #[test]
    fn parse_accepts_case_and_prefix() {
        let lower = Signature::parse(SIG).unwrap();
        assert_eq!(Signature::parse(&SIG.to_uppercase()).unwrap(), lower);
        assert_eq!(Signature::parse(&format!("sha256={SIG}")).unwrap(), lower);
        assert_eq!(Signature::parse(&format!("SHA256={SIG}")).unwrap(), lower);
    }

    #[test]
    fn parse_refuses_malformed_headers() {
        assert_eq!(Signature::parse("zz"), Err(SignatureError::NotHex));
        assert_eq!(Signature::parse(&SIG[..62]), Err(SignatureError::WrongLength));
        assert_eq!(Signature::parse(&SIG[..63]), Err(SignatureError::WrongLength));
        assert_eq!(Signature::parse(""), Err(SignatureError::WrongLength));
    }

    #[test]
    fn verify_rejects_missing_and_wrong_signatures() {
        let v = verifier(&["first-secret-0123456789"]);
        assert_eq!(v.verify(None, BODY), Err(SignatureError::Missing));
        let zeros = "0".repeat(64);
        assert_eq!(v.verify(Some(&zeros), BODY), Err(SignatureError::Mismatch));
    }

    #[test]
    fn verify_accepts_an_externally_computed_hmac_under_any_configured_secret() {
        let v = verifier(&["first-secret-0123456789"]);
        assert!(v.verify(Some(SIG), BODY).is_ok());
        let rotated = verifier(&["second-secret-abcdefghij", "first-secret-0123456789"]);
        assert!(rotated
            .verify(Some(&format!("sha256={}", SIG.to_uppercase())), BODY)
            .is_ok());
        assert_eq!(
            verifier(&["second-secret-abcdefghij"]).verify(Some(SIG), BODY),
            Err(SignatureError::Mismatch)
        );
        // One byte of the body changed: the same signature no longer fits.
        assert_eq!(
            v.verify(Some(SIG), br#"{"id":"2","type":"test.event"}"#),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn disabled_verifier_accepts_anything() {
        assert!(verifier(&[]).verify(None, BODY).is_ok());
        assert_eq!(verifier(&[]).expect_signature(Some("zz")), Ok(None));
    }

    #[test]
    fn the_header_is_judged_before_any_body() {
        let v = verifier(&["first-secret-0123456789"]);
        assert_eq!(v.expect_signature(None), Err(SignatureError::Missing));
        assert_eq!(v.expect_signature(Some("zz")), Err(SignatureError::NotHex));
        let signature = v.expect_signature(Some(SIG)).unwrap();
        assert!(v.check(signature.as_ref(), BODY).is_ok());
        assert_eq!(v.check(None, BODY), Err(SignatureError::Missing));
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let v = verifier(&["first-secret-0123456789"]);
        assert!(!format!("{v:?}").contains("first-secret"));
    }
}
