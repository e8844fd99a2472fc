//! `fwatch`: the command-line tool of Frontier Watch.
//!
//! Data imported with `fwatch import` comes from LLM-Stats (CC BY 4.0),
//! Epoch AI "Notable AI Models" (CC BY 4.0) and the Stanford CRFM Foundation
//! Model Transparency Index (CC BY 4.0).

/// Asks an idempotent RPC (retried as the client retries), its error
/// shown the way the CLI shows a status: `ask!(client, method, request)`.
macro_rules! ask {
    ($client:expr, $method:ident, $request:expr) => {{
        let request = &$request;
        $client
            .idempotent(|mut c| {
                let request = request.clone();
                async move { c.$method(request).await }
            })
            .await
            .map_err($crate::status::fail)?
    }};
}

mod analytics;
mod commands;
mod dynamic;
mod export;
mod history;
mod import;
mod kinds;
mod market;
mod output;
mod plot;
mod probe;
mod progress;
mod status;
mod table;
mod tabular;
mod tokens;
mod transparency;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use frontierwatch_client::{Auth, Client, ConnectOptions, TlsOptions};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;

use output::Format;

/// Frontier Watch from the command line: read and write resources, follow
/// the change stream, import public datasets.
#[derive(Parser)]
#[command(name = "fwatch", version, about)]
struct Cli {
    /// The server.
    #[arg(
        long,
        global = true,
        env = "FWATCH_SERVER",
        default_value = "http://localhost:50051"
    )]
    server: String,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Saves an analytics answer (leaderboard, compare, records, frontier,
    /// offering-report, ...) as a table in FILE instead of printing it:
    /// CSV, JSON Lines or Parquet by the extension (`.csv`, `.jsonl`,
    /// `.parquet`), a row per leaf (a board's row, a record).
    #[arg(long, global = true, value_name = "FILE")]
    save: Option<PathBuf>,
    /// The bearer token to send.
    #[arg(long, global = true, env = "FWATCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The PEM CA that signed an `https://` server's certificate; without
    /// it the system's roots are trusted.
    #[arg(long, global = true, env = "FWATCH_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// A file holding the bearer token; without --token or --token-file,
    /// `.frontierwatch/admin-token` is read when it exists (the token a
    /// local server made on its first start).
    #[arg(long, global = true, env = "FWATCH_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// The W3C trace id every call of this invocation carries (32 hex
    /// digits), to continue a caller's trace; a fresh one when unset. The
    /// server logs it with each call; errors print it.
    #[arg(long, global = true, env = "FWATCH_TRACE_ID")]
    trace_id: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Shows one resource by name.
    Get { name: String },
    /// Lists resources of a type: organizations, models, releases,
    /// benchmarks, results, disclosures, indicators.
    List {
        kind: String,
        /// A filter as field=value (request field names, e.g.
        /// benchmark=benchmarks/mmlu, stage=LIFECYCLE_STAGE_GENERALLY_AVAILABLE).
        #[arg(long = "filter", short = 'f')]
        filters: Vec<String>,
        #[arg(long, default_value_t = 50)]
        page_size: i32,
        #[arg(long, default_value = "")]
        page_token: String,
        /// Follow every page.
        #[arg(long)]
        all: bool,
    },
    /// Creates a resource from a JSON or YAML file (`-` for stdin).
    Create {
        kind: String,
        /// The id (last segment of the name); optional for results and
        /// disclosures.
        #[arg(long)]
        id: Option<String>,
        /// The model line, for releases.
        #[arg(long)]
        parent: Option<String>,
        #[arg(long = "file", short = 'f', default_value = "-")]
        file: String,
    },
    /// Updates a resource from a JSON or YAML file with the fields to change.
    Update {
        name: String,
        #[arg(long = "file", short = 'f', default_value = "-")]
        file: String,
        /// Comma-separated field paths; without it, every field in the file.
        #[arg(long)]
        mask: Option<String>,
    },
    /// Deletes a resource.
    Delete {
        name: String,
        #[arg(long)]
        etag: Option<String>,
    },
    /// Moves a release into another model line, with everything that
    /// refers to it; given a model line, moves each of its releases (the
    /// two lines merge, the emptied one stays until deleted).
    Move {
        /// A release, or a model line.
        name: String,
        /// The model line to move into, `models/{model}`.
        #[arg(long)]
        to: String,
        /// The release's id in that line (one release only); its own by default.
        #[arg(long)]
        id: Option<String>,
        /// The release's etag, when it must not have changed (one release only).
        #[arg(long)]
        etag: Option<String>,
    },
    /// Follows the change stream; resumes by itself after disconnects.
    Watch {
        /// Resume after this sequence.
        #[arg(long)]
        after: Option<i64>,
        /// Start with a snapshot of current state.
        #[arg(long)]
        snapshot: bool,
        /// Only these resource types (organization, model, release, ...).
        #[arg(long = "type")]
        types: Vec<String>,
        #[arg(long)]
        organization: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        benchmark: Option<String>,
        /// Only these change kinds (created, updated, deleted).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Stop after this many change events.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Ranks releases on a benchmark, per evaluation settings.
    Leaderboard(analytics::LeaderboardArgs),
    /// Compares releases on every benchmark they share, like for like.
    Compare(analytics::CompareArgs),
    /// Scores a cadence commitment's windows against actual releases.
    Cadence(analytics::CadenceArgs),
    /// The share of transparency indicators an organization discloses.
    Transparency(transparency::TransparencyArgs),
    /// The dated releases and stage changes of a model line or organization.
    Timeline(analytics::TimelineArgs),
    /// Who held a benchmark's record, from when and by how much; the pace,
    /// headroom and saturation; open weights against proprietary.
    Records(progress::RecordsArgs),
    /// A model line's releases against each other on shared benchmarks,
    /// regressions flagged.
    LineQuality(progress::LineQualityArgs),
    /// Each release on a benchmark's board with its cheapest offering's
    /// blended price, and whether it is on the price–score frontier.
    Frontier(market::FrontierArgs),
    /// An offering's (or a release's offerings') measurements over a
    /// window: medians, p90, means, availability, by week and condition.
    OfferingReport(market::ReportArgs),
    /// The terms (prices, limits) an offering had on a day.
    Terms(market::TermsArgs),
    /// Measures an OpenAI-compatible streaming endpoint (time to first
    /// token, tokens per second, success) and records it for an offering.
    Probe(probe::ProbeArgs),
    /// Every revision of one resource, newest first: what changed, when,
    /// who changed it and why (kept past the change log's retention).
    History {
        /// The resource's name, e.g. `benchmarkResults/gpqa-grok-4`.
        name: String,
    },
    /// Who changed what: every resource's revisions, newest first.
    Audit(history::AuditArgs),
    /// Manages bearer tokens (needs an admin token).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Writes stored resources to a file: JSON Lines (the generic import
    /// format), or one kind as CSV or Parquet. (An analytics answer is
    /// saved by its own command: `fwatch leaderboard gpqa --save
    /// board.parquet`.)
    Export(export::ExportArgs),
    /// Imports a public dataset.
    Import {
        #[command(subcommand)]
        source: ImportSource,
        /// Resources per server-side batch (one transaction each).
        #[arg(long, global = true, default_value_t = 500)]
        batch_size: usize,
        /// Batches sent at once; a batch that writes or refers to a name a
        /// batch in flight writes waits for it, so every outcome is the one
        /// of sending them one at a time.
        #[arg(long, global = true, default_value_t = 4)]
        in_flight: usize,
        /// Print the plan and write nothing: the model lines the import
        /// derived, each with its developers and releases, the releases it
        /// recognised as stored ones, and the rows it would reject.
        #[arg(long, global = true)]
        plan: bool,
    },
}

impl Command {
    /// Whether it answers with an analytics answer, which `--save` saves.
    fn answers(&self) -> bool {
        matches!(
            self,
            Command::Leaderboard(_)
                | Command::Compare(_)
                | Command::Cadence(_)
                | Command::Transparency(_)
                | Command::Timeline(_)
                | Command::Records(_)
                | Command::LineQuality(_)
                | Command::Frontier(_)
                | Command::OfferingReport(_)
                | Command::Terms(_)
                | Command::History { .. }
                | Command::Audit(_)
        )
    }
}

#[derive(Subcommand)]
enum TokenAction {
    /// Makes a token and prints its secret (shown only this once).
    Create {
        /// The token's id: `importer` makes `tokens/importer`.
        id: String,
        /// reader, writer or admin.
        #[arg(long)]
        role: String,
    },
    /// Lists tokens.
    List,
    /// Revokes a token: it stops working at once.
    Revoke { name: String },
}

#[derive(Subcommand)]
enum ImportSource {
    /// LLM-Stats: a folder with organizations.csv, models.csv,
    /// benchmarks.csv and benchmark_results.csv.
    LlmStats { dir: PathBuf },
    /// Epoch AI "Notable AI Models" CSV.
    Epoch { file: PathBuf },
    /// FMTI: a folder with Dec2025_indicators.csv and
    /// Dec2025_reports_long.csv.
    Fmti { dir: PathBuf },
    /// JSON Lines, one ImportItem per line, e.g.
    /// {"organization": {"name": "organizations/xai", "displayName": "xAI"}}.
    Jsonl { file: PathBuf },
}

#[tokio::main]
async fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so a write to a closed pipe (`fwatch list ... |
    // head`) fails and `println!` panics. Like other command-line tools,
    // end quietly instead: the signal's default action.
    // SAFETY: `signal` only sets the process's disposition of one signal;
    // nothing in this program installs a handler for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut cli = Cli::parse();
    output::set_format(cli.output);
    if let Some(save) = &cli.save {
        if !cli.command.answers() {
            eprintln!(
                "error: --save saves an analytics answer (leaderboard, compare, records, frontier, ...); `fwatch export` writes stored resources"
            );
            return ExitCode::from(2);
        }
        if let Err(error) = output::set_save(save) {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    }
    let trace_id = cli
        .trace_id
        .get_or_insert_with(frontierwatch_client::new_trace_id)
        .clone();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<import::RowsRejected>() => {
            eprintln!("error: {error}");
            error
                .downcast_ref::<import::RowsRejected>()
                .map_or(ExitCode::FAILURE, |r| ExitCode::from(r.exit_code()))
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            eprintln!("trace id: {trace_id} (the server logs it with these calls)");
            ExitCode::FAILURE
        }
    }
}

