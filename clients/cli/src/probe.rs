//! `fwatch probe`: measures an OpenAI-compatible streaming chat
//! completions endpoint and records what it saw as measurements of an
//! offering.
//!
//! Each probe sends one streaming request (`stream: true`) and reads its
//! server-sent events. It records, over the window from sending the
//! request to the end of the stream, with a sample count of 1:
//! - `SUCCESS_RATE` 1 when the answer was 200 and the stream ended with
//!   `data: [DONE]` (or a chunk with a `finish_reason` before a clean end),
//!   0 otherwise: an error status, a dropped connection, a timeout;
//! - `TIME_TO_FIRST_TOKEN`: from sending the request to the first chunk
//!   that carries content;
//! - `OUTPUT_TOKENS_PER_SECOND`: the tokens after the first over the time
//!   from the first to the last (the usage the endpoint reports when it
//!   does, else one token per content chunk); only with two tokens or more.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use frontierwatch_client::Client;
use frontierwatch_client::proto::*;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::analytics::{named, score};
use crate::output::{Format, print_message, table};

/// `fwatch probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The offering measured: `offerings/x` or `x`.
    pub offering: String,
    /// The endpoint's base URL, e.g. `https://api.openai.com/v1`; the
    /// probe posts to `{base}/chat/completions`.
    #[arg(long)]
    pub base_url: String,
    /// The model id the endpoint serves the offering under.
    #[arg(long)]
    pub model: String,
    /// The environment variable holding the API key (sent as a bearer
    /// token; none is sent when it is unset).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// How long a prompt to send: short (~100 tokens), medium (~2,000) or
    /// long (~12,000).
    #[arg(long, value_enum, default_value_t = Size::Short)]
    pub prompt_size: Size,
    /// The most tokens to ask for.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// How many probes to run.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Seconds between the starts of two probes.
    #[arg(long, default_value_t = 60.0)]
    pub interval: f64,
    /// Seconds one probe may take before it counts as failed.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// The region the probe runs from, recorded as a condition.
    #[arg(long)]
    pub region: Option<String>,
    /// The network the probe runs over, recorded as a condition.
    #[arg(long, value_enum)]
    pub network: Option<crate::market::NetworkArg>,
    /// Who measures, `organizations/x` (recorded as a third party).
    #[arg(long)]
    pub measured_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Size {
    Short,
    Medium,
    Long,
}

impl Size {
    fn prompt(self) -> String {
        let (words, size) = match self {
            Size::Short => (75, "short"),
            Size::Medium => (1500, "medium"),
            Size::Long => (9000, "long"),
        };
        let filler = "The frontier moves when a release beats the record. ".repeat(words / 10 + 1);
        format!(
            "This is a {size} latency probe. Ignore the text that follows and write a short \
             paragraph about measuring language model latency.\n\n{filler}"
        )
    }

    fn condition(self) -> PromptSize {
        match self {
            Size::Short => PromptSize::Short,
            Size::Medium => PromptSize::Medium,
            Size::Long => PromptSize::Long,
        }
    }
}

/// What one probe saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub status: u16,
    pub succeeded: bool,
    pub error: String,
    pub first_token: Option<Duration>,
    pub last_token: Option<Duration>,
    pub chunks: u64,
    pub reported_tokens: Option<u64>,
}

impl Seen {
    pub fn tokens(&self) -> u64 {
        self.reported_tokens.unwrap_or(self.chunks)
    }

    pub fn tokens_per_second(&self) -> Option<f64> {
        let span = self
            .last_token?
            .checked_sub(self.first_token?)?
            .as_secs_f64();
        (self.tokens() >= 2 && span > 0.0).then(|| (self.tokens() - 1) as f64 / span)
    }
}

