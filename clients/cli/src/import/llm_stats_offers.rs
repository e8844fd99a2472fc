//! LLM-Stats' providers and their offers (providers.csv,
//! provider_models.csv), and the licences of releases (licenses.csv).
//!
//! Rules, so that counts can be derived from the files:
//! - each row of providers.csv is an organization: the developer of
//!   organizations.csv with the same id (Anthropic the provider is
//!   Anthropic the developer), else one resolved like them;
//! - each row of provider_models.csv is an offering
//!   `offerings/llmstats-{provider}-{model}`: the release of its `model_id`,
//!   served by its provider under `provider_model_id_used`, with one set of
//!   terms effective from the day of `updated_at` (the day LLM-Stats last
//!   recorded them; earlier terms are not in the file): prices in cents
//!   per million tokens become exact dollar amounts, `max_input_tokens` the
//!   context window, the `feature_*`, `*_modality_*` and `quantization`
//!   columns as they are, `deprecated_at` the deprecation date;
//! - a row's `throughput` becomes a measurement of output tokens per
//!   second, its `latency` one of time to first token in seconds (LLM-Stats
//!   reports latency as the time to the first token), each over the window
//!   from `created_at` to `updated_at`, measured by LLM-Stats as a third
//!   party, with no sample count (the file states none);
//! - a row whose model is not a release of models.csv, whose provider is
//!   not in providers.csv, or whose prices are not numbers is reported with
//!   its reason, as is an empty throughput or latency (no measurement);
//! - a release's licence is its `license_id`'s row of licenses.csv (name,
//!   `allow_commercial`); `unknown` states nothing. Its weights are open
//!   when the model row links them, closed when the licence is
//!   `proprietary`, and not stated otherwise.

use std::collections::HashMap;
use std::path::Path;

use frontierwatch_client::names::slug;
use frontierwatch_client::proto::{
    EvaluatorRelation, Licence, Measurement, MeasurementMetric, MeasurementUnit, Modality,
    Offering, OfferingFeature, OfferingTerms, Organization, Price, import_item::Resource,
};

use super::rows::{get, parse_date, read_csv};
use super::{Plan, Resolver, fnv, provenance};

type Row = HashMap<String, String>;

/// The LLM-Stats organization, who measured throughput and latency.
pub const LLM_STATS: &str = "organizations/llm-stats";

/// Licences by id, from licenses.csv (absent: none).
pub fn licences(dir: &Path) -> anyhow::Result<HashMap<String, Licence>> {
    let path = dir.join("licenses.csv");
    if !path.exists() {
        return Ok(HashMap::new());
    }
    Ok(read_csv(&path)?
        .into_iter()
        .filter(|(_, row)| get(row, "license_id") != "unknown")
        .map(|(_, row)| {
            let commercial = match get(&row, "allow_commercial").to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            };
            let licence = Licence {
                name: get(&row, "name").to_owned(),
                commercial_use: commercial,
                open_weights: None,
            };
            (get(&row, "license_id").to_owned(), licence)
        })
        .collect())
}

/// A model row's licence, with its weights as the row shows them.
pub fn licence_of(row: &Row, licences: &HashMap<String, Licence>) -> Option<Licence> {
    let id = get(row, "license_id");
    let mut licence = licences.get(id)?.clone();
    licence.open_weights = if !get(row, "source_weights_link").is_empty() {
        Some(true)
    } else if id == "proprietary" {
        Some(false)
    } else {
        None
    };
    Some(licence)
}

/// Cents as an exact dollar amount: `150` → `1.5`, `7.5` → `0.075`.
fn dollars(cents: &str) -> Option<String> {
    let (whole, fraction) = cents.split_once('.').unwrap_or((cents, ""));
    if whole.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{whole:0>3}{fraction}");
    let point = digits.len() - fraction.len() - 2;
    let (int, frac) = digits.split_at(point);
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    Some(match (int.is_empty(), frac.is_empty()) {
        (_, true) => {
            if int.is_empty() {
                "0".to_owned()
            } else {
                int.to_owned()
            }
        }
        (true, false) => format!("0.{frac}"),
        (false, false) => format!("{int}.{frac}"),
    })
}

fn yes(row: &Row, column: &str) -> bool {
    get(row, column).eq_ignore_ascii_case("true")
}

fn timestamp(text: &str) -> Option<prost_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).ok()?,
    })
}

