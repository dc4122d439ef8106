//! The status page and its login form, rendered on the server (maud escapes every value).
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use crate::admin::deliveries::DeliveryRow;
use crate::admin::findings::FindingRow;
use crate::admin::jobs::JobRow;
use crate::admin::status::{count, next_write_in, span, time, Status};

/// Readable on a phone: one column, tables that scroll sideways rather than squeeze.
const STYLE: &str = "
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;color:#1f2328}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:.75rem}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.75rem}
.card b{display:block;font-size:1.3rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d0d7de;white-space:nowrap}
td.wrap{white-space:normal;min-width:14rem}
.note{background:#ddf4ff;padding:.5rem;border-radius:6px}.error{background:#ffebe9}
button{font:inherit;padding:.3rem .8rem;cursor:pointer}
input{font:inherit;padding:.4rem;width:100%;max-width:24rem;box-sizing:border-box}
header{display:flex;justify-content:space-between;align-items:center;gap:1rem}
";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

pub fn login(error: Option<&str>) -> Markup {
    layout(
        "deepsource-sync: sign in",
        html! {
            h1 { "deepsource-sync" }
            @if let Some(error) = error { p.note.error role="alert" { (error) } }
            form method="post" action="/login" {
                p { label for="token" { "Admin token (ADMIN_TOKEN)" } }
                p { input #token type="password" name="token" autocomplete="current-password" required autofocus; }
                p { button type="submit" { "Sign in" } }
            }
        },
    )
}

pub fn off() -> Markup {
    layout(
        "deepsource-sync",
        html! { h1 { "deepsource-sync" } p { "The status page is off: set ADMIN_TOKEN to use it." } },
    )
}

/// What the status page shows.
pub struct Dashboard<'a> {
    pub now: DateTime<Utc>,
    pub status: &'a Status,
    pub deliveries: &'a [DeliveryRow],
    pub findings: &'a [FindingRow],
    pub dead_jobs: &'a [JobRow],
    /// Carried by every form of this session.
    pub form_token: &'a str,
    pub notice: Option<&'a str>,
}

pub fn dashboard(d: &Dashboard<'_>) -> Markup {
    let s = d.status;
    let healthy = count(&s.queue.jobs, "dead") == 0 && count(&s.findings, "failed") == 0;
    layout(
        "deepsource-sync: status",
        html! {
            header {
                h1 { "deepsource-sync" }
                form method="post" action="/logout" {
                    input type="hidden" name="form_token" value=(d.form_token);
                    button type="submit" { "Sign out" }
                }
            }
            @if let Some(notice) = d.notice { p.note role="status" { (notice) } }
            p #summary {
                @if healthy { "Healthy. " } @else { "Needs a look: dead jobs or failed findings below. " }
                (s.queue.findings_waiting) " findings waiting for GitHub"
                @if let Some(eta) = s.drain_eta_seconds { ", drained in about " (span(eta)) }
                "."
            }
            div.cards {
                div.card { "Events received" b { (s.intake.events) }
                    (s.intake.last_hour) " in the last hour, " (s.intake.conflicts) " conflicting bodies" }
                div.card { "Queue" b { (count(&s.queue.jobs, "pending") + count(&s.queue.jobs, "running")) " jobs" }
                    @match s.queue.oldest_pending_age_seconds {
                        Some(age) => { "oldest queued " (span(age)) " ago" }
                        None => { "nothing queued" }
                    } }
                @for budget in &s.github {
                    div.card { "GitHub budget" b { (budget.writes_left_this_hour) " writes left" }
                        "this hour; next write "
                        @match next_write_in(budget, d.now) {
                            Some(wait) => { "in " (span(wait.as_secs_f64())) }
                            None => { "now" }
                        }
                        @if let Some(until) = budget.blocked_until { " (GitHub asked for a pause until " (time(until)) ")" } }
                }
                div.card { "Findings" b { (count(&s.findings, "open")) " open" }
                    (count(&s.findings, "closed")) " closed, " (count(&s.findings, "dismissed")) " dismissed, "
                    (count(&s.findings, "failed")) " failed" }
            }

            h2 { "Workers" }
            @if s.workers.is_empty() { p #workers { "No sync worker runs." } } @else {
                div.scroll { table #workers {
                    thead { tr { th { "Process" } th { "Host" } th { "Hears of work by" } th { "Since" } } }
                    tbody { @for w in &s.workers {
                        tr data-mode=(w.mode) {
                            td { (w.process) " (pid " (w.pid) ")" }
                            td { (w.host) }
                            td.wrap { @match w.mode.as_str() {
                                "listening" => { "listening: woken the moment work is committed" }
                                "polling" => { "polling every SYNC_POLL_INTERVAL: " (w.reason.as_deref().unwrap_or("")) }
                                other => { (other) }
                            } }
                            td { (time(w.since)) }
                        }
                    } }
                } }
            }

            @if !s.overviews.is_empty() {
                h2 { "Overviews" }
                div.scroll { table #overviews {
                    thead { tr { th { "Repository" } th { "Issue" } th { "Last written" } th { "State" } } }
                    tbody { @for o in &s.overviews {
                        tr data-repository=(o.repository) {
                            td { (o.repository) }
                            td { @match (&o.issue_url, &o.github_repo, o.issue_number) {
                                (Some(url), Some(repo), Some(n)) => { a href=(url) { (repo) "#" (n) } }
                                _ => { "not written yet" }
                            } }
                            td { @match o.written_at { Some(t) => { (time(t)) } None => { "-" } } }
                            td.wrap { @if let Some(reason) = &o.off_reason {
                                "off: " (reason) " by " (o.off_by.as_deref().unwrap_or("someone")) " (reopen it on GitHub to resume)"
                            } @else if let Some(reason) = &o.failed_reason {
                                "GitHub refuses it: " (reason)
                            } @else {
                                (o.state.as_deref().unwrap_or("-"))
                            } }
                        }
                    } }
                } }
            }

            h2 { "Dead jobs" }
            @if d.dead_jobs.is_empty() { p #dead-jobs { "None." } } @else {
                div.scroll { table #dead-jobs {
                    thead { tr { th { "Job" } th { "Finding" } th { "Delivery" } th { "Attempts" } th { "Last error" } th {} } }
                    tbody { @for job in d.dead_jobs {
                        tr data-job=(job.id) {
                            td { (job.id) }
                            td { (job.finding_id.as_deref().unwrap_or("-")) }
                            td { (job.delivery_id.as_deref().unwrap_or("(reconciliation)")) }
                            td { (job.attempts) }
                            td.wrap { (job.last_error.as_deref().unwrap_or("")) }
                            td { form method="post" action={ "/jobs/" (job.id) "/retry" } {
                                input type="hidden" name="form_token" value=(d.form_token);
                                button type="submit" { "Retry" }
                            } }
                        }
                    } }
                } }
            }

            h2 { "Findings" }
            div.scroll { table #findings {
                thead { tr { th { "Finding" } th { "State" } th { "Open" } th { "Repository" } th { "Issue" } th { "DeepSource" } } }
                tbody { @for f in d.findings {
                    tr data-finding=(f.id) {
                        td.wrap { (f.title) " (" (f.shortcode) ")" }
                        td { (f.state) }
                        td { (f.open_occurrences) }
                        td { (f.repository.as_deref().unwrap_or("-")) }
                        td { @match &f.github_issue_url {
                            Some(url) => { a.issue href=(url) rel="noopener" { "issue" } }
                            None => { "-" }
                        } }
                        td { @if let Some(url) = &f.deepsource_url { a href=(url) rel="noopener" { "occurrences" } } }
                    }
                } }
            } }

            h2 { "Recent deliveries" }
            div.scroll { table #deliveries {
                thead { tr { th { "Received" } th { "Type" } th { "Delivery" } th { "Job" } } }
                tbody { @for e in d.deliveries {
                    tr {
                        td { (time(e.received_at)) }
                        td { (e.event_type) }
                        td { (e.id) }
                        td { @match &e.job { Some(job) => { (job.status) } None => { "no sync needed" } } }
                    }
                } }
            } }
            @for snapshot in &s.snapshots {
                p { "Last snapshot of " (snapshot.repository) ": " (time(snapshot.at)) }
            }
        },
    )
}
