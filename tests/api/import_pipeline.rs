//! `fwatch import` sends several batches at once (`--in-flight`), each
//! after the batches in flight that it depends on: the outcome of every row
//! and what is stored are those of sending the batches one at a time.
//!
//! Data: LLM-Stats (CC BY 4.0), Epoch AI "Notable AI Models" (CC BY 4.0).

use serde_json::Value;

use crate::datasets::{data, import};
use crate::harness::TestServer;

/// What is stored, without what every write renews (etags, times): each
/// resource's indexed columns, its references and its claims.
async fn state(server: &TestServer) -> Vec<String> {
    let pool = server.pool().await;
    let mut out = Vec::new();
    for query in [
        "SELECT concat_ws(' ', name, kind, model, release, benchmark, organizations::text, \
                          score, offering, provider, metric) FROM resources ORDER BY 1",
        "SELECT concat_ws(' ', 'ref', from_name, to_name, field) FROM resource_refs ORDER BY 1",
        "SELECT concat_ws(' ', 'claim', name, claimant, authority, md5(data)) \
           FROM resource_claims ORDER BY 1",
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(query).fetch_all(&pool).await.unwrap();
        out.extend(rows.into_iter().map(|(row,)| row));
    }
    out
}

/// Imports LLM-Stats, then Epoch's file (which merges with it), in batches
/// of `batch` rows, `in_flight` at once; returns both reports and the state.
async fn imported(batch: &str, in_flight: &str) -> (Vec<Value>, Vec<String>) {
    let server = TestServer::start().await;
    let mut reports = Vec::new();
    for (source, path) in [
        ("llm-stats", data("llm_stats")),
        (
            "epoch",
            data("epoch_models/notable_ai_models_accessed_2026-01-26.csv"),
        ),
    ] {
        let path = path.to_str().unwrap().to_owned();
        let mut report = import(
            &server,
            &[
                "--batch-size",
                batch,
                "--in-flight",
                in_flight,
                source,
                &path,
            ],
        );
        report.as_object_mut().unwrap().remove("seconds");
        reports.push(report);
    }
    (reports, state(&server).await)
}

#[tokio::test]
async fn batches_sent_at_once_end_as_batches_sent_one_at_a_time() {
    // Small batches, so that many depend on the ones just before them.
    let (one, one_state) = imported("8", "1").await;
    let (many, many_state) = imported("8", "16").await;
    assert_eq!(one, many, "the reports");
    assert!(
        one_state.len() > 10_000,
        "the datasets are stored: {}",
        one_state.len()
    );
    assert!(one_state == many_state, "the stored state");
}
