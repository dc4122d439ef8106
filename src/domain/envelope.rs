use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::delivery_id::DeliveryId;

/// What the service needs from a DeepSource event; the body itself is kept byte-for-byte elsewhere.
/// Webhooks are beta and change shape often, so only `id` and `type` are required.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub id: DeliveryId,
    pub event_type: String,
    pub event_time: DateTime<Utc>,
    pub event_time_source: EventTime,
    /// `data.object.id` of a `repository_issue.*` event: the RepositoryIssue its sync job updates.
    pub finding_id: Option<String>,
}

/// Where the event time came from: DeepSource's two envelopes, or our clock when neither fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventTime {
    CreatedAt,
    Created,
    Receipt,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("body is not UTF-8: {0}")]
    NotUtf8(String),
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is not a JSON object")]
    NotObject,
    #[error("`id` is missing")]
    MissingId,
    #[error("{0}")]
    BadId(&'static str),
    #[error("`type` is missing")]
    MissingType,
    #[error("`type` must be a non-empty string")]
    BadType,
    /// Postgres text cannot hold NUL, and an over-long key cannot be indexed (btree entries
    /// are limited to ~2.7 KB): the field is named so the sender can see what is wrong.
    #[error("`{field}` {reason}")]
    BadField {
        field: &'static str,
        reason: &'static str,
    },
}

/// Longest `type` and `data.object.id` accepted, in bytes: DeepSource's are a few dozen; this
/// stays well under what a btree index entry can hold.
pub const MAX_KEY_BYTES: usize = 1024;

pub const SYNC_EVENT_TYPES: [&str; 2] = ["repository_issue.introduced", "repository_issue.resolved"];
/// Names the pull request an Autofix run opened; its job records it (`autofix/`), with no
/// finding of its own: it may concern several findings, or one not seen yet.
pub const AUTOFIX_EVENT_TYPE: &str = "autofix_run.updated";

impl Envelope {
    pub fn parse(body: &[u8], received_at: DateTime<Utc>) -> Result<Self, EnvelopeError> {
        let raw = RawEnvelope::parse(body)?;
        let id = DeliveryId::from_json(&small_value(raw.id.ok_or(EnvelopeError::MissingId)?))
            .map_err(EnvelopeError::BadId)?;
        let event_type = match small_value(raw.kind.ok_or(EnvelopeError::MissingType)?) {
            Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => return Err(EnvelopeError::BadType),
        };
        storable_key("type", &event_type)?;
        let (event_time, event_time_source) = raw
            .created_at
            .and_then(|v| unix_seconds(&small_value(v)))
            .filter(storable_time)
            .map(|t| (t, EventTime::CreatedAt))
            .or_else(|| {
                let created = small_value(raw.created?);
                iso_8601(created.as_str()?)
                    .filter(storable_time)
                    .map(|t| (t, EventTime::Created))
            })
            .unwrap_or((received_at, EventTime::Receipt));
        let finding_id = if SYNC_EVENT_TYPES.contains(&event_type.as_str()) {
            raw.data.and_then(finding_id)
        } else {
            None
        };
        if let Some(finding_id) = &finding_id {
            storable_key("data.object.id", finding_id)?;
        }
        Ok(Self {
            id,
            event_type,
            event_time,
            event_time_source,
            finding_id,
        })
    }

    /// Issue events and Autofix results are the ones the sync worker acts on, so they get a job.
    pub fn needs_sync(&self) -> bool {
        SYNC_EVENT_TYPES.contains(&self.event_type.as_str()) || self.event_type == AUTOFIX_EVENT_TYPE
    }
}

/// The top level only, with each field left unparsed: the body is checked to be JSON, but
/// `data` (often many kilobytes) is not built into a tree on the request path.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(rename = "createdAt", borrow, default)]
    created_at: Option<&'a RawValue>,
    #[serde(borrow, default)]
    created: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

impl<'a> RawEnvelope<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, EnvelopeError> {
        // JSON is UTF-8, but serde skips the fields it does not read without validating them;
        // the whole body is checked so what is stored is always text (a cheap, SIMD-fast scan).
        let body = std::str::from_utf8(body).map_err(|e| EnvelopeError::NotUtf8(e.to_string()))?;
        // serde would read an array positionally into the struct; it is still not an envelope.
        let is_object = body.trim_start().starts_with('{');
        if !is_object {
            return match serde_json::from_str::<IgnoredAny>(body) {
                Ok(_) => Err(EnvelopeError::NotObject),
                Err(e) => Err(EnvelopeError::NotJson(e.to_string())),
            };
        }
        serde_json::from_str(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))
    }
}

/// `null` and absent fields alike become `Value::Null` here.
fn small_value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// `data.object.id`, or nothing when `data` does not have that shape.
fn finding_id(data: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Data {
        object: Option<Object>,
    }
    #[derive(Deserialize)]
    struct Object {
        id: Option<Value>,
    }
    let looks_like_object = |raw: &str| raw.trim_start().starts_with('{');
    if !looks_like_object(data.get()) {
        return None;
    }
    let data: Data = serde_json::from_str(data.get()).ok()?;
    match data.object?.id? {
        Value::String(id) if !id.is_empty() => Some(id),
        _ => None,
    }
}

/// A value Postgres would refuse fails the whole statement it is in, so it is refused here, with
/// the field named, before it can reach a batch.
fn storable_key(field: &'static str, value: &str) -> Result<(), EnvelopeError> {
    if value.contains('\0') {
        return Err(EnvelopeError::BadField {
            field,
            reason: "must not contain NUL (\\u0000)",
        });
    }
    if value.len() > MAX_KEY_BYTES {
        return Err(EnvelopeError::BadField {
            field,
            reason: "is longer than 1024 bytes",
        });
    }
    Ok(())
}

