//! Prices against scores: each release's cheapest offering on a date, and
//! the price–score Pareto frontier of a benchmark's leaderboard.

use std::collections::HashMap;

use chrono::NaiveDate;
use frontierwatch_proto::v1::*;
use prost::Message as _;

use super::leaderboard::{LeaderboardQuery, board_priced};
use crate::domain::analytics::better;
use crate::domain::market::{Amount, amount, price, serves_on, terms_on};
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::market::offerings_of;

/// How input and output prices blend into one: weights and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blend {
    pub input: u32,
    pub output: u32,
    pub currency: String,
}

impl Default for Blend {
    /// 3:1 input to output, in US dollars.
    fn default() -> Self {
        Blend {
            input: 3,
            output: 1,
            currency: "USD".to_owned(),
        }
    }
}

impl Blend {
    pub fn describe(&self) -> String {
        format!(
            "{}:{} input:output, {} per million tokens",
            self.input, self.output, self.currency
        )
    }
}

/// A release's cheapest offering on a date.
#[derive(Debug, Clone, PartialEq)]
pub struct Cheapest {
    pub offering: String,
    pub provider: String,
    pub blended: Amount,
    pub input: Price,
    pub output: Price,
}

/// The cheapest offering of each release on `day` by blended price in the
/// blend's currency (ties by offering name): an offering counts when it
/// serves on that day and has terms in effect priced in that currency.
pub async fn cheapest(
    store: &Store,
    releases: &[String],
    day: NaiveDate,
    blend: &Blend,
) -> Result<HashMap<String, Cheapest>, ApiError> {
    let mut best: HashMap<String, Cheapest> = HashMap::new();
    for (name, data) in offerings_of(store.pool(), releases).await? {
        let offering = Offering::decode(data.as_slice()).map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("stored offering does not decode"))
        })?;
        if !serves_on(&offering, day) {
            continue;
        }
        let Some(terms) = terms_on(&offering, day) else {
            continue;
        };
        let (Some(input), Some(output)) = (&terms.input_price, &terms.output_price) else {
            continue;
        };
        if input.currency_code != blend.currency {
            continue;
        }
        let (Some(i), Some(o)) = (amount(Some(input)), amount(Some(output))) else {
            continue;
        };
        let blended = Amount::blend(i, blend.input, o, blend.output);
        let candidate = Cheapest {
            offering: name,
            provider: offering.provider.clone(),
            blended,
            input: input.clone(),
            output: output.clone(),
        };
        match best.get(&offering.release) {
            Some(current) if current.blended <= blended => {}
            _ => {
                best.insert(offering.release.clone(), candidate);
            }
        }
    }
    Ok(best)
}

/// A validated price frontier question.
#[derive(Debug, Clone)]
pub struct PriceFrontierQuery {
    pub board: LeaderboardQuery,
    /// Only this section, when set.
    pub settings_key: Option<String>,
    /// Prices are read on the board's day (its `as_of`, or today).
    pub blend: Blend,
}

/// The leaderboard's rows with their cheapest prices, and which are on
/// the frontier.
pub async fn price_frontier(
    store: &Store,
    q: &PriceFrontierQuery,
) -> Result<PriceFrontier, ApiError> {
    // The board reads the cheapest offering of each release it shows; a
    // point needs no more of a result than the board ranks it by.
    let (board, prices) = board_priced(store, &q.board, &q.blend, false).await?;
    let direction = ScoreDirection::try_from(board.direction).unwrap_or_default();
    let mut sections = Vec::new();
    for section in board.sections {
        if q.settings_key
            .as_ref()
            .is_some_and(|k| *k != section.settings_key)
        {
            continue;
        }
        let mut points: Vec<PricePoint> = section
            .rows
            .iter()
            .map(|row| {
                let cheapest = prices.get(&row.release);
                PricePoint {
                    release: row.release.clone(),
                    release_display_name: row.release_display_name.clone(),
                    rank: row.rank,
                    score: row.score,
                    benchmark_result: row.benchmark_result.clone(),
                    offering: cheapest.map(|c| c.offering.clone()).unwrap_or_default(),
                    provider: cheapest.map(|c| c.provider.clone()).unwrap_or_default(),
                    blended_price: cheapest.map(|c| price(c.blended, &q.blend.currency)),
                    input_price: cheapest.map(|c| c.input.clone()),
                    output_price: cheapest.map(|c| c.output.clone()),
                    on_frontier: false,
                    open_weights: row.open_weights,
                }
            })
            .collect();
        let priced: Vec<(Amount, f64)> = points
            .iter()
            .map(|p| {
                let blended = prices.get(&p.release).map(|c| c.blended);
                (blended.unwrap_or(Amount(i128::MAX)), p.score)
            })
            .collect();
        for (i, on) in pareto(&priced, direction).into_iter().enumerate() {
            points[i].on_frontier = on && points[i].blended_price.is_some();
        }
        let unpriced = points.iter().filter(|p| p.blended_price.is_none()).count();
        sections.push(PriceFrontierSection {
            settings_key: section.settings_key,
            points,
            unpriced: i32::try_from(unpriced).unwrap_or(i32::MAX),
        });
    }
    Ok(PriceFrontier {
        benchmark: board.benchmark,
        direction: board.direction,
        blend: q.blend.describe(),
        currency_code: q.blend.currency.clone(),
        sections,
    })
}

/// Which points no other point dominates: at least as cheap and at least
/// as good, and strictly one of the two. Equal points do not dominate
/// each other.
pub fn pareto(points: &[(Amount, f64)], direction: ScoreDirection) -> Vec<bool> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    // Cheapest first; at one price, the best score first.
    order.sort_by(|&a, &b| {
        let (pa, sa) = points[a];
        let (pb, sb) = points[b];
        pa.cmp(&pb).then_with(|| {
            if better(direction, sa, sb) {
                std::cmp::Ordering::Less
            } else if better(direction, sb, sa) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
    });
    let mut on = vec![false; points.len()];
    // The best score among strictly cheaper points.
    let mut best_cheaper: Option<f64> = None;
    let mut i = 0;
    while i < order.len() {
        let price = points[order[i]].0;
        let group_best = points[order[i]].1;
        let mut j = i;
        while j < order.len() && points[order[j]].0 == price {
            let score = points[order[j]].1;
            let ties_best = !better(direction, group_best, score);
            let beats_cheaper = best_cheaper.is_none_or(|b| better(direction, score, b));
            on[order[j]] = ties_best && beats_cheaper;
            j += 1;
        }
        if best_cheaper.is_none_or(|b| better(direction, group_best, b)) {
            best_cheaper = Some(group_best);
        }
        i = j;
    }
    on
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(points: &[(Amount, f64)]) -> Vec<bool> {
        (0..points.len())
            .map(|i| {
                let (p, s) = points[i];
                !points
                    .iter()
                    .any(|&(q, t)| q <= p && t >= s && (q < p || t > s))
            })
            .collect()
    }

    #[test]
    fn the_sweep_agrees_with_the_definition() {
        let mut seed = 7u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for _ in 0..500 {
            let n = 1 + next(12) as usize;
            let points: Vec<(Amount, f64)> = (0..n)
                .map(|_| (Amount(next(5) as i128), next(5) as f64))
                .collect();
            assert_eq!(
                pareto(&points, ScoreDirection::HigherIsBetter),
                brute(&points),
                "{points:?}"
            );
            let negated: Vec<(Amount, f64)> = points.iter().map(|&(p, s)| (p, -s)).collect();
            assert_eq!(
                pareto(&negated, ScoreDirection::LowerIsBetter),
                brute(&points),
                "{points:?}"
            );
        }
    }
}
