//! `deepsource-sync backfill`: a snapshot of each named repository now, and a summary of what
//! the worker will do on GitHub and how long GitHub's write budget makes that take.
use anyhow::bail;

use crate::configuration::Settings;
use crate::db;
use crate::deepsource::RepositoryRef;
use crate::reconcile::{client, estimate, planned, reconcile, schedule};

pub async fn run(
    settings: &Settings,
    repository: Option<&str>,
    provider: &str,
    all: bool,
) -> anyhow::Result<()> {
    db::prepare(&settings.database).await?;
    let pool = db::pool(&settings.database)?;
    let Some(client) = client(&pool, settings)? else {
        bail!("invalid DEEPSOURCE_API_TOKEN: not set; backfill reads DeepSource's API and needs a personal access token");
    };
    let repositories = match (repository, all) {
        (Some(spec), _) => {
            vec![RepositoryRef::parse(spec, provider).map_err(|e| anyhow::anyhow!("--repository {e}"))?]
        }
        (None, _) => schedule::known_repositories(&pool).await?,
    };
    if repositories.is_empty() {
        println!("no repository is known yet: name one with --repository login/name");
        return Ok(());
    }
    let mut writes = 0;
    let mut failed = 0;
    for repository in &repositories {
        match reconcile(&pool, &client, repository, true).await {
            Ok(applied) => {
                let plan = planned(&pool, repository).await?;
                writes += plan.writes();
                println!(
                    "{repository}: {} open findings at DeepSource ({} new here, {} changed, {} gone); GitHub issues to create {}, update {}, close {}",
                    applied.listed, applied.created, applied.changed, applied.gone, plan.create, plan.update, plan.close
                );
                if settings.overview.enabled {
                    let overview =
                        crate::admin::overviews::overviews(&pool, &settings.github, Some(&repository.key()))
                            .await?;
                    match overview.first().and_then(|o| o.visible_at.map(|t| (o, t))) {
                        Some((o, _)) => println!("  overview: {}", o.describe()),
                        None => println!(
                            "  overview: not written yet; the worker writes it before any finding's own issue, so the repository is visible in GitHub after that one write"
                        ),
                    }
                }
                if applied.deferred > 0 {
                    println!(
                        "  {} findings had events while the snapshot was taken; they keep their event counts until the next comparison",
                        applied.deferred
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("{repository}: not compared, nothing changed: {e}");
            }
        }
    }
    let eta = estimate(writes, &settings.github);
    println!(
        "{writes} GitHub writes queued for the worker (serve or worker): about {} at {} writes/hour, {} a minute",
        humantime::format_duration(std::time::Duration::from_secs(eta.as_secs())),
        settings.github.writes_per_hour,
        settings.github.writes_per_minute
    );
    if failed > 0 {
        bail!(
            "{failed} of {} repositories could not be compared",
            repositories.len()
        );
    }
    Ok(())
}
