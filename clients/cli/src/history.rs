//! `fwatch history NAME` (one resource's revisions) and `fwatch audit`
//! (every resource's, by actor and time): ListRevisions, every page.

use clap::Args;
use frontierwatch_client::Client;
use frontierwatch_client::proto::*;

use crate::analytics::{named, parse_time, structured};
use crate::output::{Format, table};

/// `fwatch audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only the changes of this token: `tokens/importer` or `importer`.
    #[arg(long)]
    pub actor: Option<String>,
    /// Only changes committed at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<prost_types::Timestamp>,
    /// Only changes committed before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<prost_types::Timestamp>,
}

/// `fwatch history NAME`: the resource's revisions, newest first.
pub async fn history(client: &Client, format: Format, name: &str) -> anyhow::Result<()> {
    let request = ListRevisionsRequest {
        name: name.to_owned(),
        ..Default::default()
    };
    show(client, format, request).await
}

/// `fwatch audit`: who changed what, newest first.
pub async fn audit(client: &Client, format: Format, args: AuditArgs) -> anyhow::Result<()> {
    let request = ListRevisionsRequest {
        actor: args.actor.map(|a| named("tokens", &a)).unwrap_or_default(),
        start_time: args.since,
        end_time: args.until,
        ..Default::default()
    };
    show(client, format, request).await
}

async fn show(
    client: &Client,
    format: Format,
    request: ListRevisionsRequest,
) -> anyhow::Result<()> {
    let mut all = ListRevisionsResponse::default();
    let mut request = ListRevisionsRequest {
        page_size: 1000,
        ..request
    };
    loop {
        let page = ask!(client, list_revisions, request);
        all.revisions.extend(page.revisions);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    if structured(format, &all)? {
        return Ok(());
    }
    let rows: Vec<[String; 6]> = all
        .revisions
        .iter()
        .map(|r| {
            [
                r.commit_time
                    .as_ref()
                    .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default(),
                r.name.clone(),
                r.revision_id.to_string(),
                r.reason()
                    .as_str_name()
                    .trim_start_matches("REVISION_REASON_")
                    .to_lowercase(),
                r.actor.clone(),
                r.claimant.clone(),
            ]
        })
        .collect();
    table(
        &["TIME", "NAME", "REVISION", "REASON", "ACTOR", "SOURCE"],
        &rows,
    );
    if rows.is_empty() {
        println!("no revisions");
    }
    Ok(())
}
