//! Who may use the admin API: a request carrying `ADMIN_TOKEN`; without it set, nobody.
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use secrecy::SecretString;

use crate::error::ApiError;
use crate::routes::bearer::BearerToken;

/// `ADMIN_TOKEN`, for the admin API and the status page.
#[derive(Clone, Debug, Default)]
pub struct AdminToken(pub(crate) BearerToken);

impl AdminToken {
    pub fn new(token: Option<&SecretString>) -> Self {
        Self(BearerToken::new(token))
    }
}

/// A request the admin token authorizes; a handler that takes one is an admin route.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = request.app_data::<web::Data<AdminToken>>();
        ready(match token {
            Some(token) if token.0.is_set() => match token.0.authorizes(request) {
                true => Ok(Admin),
                false => Err(ApiError::AdminUnauthorized),
            },
            _ => Err(ApiError::NotConfigured(
                "the admin API is off: set ADMIN_TOKEN to use it",
            )),
        })
    }
}