/// The endpoint, parsed once.
struct Endpoint {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

fn endpoint(base: &str) -> anyhow::Result<Endpoint> {
    let uri: hyper::Uri = base
        .parse()
        .with_context(|| format!("{base:?} is not a URL"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!("{base:?} must start with http:// or https://"),
    };
    let host = uri.host().context("the base URL names no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path = format!("{}/chat/completions", uri.path().trim_end_matches('/'));
    Ok(Endpoint {
        tls,
        host,
        port,
        path,
    })
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(e: &Endpoint) -> anyhow::Result<Box<dyn Stream>> {
    let tcp = tokio::net::TcpStream::connect((e.host.as_str(), e.port))
        .await
        .with_context(|| format!("cannot connect to {}:{}", e.host, e.port))?;
    if !e.tls {
        return Ok(Box::new(tcp));
    }
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(e.host.clone())?;
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS with {} failed", e.host))?;
    Ok(Box::new(tls))
}

/// One probe: sends the request, reads the stream, times the tokens.
async fn probe_once(e: &Endpoint, key: Option<&str>, body: &str) -> Seen {
    let start = Instant::now();
    let mut seen = Seen::default();
    if let Err(error) = exchange(e, key, body, start, &mut seen).await {
        seen.succeeded = false;
        seen.error = format!("{error:#}");
    }
    seen
}

async fn exchange(
    e: &Endpoint,
    key: Option<&str>,
    body: &str,
    start: Instant,
    seen: &mut Seen,
) -> anyhow::Result<()> {
    let io = TokioIo::new(connect(e).await?);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    let mut request = hyper::Request::post(&e.path)
        .header("host", &e.host)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let request = request.body(Full::new(Bytes::from(body.to_owned())))?;
    let response = sender.send_request(request).await?;
    seen.status = response.status().as_u16();
    let mut body = response.into_body();
    let mut buffer: Vec<u8> = Vec::new();
    let (mut done, mut finished) = (false, false);
    while let Some(frame) = body.frame().await {
        let frame = frame.context("the stream broke off")?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(payload) = line.trim().strip_prefix("data:") else {
                continue;
            };
            let payload = payload.trim();
            if payload == "[DONE]" {
                done = true;
                continue;
            }
            let Ok(chunk) = serde_json::from_str::<serde_json::Value>(payload) else {
                continue;
            };
            if let Some(tokens) = chunk["usage"]["completion_tokens"].as_u64() {
                seen.reported_tokens = Some(tokens);
            }
            let choice = &chunk["choices"][0];
            if choice["delta"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
            {
                let now = start.elapsed();
                seen.first_token.get_or_insert(now);
                seen.last_token = Some(now);
                seen.chunks += 1;
            }
            finished |= choice["finish_reason"].is_string();
        }
    }
    if seen.status != 200 {
        let text = String::from_utf8_lossy(&buffer);
        bail!(
            "the endpoint answered {}: {}",
            seen.status,
            text.chars().take(200).collect::<String>()
        );
    }
    if !(done || finished) {
        bail!("the stream ended before it was complete");
    }
    seen.succeeded = true;
    Ok(())
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub async fn probe(client: &Client, format: Format, args: ProbeArgs) -> anyhow::Result<()> {
    let e = endpoint(&args.base_url)?;
    let offering = named("offerings", &args.offering);
    // The offering must exist before any request is spent on it.
    client
        .get::<Offering>(&offering)
        .await
        .map_err(crate::status::fail)?;
    let key = std::env::var(&args.api_key_env)
        .ok()
        .filter(|k| !k.is_empty());
    let body = serde_json::json!({
        "model": args.model,
        "messages": [{"role": "user", "content": args.prompt_size.prompt()}],
        "max_tokens": args.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
    })
    .to_string();
    if !(args.interval >= 0.0
        && args.interval.is_finite()
        && args.timeout > 0.0
        && args.timeout.is_finite())
    {
        bail!("--interval must be 0 or more and --timeout more than 0 seconds");
    }
    let conditions = MeasurementConditions {
        region: args.region.clone().unwrap_or_default(),
        network: match args.network {
            None => Network::Unspecified,
            Some(crate::market::NetworkArg::Terrestrial) => Network::Terrestrial,
            Some(crate::market::NetworkArg::Cellular) => Network::Cellular,
            Some(crate::market::NetworkArg::Satellite) => Network::Satellite,
        } as i32,
        prompt_size: args.prompt_size.condition() as i32,
        concurrency: 1,
    };
    let source = Provenance {
        sources: vec![Source {
            uri: format!("{}/chat/completions", args.base_url.trim_end_matches('/')),
            publisher: "fwatch probe".to_owned(),
            kind: SourceKind::Unspecified as i32,
            ..Default::default()
        }],
    };
    let mut rows: Vec<[String; 6]> = Vec::new();
    let mut recorded: Vec<Measurement> = Vec::new();
    let mut next = Instant::now();
    for i in 0..args.count {
        tokio::time::sleep_until(next.into()).await;
        next += Duration::from_secs_f64(args.interval);
        let started = Utc::now();
        let seen = tokio::time::timeout(
            Duration::from_secs_f64(args.timeout),
            probe_once(&e, key.as_deref(), &body),
        )
        .await
        .unwrap_or_else(|_| Seen {
            error: format!("no complete answer within {} s", args.timeout),
            ..Seen::default()
        });
        let ended = Utc::now();
        let measurement =
            |metric: MeasurementMetric, value: f64, unit: MeasurementUnit| Measurement {
                offering: offering.clone(),
                metric: metric as i32,
                value,
                unit: unit as i32,
                window_start: Some(timestamp(started)),
                window_end: Some(timestamp(ended)),
                sample_count: Some(1),
                conditions: Some(conditions.clone()),
                measured_by: args.measured_by.clone().unwrap_or_default(),
                relation: if args.measured_by.is_some() {
                    EvaluatorRelation::ThirdParty as i32
                } else {
                    EvaluatorRelation::Unspecified as i32
                },
                provenance: Some(source.clone()),
                ..Default::default()
            };
        let mut batch = vec![measurement(
            MeasurementMetric::SuccessRate,
            if seen.succeeded { 1.0 } else { 0.0 },
            MeasurementUnit::Fraction,
        )];
        if let Some(first) = seen.first_token {
            batch.push(measurement(
                MeasurementMetric::TimeToFirstToken,
                first.as_secs_f64(),
                MeasurementUnit::Seconds,
            ));
        }
        if let Some(rate) = seen.tokens_per_second() {
            batch.push(measurement(
                MeasurementMetric::OutputTokensPerSecond,
                rate,
                MeasurementUnit::TokensPerSecond,
            ));
        }
        for m in batch {
            let stored = client
                .create_measurement("", m)
                .await
                .map_err(crate::status::fail)?;
            recorded.push(stored);
        }
        rows.push([
            (i + 1).to_string(),
            if seen.succeeded {
                "ok".to_owned()
            } else {
                format!("failed: {}", seen.error)
            },
            seen.first_token
                .map(|d| score(d.as_secs_f64()))
                .unwrap_or_default(),
            seen.tokens().to_string(),
            seen.tokens_per_second().map(score).unwrap_or_default(),
            seen.status.to_string(),
        ]);
    }
    match format {
        Format::Table | Format::Csv => table(
            &["PROBE", "RESULT", "TTFT S", "TOKENS", "TOKENS/S", "HTTP"],
            &rows,
        ),
        _ => {
            let list = ListMeasurementsResponse {
                measurements: recorded,
                next_page_token: String::new(),
            };
            print_message(format, &crate::dynamic::dynamic(&list)?);
        }
    }
    if rows.iter().all(|r| r[1] != "ok") && !rows.is_empty() {
        return Err(anyhow!(
            "every probe failed (recorded as a success rate of 0)"
        ));
    }
    Ok(())
}
