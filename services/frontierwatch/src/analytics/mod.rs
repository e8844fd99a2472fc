//! The analytics layer: leaderboards, comparisons, cadence, transparency,
//! timelines, record progressions and model line quality, computed from the store for typed questions and answered
//! as the service's values. The gRPC handlers (`api`) only turn requests
//! into these questions; the alert evaluator (`stream::evaluator`) asks
//! them directly.

mod cadence;
mod compare;
mod leaderboard;
mod prices;
mod progression;
mod quality;
mod report;
mod transparency;

pub use cadence::{cadence_report, qualifying_releases, timeline, today_or};
pub use compare::{CompareQuery, compare};
pub use leaderboard::{LeaderboardQuery, board};
pub use prices::{Blend, PriceFrontierQuery, price_frontier};
pub use progression::{ProgressionQuery, progression};
pub use quality::{LineQualityQuery, line_quality};
pub use report::{OfferingReportQuery, offering_report};
pub use transparency::transparency;
