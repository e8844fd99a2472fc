//! Scores on the stored benchmark's scale. A source states the scale of
//! its own benchmarks (LLM-Stats' `max_score`, a JSON Lines benchmark's
//! `scale`); when the server already holds that benchmark on another scale
//! (a person created SWE-bench Verified as a percentage before importing
//! LLM-Stats, whose scores are fractions), each result is converted to the
//! stored scale, keeping its raw value as the source wrote it, or rejected
//! with the reason where no conversion exists. Never stored unconverted.

use std::collections::HashMap;

use frontierwatch_client::Client;
use frontierwatch_client::proto::{ListBenchmarksRequest, ScoreScale, import_item::Resource};

use super::{Plan, Rejection};

fn label(scale: ScoreScale) -> String {
    scale
        .as_str_name()
        .trim_start_matches("SCORE_SCALE_")
        .to_lowercase()
}

/// `score` from the `from` scale on the `to` scale, where one converts.
/// The decimal point moves in the number's shortest decimal form, so that
/// 0.749 becomes 74.9 exactly as a person would write it (multiplying by
/// 100 gives 74.90000000000001).
pub fn convert(score: f64, from: ScoreScale, to: ScoreScale) -> Option<f64> {
    match (from, to) {
        _ if from == to => Some(score),
        (ScoreScale::Fraction, ScoreScale::Percent) => shift(score, 2),
        (ScoreScale::Percent, ScoreScale::Fraction) => shift(score, -2),
        _ => None,
    }
}

/// `value` × 10^places, by moving the decimal point of its shortest
/// decimal form (`{:e}` prints the shortest digits that read back as the
/// same number).
fn shift(value: f64, places: i32) -> Option<f64> {
    let text = format!("{value:e}");
    let (mantissa, exponent) = text.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    format!("{mantissa}e{}", exponent + places).parse().ok()
}

/// Converts (or rejects) every planned result whose source states a scale
/// other than the stored benchmark's.
pub async fn align(client: &Client, plan: &mut Plan) -> anyhow::Result<()> {
    let stated: HashMap<String, ScoreScale> = plan
        .rows
        .iter()
        .filter_map(|row| match &row.resource {
            Resource::Benchmark(b) if b.scale() != ScoreScale::Unspecified => {
                Some((b.name.clone(), b.scale()))
            }
            _ => None,
        })
        .collect();
    // Every stored benchmark's scale, in one listing (a few pages at most)
    // rather than a Get per planned benchmark.
    let stored: HashMap<String, ScoreScale> = super::every_page(
        client,
        |mut c, page_token| async move {
            c.list_benchmarks(ListBenchmarksRequest {
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await
        },
        |page| (page.benchmarks, page.next_page_token),
    )
    .await?
    .into_iter()
    .filter(|b| stated.contains_key(&b.name))
    .map(|b| (b.name.clone(), b.scale()))
    .collect();
    let mut kept = Vec::with_capacity(plan.rows.len());
    for mut row in std::mem::take(&mut plan.rows) {
        // The source's benchmark row keeps the stored scale: a claim of
        // another scale would move the results already stored on it.
        if let Resource::Benchmark(benchmark) = &mut row.resource
            && let Some(&to) = stored.get(&benchmark.name)
            && benchmark.scale() != to
        {
            if convert(0.0, benchmark.scale(), to).is_some() {
                benchmark.set_scale(to);
            } else {
                let (name, from) = (benchmark.name.clone(), benchmark.scale());
                plan.rejected.push(Rejection {
                    file: row.file.clone(),
                    line: row.line,
                    kind: super::kind_of(&row.resource),
                    name,
                    reason: format!(
                        "the source states the {} scale, the stored benchmark is on the {} scale, and no conversion exists",
                        label(from),
                        label(to)
                    ),
                });
                continue;
            }
        }
        if let Resource::BenchmarkResult(result) = &mut row.resource
            && let Some(&from) = stated.get(&result.benchmark)
            && let Some(&to) = stored.get(&result.benchmark)
            && from != to
        {
            match convert(result.score, from, to) {
                Some(score) => result.score = score,
                None => {
                    let name = result.name.clone();
                    let reason = format!(
                        "the source states {} on the {} scale, but the stored benchmark is on the {} scale, and no conversion exists",
                        result.benchmark,
                        label(from),
                        label(to)
                    );
                    plan.rejected.push(Rejection {
                        file: row.file.clone(),
                        line: row.line,
                        kind: super::kind_of(&row.resource),
                        name,
                        reason,
                    });
                    continue;
                }
            }
        }
        kept.push(row);
    }
    plan.rows = kept;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_and_percentages_convert_and_nothing_else_does() {
        assert_eq!(
            convert(0.749, ScoreScale::Fraction, ScoreScale::Percent),
            Some(74.9)
        );
        assert_eq!(
            convert(74.9, ScoreScale::Percent, ScoreScale::Fraction),
            Some(0.749)
        );
        assert_eq!(
            convert(1500.0, ScoreScale::Elo, ScoreScale::Elo),
            Some(1500.0)
        );
        assert_eq!(convert(0.5, ScoreScale::Fraction, ScoreScale::Elo), None);
    }
}