/// The token from --token, --token-file, or the local server's admin file.
fn token(cli: &Cli) -> anyhow::Result<Option<String>> {
    if let Some(token) = &cli.token {
        return Ok(Some(token.trim().to_owned()));
    }
    let (path, required) = match &cli.token_file {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(".frontierwatch/admin-token"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(_) if !required => Ok(None),
        Err(error) => Err(anyhow::anyhow!("cannot read {}: {error}", path.display())),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let token = token(&cli)?;
    let mut auth = Auth::bearer(token.as_deref())?;
    if let Some(trace_id) = &cli.trace_id {
        auth = auth.with_trace_id(trace_id)?;
    }
    let tls = match &cli.ca_file {
        Some(path) => Some(TlsOptions {
            ca_pem: Some(
                std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
            ),
            ..Default::default()
        }),
        None => cli.server.starts_with("https://").then(TlsOptions::default),
    };
    let mut endpoint = Endpoint::from_shared(cli.server.clone())?;
    if let Some(tls) = &tls {
        endpoint = endpoint.tls_config(tls.config())?;
    }
    let channel = InterceptedService::new(endpoint.connect_lazy(), auth);
    let mut options = ConnectOptions::new(cli.server.clone());
    options.auth_token = token;
    options.tls = tls;
    options.trace_id = cli.trace_id.clone();
    let client = Client::connect(options).await?;
    match cli.command {
        Command::Get { name } => commands::get(&channel, cli.output, &name).await,
        Command::List {
            kind,
            filters,
            page_size,
            page_token,
            all,
        } => {
            commands::list(
                &channel,
                cli.output,
                commands::ListArgs {
                    kind,
                    filters,
                    page_size,
                    page_token,
                    all,
                },
            )
            .await
        }
        Command::Create {
            kind,
            id,
            parent,
            file,
        } => {
            commands::create(
                &channel,
                cli.output,
                commands::CreateArgs {
                    kind,
                    id,
                    parent,
                    file,
                },
            )
            .await
        }
        Command::Update { name, file, mask } => {
            commands::update(&channel, cli.output, &name, &file, mask).await
        }
        Command::Delete { name, etag } => commands::delete(&channel, &name, etag).await,
        Command::Move { name, to, id, etag } => {
            commands::move_release(&channel, cli.output, &name, &to, id, etag).await
        }
        Command::Watch {
            after,
            snapshot,
            types,
            organization,
            model,
            benchmark,
            kinds,
            limit,
        } => {
            let args = commands::WatchArgs {
                after,
                snapshot,
                types,
                organization,
                model,
                benchmark,
                kinds,
                limit,
            };
            commands::watch(&client, cli.output, args).await
        }
        Command::Leaderboard(args) => analytics::leaderboard(&client, cli.output, args).await,
        Command::Compare(args) => analytics::compare(&client, cli.output, args).await,
        Command::Cadence(args) => analytics::cadence(&client, cli.output, args).await,
        Command::Transparency(args) => transparency::transparency(&client, cli.output, args).await,
        Command::Timeline(args) => analytics::timeline(&client, cli.output, args).await,
        Command::Records(args) => progress::records(&client, cli.output, args).await,
        Command::LineQuality(args) => progress::line_quality(&client, cli.output, args).await,
        Command::Frontier(args) => market::frontier(&client, cli.output, args).await,
        Command::OfferingReport(args) => market::report(&client, cli.output, args).await,
        Command::Terms(args) => market::terms(&client, cli.output, args).await,
        Command::Probe(args) => probe::probe(&client, cli.output, args).await,
        Command::History { name } => history::history(&client, cli.output, &name).await,
        Command::Audit(args) => history::audit(&client, cli.output, args).await,
        Command::Token { action } => match action {
            TokenAction::Create { id, role } => tokens::create(&channel, &id, &role).await,
            TokenAction::List => tokens::list(&channel).await,
            TokenAction::Revoke { name } => tokens::revoke(&channel, &name).await,
        },
        Command::Export(args) => export::export(&channel, args).await,
        Command::Import {
            source,
            batch_size,
            in_flight,
            plan,
        } => {
            let source = match source {
                ImportSource::LlmStats { dir } => import::Source::LlmStats(dir),
                ImportSource::Epoch { file } => import::Source::Epoch(file),
                ImportSource::Fmti { dir } => import::Source::Fmti(dir),
                ImportSource::Jsonl { file } => import::Source::Jsonl(file),
            };
            if plan {
                return import::plan_only(&client, cli.output, source).await;
            }
            import::run(
                &client,
                cli.output,
                source,
                batch_size.max(1),
                in_flight.max(1),
            )
            .await
        }
    }
}
