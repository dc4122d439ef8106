use std::fmt;

/// DeepSource's event id: the same on every retry of one event, so it is the idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryId(String);

const MAX_LEN: usize = 255;

impl DeliveryId {
    /// Accepts a JSON string or integer (DeepSource sends numeric strings, ~18 digits);
    /// anything else cannot be an idempotency key.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, &'static str> {
        let raw = match value {
            serde_json::Value::String(s) => s.trim().to_owned(),
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            _ => return Err("`id` must be a string or an integer"),
        };
        if raw.is_empty() {
            return Err("`id` must not be empty");
        }
        if raw.len() > MAX_LEN {
            return Err("`id` is longer than 255 characters");
        }
        if raw.chars().any(char::is_control) {
            return Err("`id` must not contain control characters");
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryId;
    use serde_json::json;

    #[test]
    fn strings_and_integers_are_ids() {
        assert_eq!(
            DeliveryId::from_json(&json!("380143400734187723"))
                .unwrap()
                .as_str(),
            "380143400734187723"
        );
        assert_eq!(
            DeliveryId::from_json(&json!(380143400734187723u64))
                .unwrap()
                .as_str(),
            "380143400734187723"
        );
        assert_eq!(DeliveryId::from_json(&json!(" abc ")).unwrap().as_str(), "abc");
    }

    #[test]
    fn other_values_are_refused() {
        for bad in [
            json!(""),
            json!("  "),
            json!(1.5),
            json!(true),
            json!(null),
            json!({}),
            json!([1]),
            json!("a\nb"),
            json!("x".repeat(256)),
        ] {
            assert!(DeliveryId::from_json(&bad).is_err(), "{bad}");
        }
    }
}
