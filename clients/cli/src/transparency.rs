//! `fwatch transparency`: an organization's score in one edition of a
//! transparency index, or in every edition (`--editions`, the gaps where an
//! edition did not assess it shown as such).

use clap::Args;
use frontierwatch_client::Client;
use frontierwatch_client::proto::*;

use crate::analytics::{named, parse_date, structured};
use crate::dynamic::dynamic;
use crate::output::{Format, table};
use crate::status::fail;

/// `fwatch transparency`.
#[derive(Debug, Args)]
pub struct TransparencyArgs {
    /// The organization: `organizations/xai` or `xai`.
    pub organization: String,
    /// The transparency index, as its indicators name it (every index when
    /// unset).
    #[arg(long, default_value = "")]
    pub index: String,
    /// As of the end of this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<Date>,
    /// One row per stored edition, oldest first: the organization's score
    /// in each, or "not assessed" where the edition left it out (the
    /// transparency timeline, gaps included).
    #[arg(long, conflicts_with = "index")]
    pub editions: bool,
    /// Answer from the record as the service knew it at this time (RFC
    /// 3339): later corrections do not count.
    #[arg(long, value_parser = crate::analytics::parse_time)]
    pub known_as_of: Option<prost_types::Timestamp>,
}

/// `fwatch transparency --editions`: the organization in every edition.
async fn transparency_editions(
    client: &Client,
    format: Format,
    args: TransparencyArgs,
) -> anyhow::Result<()> {
    let mut editions = crate::import::every_page(
        client,
        |mut c, page_token| async move {
            c.list_transparency_indexes(ListTransparencyIndexesRequest {
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await
        },
        |page| (page.transparency_indexes, page.next_page_token),
    )
    .await?;
    editions.sort_by_key(|e| {
        e.edition_date
            .as_ref()
            .map(|d| (d.year, d.month, d.day))
            .unwrap_or_default()
    });
    let organization = named("organizations", &args.organization);
    let mut reports = Vec::new();
    for edition in &editions {
        let request = GetTransparencyReportRequest {
            organization: organization.clone(),
            index: edition.name.clone(),
            as_of: args.as_of,
            known_as_of: args.known_as_of,
        };
        match report_of(client, request).await {
            Ok(report) => reports.push((edition, report)),
            // Not yet published as of the date: no row to show.
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {}
            Err(status) => return Err(fail(status)),
        }
    }
    if format != Format::Table {
        let answers = reports
            .iter()
            .map(|(_, r)| dynamic(r).map(|m| crate::dynamic::to_json(&m)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        crate::output::print_list(format, &answers, None);
        return Ok(());
    }
    let rows: Vec<[String; 4]> = reports
        .iter()
        .map(|(edition, report)| {
            let date = edition
                .edition_date
                .as_ref()
                .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
                .unwrap_or_default();
            let (disclosed, share) = match report.overall.as_ref().filter(|_| report.assessed) {
                Some(o) => (
                    format!("{} of {}", o.disclosed, o.indicators),
                    format!("{:.0}%", o.share * 100.0),
                ),
                None => ("not assessed".to_owned(), String::new()),
            };
            [edition.name.clone(), date, disclosed, share]
        })
        .collect();
    println!("{organization}");
    table(&["EDITION", "DATE", "DISCLOSED", "SHARE"], &rows);
    Ok(())
}

pub async fn transparency(
    client: &Client,
    format: Format,
    args: TransparencyArgs,
) -> anyhow::Result<()> {
    if args.editions {
        return transparency_editions(client, format, args).await;
    }
    let request = GetTransparencyReportRequest {
        organization: named("organizations", &args.organization),
        index: args.index,
        as_of: args.as_of,
        known_as_of: args.known_as_of,
    };
    let report = report_of(client, request).await.map_err(fail)?;
    if structured(format, &report)? {
        return Ok(());
    }
    if !report.assessed {
        println!(
            "{} was not assessed{}",
            report.organization,
            if report.index.is_empty() {
                String::new()
            } else {
                format!(" by {}", report.index)
            }
        );
        return Ok(());
    }
    let row = |label: String, s: &TransparencyScore| {
        [
            label,
            format!("{} of {}", s.disclosed, s.indicators),
            format!("{:.0}%", s.share * 100.0),
        ]
    };
    let mut rows = Vec::new();
    if let Some(overall) = &report.overall {
        rows.push(row("overall".to_owned(), overall));
    }
    for d in &report.domains {
        rows.push(row(d.domain.clone(), d));
    }
    for s in &report.subdomains {
        rows.push(row(format!("{} / {}", s.domain, s.subdomain), s));
    }
    println!(
        "{}{}",
        report.organization,
        if report.index.is_empty() {
            String::new()
        } else {
            format!(" on {}", report.index)
        }
    );
    table(&["SCOPE", "DISCLOSED", "SHARE"], &rows);
    Ok(())
}

/// One GetTransparencyReport call, retried while the server is away.
async fn report_of(
    client: &Client,
    request: GetTransparencyReportRequest,
) -> Result<TransparencyReport, tonic::Status> {
    client
        .idempotent(|mut c| {
            let request = request.clone();
            async move { c.get_transparency_report(request).await }
        })
        .await
}
