//! `GET /`: the status page, behind a login form that takes the admin token and sets a session
//! cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS); `POST /login`, `POST /logout`,
//! `POST /jobs/{id}/retry`. Every POST carries the session's form token and, when the browser
//! sends one, an `Origin` of this host: a page elsewhere cannot make a signed-in browser act.
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use sqlx::PgPool;

use super::api::AdminToken;
use crate::admin::{deliveries, findings, jobs, status, AdminError, Links};
use crate::error::ApiError;
use crate::web::{page, session, Sessions, StatusPage};

fn html(status: actix_web::http::StatusCode, markup: maud::Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        // Never framed (clickjacking), never cached (it shows live state).
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The session cookie's value, when it is one this token issued and still valid.
fn session(request: &HttpRequest, sessions: &Sessions) -> Option<String> {
    let cookie = request.cookie(session::COOKIE)?;
    sessions
        .is_valid(cookie.value(), Utc::now())
        .then(|| cookie.value().to_owned())
}

/// A POST from a page of this host: its `Origin`, when sent, names this host.
fn same_origin(request: &HttpRequest) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return true;
    };
    let host = request.connection_info().host().to_owned();
    origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, origin_host)| origin_host == host)
}

#[derive(Deserialize)]
pub struct Notice {
    retried: Option<i64>,
    error: Option<String>,
}

/// `GET /`
pub async fn index(
    request: HttpRequest,
    notice: web::Query<Notice>,
    page_data: web::Data<StatusPage>,
    pool: web::Data<PgPool>,
    links: web::Data<Links>,
) -> Result<HttpResponse, ApiError> {
    use actix_web::http::StatusCode;
    let Some(sessions) = &page_data.sessions else {
        return Ok(html(StatusCode::NOT_FOUND, page::off()));
    };
    let Some(session) = session(&request, sessions) else {
        return Ok(html(StatusCode::OK, page::login(None)));
    };
    let status = status::status(&pool, &page_data.github).await?;
    let recent = deliveries::list(
        &pool,
        &deliveries::DeliveryFilter {
            limit: 20,
            ..Default::default()
        },
    )
    .await?;
    let listed = findings::list(
        &pool,
        &links,
        &findings::FindingFilter {
            limit: 100,
            ..Default::default()
        },
    )
    .await?;
    let dead = jobs::list(
        &pool,
        &jobs::JobFilter {
            status: Some("dead".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await?;
    let notice = match (&notice.retried, &notice.error) {
        (Some(id), _) => Some(format!("Job {id} is pending again.")),
        (None, Some(error)) => Some(error.clone()),
        _ => None,
    };
    let form_token = sessions.form_token(&session);
    Ok(html(
        StatusCode::OK,
        page::dashboard(&page::Dashboard {
            now: Utc::now(),
            status: &status,
            deliveries: &recent.items,
            findings: &listed.items,
            dead_jobs: &dead.items,
            form_token: &form_token,
            notice: notice.as_deref(),
        }),
    ))
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

/// `POST /login`: the admin token, from the form.
pub async fn login(
    request: HttpRequest,
    form: web::Form<Login>,
    token: web::Data<AdminToken>,
    page_data: web::Data<StatusPage>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some(sessions) = &page_data.sessions else {
        return html(StatusCode::NOT_FOUND, page::off());
    };
    if !same_origin(&request) || !token.0.matches(&form.token) {
        tracing::warn!("a status page sign-in with a wrong token");
        return html(
            StatusCode::UNAUTHORIZED,
            page::login(Some("That is not the admin token.")),
        );
    }
    let cookie = Cookie::build(session::COOKIE, sessions.issue(Utc::now()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(request.connection_info().scheme() == "https")
        .max_age(actix_web::cookie::time::Duration::seconds(
            session::LIFETIME.num_seconds(),
        ))
        .finish();
    let mut response = see_other("/");
    let _ = response.add_cookie(&cookie);
    response
}

#[derive(Deserialize)]
pub struct FormToken {
    form_token: String,
}

/// The signed-in session a POST acts for, when its form token and origin are right.
fn acting_session(request: &HttpRequest, page_data: &StatusPage, form: &FormToken) -> Option<()> {
    let sessions = page_data.sessions.as_ref()?;
    let session = session(request, sessions)?;
    (same_origin(request) && sessions.form_token_matches(&session, &form.form_token)).then_some(())
}

/// `POST /logout`
pub async fn logout(
    request: HttpRequest,
    form: web::Form<FormToken>,
    page_data: web::Data<StatusPage>,
) -> HttpResponse {
    let mut response = see_other("/");
    if acting_session(&request, &page_data, &form).is_some() {
        let mut cookie = Cookie::new(session::COOKIE, "");
        cookie.set_path("/");
        cookie.make_removal();
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// `POST /jobs/{id}/retry`: the Retry button of a dead job.
pub async fn retry(
    request: HttpRequest,
    id: web::Path<String>,
    form: web::Form<FormToken>,
    page_data: web::Data<StatusPage>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    if acting_session(&request, &page_data, &form).is_none() {
        return Ok(HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("sign in again: this form is not from your session"));
    }
    let Ok(id) = id.parse::<i64>() else {
        return Ok(see_other("/?error=No+such+job."));
    };
    Ok(match jobs::retry(&pool, id).await {
        Ok(_) => see_other(&format!("/?retried={id}")),
        Err(AdminError::NotFound(_) | AdminError::Conflict(_)) => {
            see_other(&format!("/?error=Job+{id}+is+not+dead+any+more."))
        }
        Err(other) => return Err(other.into()),
    })
}