/// Plans providers, offerings and measurements; `developers` maps
/// organizations.csv ids to the organizations planned for them,
/// `release_of_model` models.csv ids to the releases.
pub fn plan(
    dir: &Path,
    plan: &mut Plan,
    resolver: &mut Resolver,
    developers: &HashMap<String, String>,
    release_of_model: &HashMap<String, String>,
    dataset: &dyn Fn(&str) -> frontierwatch_client::proto::Source,
) -> anyhow::Result<()> {
    let providers_file = "providers.csv";
    let offers_file = "provider_models.csv";
    if !dir.join(providers_file).exists() || !dir.join(offers_file).exists() {
        return Ok(());
    }
    let mut providers: HashMap<String, String> = HashMap::new();
    for (line, row) in read_csv(&dir.join(providers_file))? {
        let id = get(&row, "provider_id");
        if let Some(name) = developers.get(id) {
            // The developer of the same id, planned already: stated once,
            // so that the dataset's one claim about it stays one.
            providers.insert(id.to_owned(), name.clone());
            continue;
        }
        let extra = Organization {
            website: get(&row, "website").to_owned(),
            ..Default::default()
        };
        match resolver.organization(
            plan,
            providers_file,
            line,
            get(&row, "name"),
            Some(id),
            extra,
        ) {
            Ok(name) => {
                providers.insert(id.to_owned(), name);
            }
            Err(reason) => plan.reject(providers_file, line, "organizations", id, reason),
        }
    }
    let measurer = Organization {
        name: LLM_STATS.to_owned(),
        display_name: "LLM-Stats".to_owned(),
        website: "https://llm-stats.com".to_owned(),
        ..Default::default()
    };
    plan.push(offers_file, 0, Resource::Organization(measurer));

    for (line, row) in read_csv(&dir.join(offers_file))? {
        let (provider_id, model_id) = (get(&row, "provider_id"), get(&row, "model_id"));
        let label = format!("{model_id} by {provider_id}");
        let id = match slug(&format!("llmstats-{provider_id}-{model_id}")) {
            Some(id) if id.len() <= 63 => id,
            _ => format!("llmstats-{}", fnv(&format!("{provider_id}|{model_id}"))),
        };
        let name = format!("offerings/{id}");
        let Some(release) = release_of_model.get(model_id) else {
            let why = format!("model {model_id:?} is not a release of models.csv");
            plan.reject(offers_file, line, "offerings", &label, why);
            continue;
        };
        let Some(provider) = providers.get(provider_id) else {
            let why = format!("provider {provider_id:?} is not in providers.csv");
            plan.reject(offers_file, line, "offerings", &label, why);
            continue;
        };
        let price = |column: &str| {
            dollars(get(&row, column)).map(|amount| Price {
                amount,
                currency_code: "USD".to_owned(),
            })
        };
        let (Some(input), Some(output)) = (
            price("input_cents_per_million_tokens"),
            price("output_cents_per_million_tokens"),
        ) else {
            plan.reject(
                offers_file,
                line,
                "offerings",
                &label,
                "its prices are not numbers",
            );
            continue;
        };
        let (created, updated) = (get(&row, "created_at"), get(&row, "updated_at"));
        let Some(effective) = parse_date(updated) else {
            let why = format!("updated_at {updated:?} is not a date");
            plan.reject(offers_file, line, "offerings", &label, why);
            continue;
        };
        let modalities = |direction: &str| -> Vec<i32> {
            [
                ("text", Modality::Text),
                ("image", Modality::Image),
                ("audio", Modality::Audio),
                ("video", Modality::Video),
            ]
            .into_iter()
            .filter(|(m, _)| yes(&row, &format!("{direction}_modality_{m}")))
            .map(|(_, m)| m as i32)
            .collect()
        };
        let features = [
            ("feature_function_calling", OfferingFeature::FunctionCalling),
            (
                "feature_structured_output",
                OfferingFeature::StructuredOutput,
            ),
            ("feature_batch_inference", OfferingFeature::Batch),
            ("feature_finetuning", OfferingFeature::FineTuning),
            ("feature_web_search", OfferingFeature::WebSearch),
            ("feature_code_execution", OfferingFeature::CodeExecution),
        ]
        .into_iter()
        .filter(|(column, _)| yes(&row, column))
        .map(|(_, f)| f as i32)
        .collect();
        let tokens = |column: &str| get(&row, column).parse::<i64>().unwrap_or(0);
        let source = || provenance(vec![dataset("")]);
        let offering = Offering {
            name: name.clone(),
            release: release.clone(),
            provider: provider.clone(),
            provider_model_id: get(&row, "provider_model_id_used").to_owned(),
            terms: vec![OfferingTerms {
                effective_date: Some(effective),
                input_price: Some(input),
                output_price: Some(output),
                context_window: tokens("max_input_tokens"),
                max_output_tokens: tokens("max_output_tokens"),
                input_modalities: modalities("input"),
                output_modalities: modalities("output"),
                features,
                quantization: get(&row, "quantization").to_owned(),
                provenance: None,
            }],
            deprecated_date: parse_date(get(&row, "deprecated_at")),
            provenance: source(),
            ..Default::default()
        };
        plan.push(offers_file, line, Resource::Offering(offering));
        for (column, metric, unit) in [
            (
                "throughput",
                MeasurementMetric::OutputTokensPerSecond,
                MeasurementUnit::TokensPerSecond,
            ),
            (
                "latency",
                MeasurementMetric::TimeToFirstToken,
                MeasurementUnit::Seconds,
            ),
        ] {
            let text = get(&row, column);
            let value = match text.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => v,
                _ => {
                    let why = if text.is_empty() {
                        format!("no {column} stated: no measurement")
                    } else {
                        format!("{column} {text:?} is not a number")
                    };
                    plan.reject(offers_file, line, "measurements", &label, why);
                    continue;
                }
            };
            let measurement = Measurement {
                name: format!(
                    "measurements/llmstats-{}",
                    fnv(&format!("{name}|{column}|{updated}"))
                ),
                offering: name.clone(),
                metric: metric as i32,
                value,
                unit: unit as i32,
                window_start: timestamp(created).or(timestamp(updated)),
                window_end: timestamp(updated),
                measured_by: LLM_STATS.to_owned(),
                relation: EvaluatorRelation::ThirdParty as i32,
                provenance: source(),
                ..Default::default()
            };
            plan.push(offers_file, line, Resource::Measurement(measurement));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::dollars;

    #[test]
    fn cents_become_exact_dollars() {
        for (cents, want) in [
            ("150", Some("1.5")),
            ("1500", Some("15")),
            ("7", Some("0.07")),
            ("7.5", Some("0.075")),
            ("0", Some("0")),
            ("10", Some("0.1")),
            ("", None),
            ("-5", None),
            ("1e3", None),
        ] {
            assert_eq!(dollars(cents).as_deref(), want, "{cents}");
        }
    }
}