/// chrono reaches years Postgres' timestamptz cannot hold (before 4713 BC); an event time is
/// informational, so one outside years 1..=9999 is treated like a missing one (receipt time).
fn storable_time(time: &DateTime<Utc>) -> bool {
    (1..=9999).contains(&time.year())
}

fn unix_seconds(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(secs) => DateTime::from_timestamp(secs, 0),
            None => n
                .as_f64()
                .and_then(|f| DateTime::from_timestamp_millis((f * 1000.0) as i64)),
        },
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0)),
        _ => None,
    }
}

fn iso_8601(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        // The older envelope has been seen without an offset; such times are UTC.
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Envelope, EnvelopeError> {
        Envelope::parse(v.to_string().as_bytes(), receipt())
    }

    fn receipt() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn current_envelope_takes_created_at() {
        let e = parse(json!({"id":"390137996571050950","type":"test.event","createdAt":1642070207,"data":{"test":true}})).unwrap();
        assert_eq!(e.id.as_str(), "390137996571050950");
        assert_eq!(e.event_type, "test.event");
        assert_eq!(e.event_time.timestamp(), 1642070207);
        assert_eq!(e.event_time_source, EventTime::CreatedAt);
        assert!(!e.needs_sync());
    }

    #[test]
    fn older_envelope_takes_created() {
        let e = parse(json!({"id":"370440586387259393","type":"test.event","created":"2022-01-13T10:36:47.123456+00:00","version":"v1.0.0","data":{"Test":true}})).unwrap();
        assert_eq!(e.event_time.timestamp(), 1642070207);
        assert_eq!(e.event_time_source, EventTime::Created);
        let naive = parse(json!({"id":"1","type":"x","created":"2022-01-13T10:36:47"})).unwrap();
        assert_eq!(naive.event_time.timestamp(), 1642070207);
    }

    #[test]
    fn missing_or_odd_times_fall_back_to_receipt() {
        for v in [
            json!({"id":"1","type":"x"}),
            json!({"id":"1","type":"x","createdAt":"soon"}),
            json!({"id":"1","type":"x","created":42}),
            json!({"id":"1","type":"x","createdAt":null,"created":"yesterday"}),
            json!({"id":"1","type":"x","createdAt":-220000000000i64}),
            json!({"id":"1","type":"x","createdAt":400000000000i64}),
            json!({"id":"1","type":"x","created":"-5000-01-01T00:00:00Z"}),
        ] {
            let e = parse(v).unwrap();
            assert_eq!(
                (e.event_time, e.event_time_source),
                (receipt(), EventTime::Receipt)
            );
        }
    }

    #[test]
    fn issue_events_carry_their_finding() {
        let e = parse(json!({"id":"1","type":"repository_issue.introduced","data":{"object":{"id":"RI1"}}}))
            .unwrap();
        assert!(e.needs_sync());
        assert_eq!(e.finding_id.as_deref(), Some("RI1"));
        let unusable = parse(json!({"id":"2","type":"repository_issue.resolved","data":"??"})).unwrap();
        assert!(unusable.needs_sync());
        assert_eq!(unusable.finding_id, None);
    }

    #[test]
    fn refusals_name_the_field() {
        assert!(matches!(
            Envelope::parse(b"{nope", receipt()),
            Err(EnvelopeError::NotJson(_))
        ));
        assert_eq!(parse(json!([1, 2])), Err(EnvelopeError::NotObject));
        assert!(matches!(
            Envelope::parse(b"{\"id\":\"1\",\"type\":\"x\",\"other\":\"\xff\"}", receipt()),
            Err(EnvelopeError::NotUtf8(_))
        ));
        assert_eq!(parse(json!({"type":"x"})), Err(EnvelopeError::MissingId));
        assert!(parse(json!({"id":1.5,"type":"x"}))
            .unwrap_err()
            .to_string()
            .contains("`id`"));
        assert_eq!(parse(json!({"id":"1"})), Err(EnvelopeError::MissingType));
        assert_eq!(parse(json!({"id":"1","type":7})), Err(EnvelopeError::BadType));
        assert_eq!(parse(json!({"id":"1","type":""})), Err(EnvelopeError::BadType));
        for (v, field) in [
            (json!({"id":"1","type":"a\u{0}b"}), "`type`"),
            (json!({"id":"1","type":"t".repeat(MAX_KEY_BYTES + 1)}), "`type`"),
            (
                json!({"id":"1","type":"repository_issue.introduced","data":{"object":{"id":"R".repeat(MAX_KEY_BYTES + 1)}}}),
                "`data.object.id`",
            ),
            (
                json!({"id":"1","type":"repository_issue.resolved","data":{"object":{"id":"R\u{0}"}}}),
                "`data.object.id`",
            ),
        ] {
            let error = parse(v).unwrap_err();
            assert!(matches!(error, EnvelopeError::BadField { .. }));
            assert!(error.to_string().starts_with(field), "{error}");
        }
        // At the limit is fine; other types' objects are not keys, so not checked.
        assert!(parse(json!({"id":"1","type":"t".repeat(MAX_KEY_BYTES)})).is_ok());
        assert!(parse(json!({"id":"1","type":"x","data":{"object":{"id":"R\u{0}"}}})).is_ok());
    }

    #[test]
    fn numeric_ids_become_decimal_strings() {
        let e = parse(json!({"id":380143400734187723u64,"type":"x"})).unwrap();
        assert_eq!(e.id.as_str(), "380143400734187723");
    }
}
