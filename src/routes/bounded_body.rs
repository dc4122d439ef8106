//! Reading a webhook body at a bounded cost: no more than `MAX_BODY_BYTES`, within
//! `BODY_READ_TIMEOUT`, and only while the bytes of all bodies being read at once stay under
//! `MAX_INFLIGHT_BODY_BYTES`. A client that trickles, stalls or floods can hold at most its
//! share of that budget, for at most the deadline.
use std::sync::Arc;
use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{web, HttpRequest};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::configuration::WebhookSettings;
use crate::error::ApiError;

#[derive(Clone, Debug)]
pub struct BodyLimits {
    pub max_body_bytes: usize,
    pub read_timeout: Duration,
    /// One permit per byte of the bodies being read (and held until the answer is sent).
    inflight: Arc<Semaphore>,
}

/// A body read whole, and its share of the in-flight budget: dropped with the request.
pub struct Body {
    pub bytes: Bytes,
    _reserved: OwnedSemaphorePermit,
}

impl BodyLimits {
    pub fn new(settings: &WebhookSettings) -> Self {
        Self {
            max_body_bytes: settings.max_body_bytes,
            read_timeout: settings.body_read_timeout,
            inflight: Arc::new(Semaphore::new(settings.max_inflight_body_bytes)),
        }
    }

    /// Bytes are reserved before the first one is read: as many as the client declares, or the
    /// whole limit for a chunked body whose size is not known yet.
    pub async fn read(&self, request: &HttpRequest, mut payload: web::Payload) -> Result<Body, ApiError> {
        let too_large = || ApiError::PayloadTooLarge {
            limit: self.max_body_bytes,
        };
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let reserve = match declared {
            Some(n) if n > self.max_body_bytes as u64 => return Err(too_large()),
            Some(n) => n as usize,
            None => self.max_body_bytes,
        };
        // Settings keep the budget within u32 and at least one whole body.
        let reserved = self
            .inflight
            .clone()
            .try_acquire_many_owned(reserve as u32)
            .map_err(|_| ApiError::IntakeBusy)?;
        // Sized once for what was declared: growing by doubling would briefly hold twice that.
        let mut body = BytesMut::with_capacity(declared.map_or(0, |n| n as usize));
        let read = async {
            while let Some(chunk) = payload.next().await {
                let chunk = chunk?;
                if body.len() + chunk.len() > self.max_body_bytes {
                    return Err(PayloadError::Overflow);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(())
        };
        match tokio::time::timeout(self.read_timeout, read).await {
            Err(_) => Err(ApiError::BodyTimeout(self.read_timeout)),
            Ok(Err(PayloadError::Overflow)) => Err(too_large()),
            Ok(Err(e)) => Err(ApiError::UnreadableBody(e.to_string())),
            Ok(Ok(())) => Ok(Body {
                bytes: body.freeze(),
                _reserved: reserved,
            }),
        }
    }
}
