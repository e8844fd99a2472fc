//! MoveRelease: mending a wrong grouping. A release moved into another
//! model line keeps everything that refers to it, its old name still
//! answers, the move is streamed as ordinary changes in one transaction,
//! and a later import of the same data does not undo it.

use std::time::Duration;

use frontierwatch_proto::v1::*;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::{TestServer, run_fwatch_status};
use crate::watch::head;
use crate::watch_support::{Msg, Recorder};

fn move_request(name: &str, model: &str) -> MoveReleaseRequest {
    MoveReleaseRequest {
        name: name.to_owned(),
        model: model.to_owned(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_release_keeps_what_refers_to_it_and_its_old_name_answers() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "wrong", &["lab"]).await;
    create_model(&mut c, "right", &["lab"]).await;
    let base = create_release(&mut c, "wrong", "r1", release("R1")).await;
    let variant = create_release(
        &mut c,
        "wrong",
        "r1-tuned",
        Release {
            base_release: base.name.clone(),
            variant_kind: VariantKind::FineTune as i32,
            ..release("R1 tuned")
        },
    )
    .await;
    create_benchmark(&mut c, "bench", ScoreScale::Percent, "reasoning").await;
    let scored = create_result(
        &mut c,
        "r1-bench",
        result(&base.name, "benchmarks/bench", 61.5),
    )
    .await;
    let disclosed = create_disclosure(
        &mut c,
        "r1-hw",
        disclosure(&base.name, DisclosureCategory::ComputeHardware),
    )
    .await;
    // A second source's claim about the release, so that it has claims.
    let claimed = c
        .import_resources(ImportResourcesRequest {
            items: vec![ImportItem {
                line: 1,
                resource: Some(import_item::Resource::Release(Release {
                    name: base.name.clone(),
                    display_name: "R-1".to_owned(),
                    provenance: Some(Provenance {
                        sources: vec![Source {
                            uri: "https://other.example/r1".to_owned(),
                            publisher: "Another source".to_owned(),
                            kind: SourceKind::ThirdPartyLeaderboard as i32,
                            ..Default::default()
                        }],
                    }),
                    ..Default::default()
                })),
            }],
            source: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        claimed.outcomes[0].result,
        ImportResult::Updated as i32,
        "{claimed:?}"
    );
    let pool = server.pool().await;
    let claims_of = |name: String| {
        let pool = pool.clone();
        async move {
            let (n,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM resource_claims WHERE name = $1")
                    .bind(name)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            n
        }
    };
    let claims = claims_of(base.name.clone()).await;
    assert_eq!(claims, 2, "the release has its two sources' claims");
    let before = head(&server).await;
    let recorder = Recorder::after(&mut c, before).await;

    // Refused, and nothing written: bad names, the same line, a line that
    // does not exist, a taken name, a stale etag, an unknown release.
    let refused = c
        .move_release(move_request("", "models/right"))
        .await
        .unwrap_err();
    assert_invalid(&refused, "name");
    let refused = c
        .move_release(move_request(&base.name, "right"))
        .await
        .unwrap_err();
    assert_invalid(&refused, "model");
    let refused = c
        .move_release(MoveReleaseRequest {
            release_id: "Not An Id".to_owned(),
            ..move_request(&base.name, "models/right")
        })
        .await
        .unwrap_err();
    assert_invalid(&refused, "release_id");
    let refused = c
        .move_release(move_request(&base.name, "models/wrong"))
        .await
        .unwrap_err();
    assert_invalid(&refused, "model");
    let refused = c
        .move_release(move_request(&base.name, "models/absent"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    assert!(refused.message().contains("models/absent"), "{refused:?}");
    create_release(&mut c, "right", "taken", release("Taken")).await;
    let refused = c
        .move_release(MoveReleaseRequest {
            release_id: "taken".to_owned(),
            ..move_request(&base.name, "models/right")
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    let refused = c
        .move_release(MoveReleaseRequest {
            etag: "stale".to_owned(),
            ..move_request(&base.name, "models/right")
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
    let refused = c
        .move_release(move_request("models/wrong/releases/absent", "models/right"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    let still = c
        .get_benchmark_result(GetBenchmarkResultRequest {
            name: scored.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.release, base.name, "a refused move writes nothing");
    let after_refusals = head(&server).await;

    // The move.
    let current = c
        .get_release(GetReleaseRequest {
            name: base.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let moved = c
        .move_release(MoveReleaseRequest {
            etag: current.etag.clone(),
            ..move_request(&base.name, "models/right")
        })
        .await
        .expect("the release moves")
        .into_inner();
    assert_eq!(moved.name, "models/right/releases/r1");
    assert_eq!(moved.display_name, current.display_name);
    assert_eq!(
        moved.create_time, current.create_time,
        "its history starts where it did"
    );
    assert_ne!(moved.etag, current.etag);

    // Everything that referred to it follows.
    let result_now = c
        .get_benchmark_result(GetBenchmarkResultRequest {
            name: scored.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(result_now.release, moved.name);
    assert_eq!(result_now.score, scored.score);
    let disclosure_now = c
        .get_disclosure(GetDisclosureRequest {
            name: disclosed.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(disclosure_now.subject, moved.name);
    let variant_now = c
        .get_release(GetReleaseRequest {
            name: variant.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(variant_now.base_release, moved.name);
    for (release, model, expected) in [
        (moved.name.as_str(), "", 1),
        (base.name.as_str(), "", 0),
        ("", "models/right", 1),
        ("", "models/wrong", 0),
    ] {
        let listed = c
            .list_benchmark_results(ListBenchmarkResultsRequest {
                release: release.to_owned(),
                model: model.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            listed.benchmark_results.len(),
            expected,
            "the index columns follow ({release}{model})"
        );
    }
    assert_eq!(
        (
            claims_of(base.name.clone()).await,
            claims_of(moved.name.clone()).await
        ),
        (0, claims),
        "the sources' claims move with it"
    );
    assert!(
        moved.conflicts.iter().any(|c| c.field == "display_name"),
        "its sources still disagree on its name: {moved:?}"
    );

    // The old name answers with the moved release; a retry of the move
    // answers as the move did.
    let by_old_name = c
        .get_release(GetReleaseRequest {
            name: base.name.clone(),
        })
        .await
        .expect("the old name answers")
        .into_inner();
    assert_eq!(by_old_name.name, moved.name);
    let retried = c
        .move_release(move_request(&base.name, "models/right"))
        .await
        .expect("a retry succeeds")
        .into_inner();
    assert_eq!(retried.name, moved.name);

    // One transaction in the stream: created, the three updates, deleted.
    let last = head(&server).await;
    assert!(recorder.wait_for(last, Duration::from_secs(10)).await);
    let transactions: Vec<Vec<(i64, String, i32)>> = recorder
        .stop()
        .into_iter()
        .filter_map(|m| match m {
            Msg::Transaction { events, .. } => Some(events),
            _ => None,
        })
        .filter(|events| events.iter().any(|(seq, _, _)| *seq > after_refusals))
        .collect();
    assert_eq!(transactions.len(), 1, "{transactions:?}");
    let events: Vec<(&str, i32)> = transactions[0]
        .iter()
        .map(|(_, name, kind)| (name.as_str(), *kind))
        .collect();
    assert_eq!(
        events,
        [
            (moved.name.as_str(), ChangeKind::Created as i32),
            (scored.name.as_str(), ChangeKind::Updated as i32),
            (disclosed.name.as_str(), ChangeKind::Updated as i32),
            (variant.name.as_str(), ChangeKind::Updated as i32),
            (base.name.as_str(), ChangeKind::Deleted as i32),
        ]
    );

    // Moved again under a new id: the first name follows to the latest,
    // and the ids it had are aliases.
    let again = c
        .move_release(MoveReleaseRequest {
            release_id: "r1-final".to_owned(),
            ..move_request(&moved.name, "models/wrong")
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.aliases.contains(&"r1".to_owned()), "{again:?}");
    let first = c
        .get_release(GetReleaseRequest {
            name: base.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.name, "models/wrong/releases/r1-final");
}

/// A grouping mended by a move stays mended: importing the data that made
/// it again resolves the release into its new line instead of making it
/// anew in the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_after_a_move_does_not_undo_it() {
    let server = TestServer::start().await;
    let dir = std::env::temp_dir().join(format!("fw-moves-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lab.jsonl");
    let source = r#"{"uri": "https://lab.example/news", "publisher": "Lab", "kind": "SOURCE_KIND_VENDOR_ANNOUNCEMENT"}"#;
    let lines = [
        r#"{"organization": {"name": "organizations/lab", "displayName": "Lab"}}"#.to_owned(),
        r#"{"model": {"name": "models/lumped", "displayName": "Lumped", "developers": ["organizations/lab"]}}"#.to_owned(),
        r#"{"model": {"name": "models/own", "displayName": "Own", "developers": ["organizations/lab"]}}"#.to_owned(),
        format!(
            r#"{{"release": {{"name": "models/lumped/releases/own-7b", "displayName": "Own 7B", "releaseDate": {{"date": {{"year": 2025, "month": 2, "day": 3}}, "precision": "DATE_PRECISION_DAY"}}, "provenance": {{"sources": [{source}]}}}}}}"#
        ),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let import = |what: &str| {
        let (code, out, err) = run_fwatch_status(
            &server,
            &["-o", "json", "import", "jsonl", file.to_str().unwrap()],
            None,
        );
        assert_eq!(code, Some(0), "{what}: {out} {err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    import("first import");
    let (code, out, err) = run_fwatch_status(
        &server,
        &[
            "-o",
            "json",
            "move",
            "models/lumped/releases/own-7b",
            "--to",
            "models/own",
        ],
        None,
    );
    assert_eq!(code, Some(0), "{out} {err}");
    assert!(out.contains("models/own/releases/own-7b"), "{out}");
    let again = import("second import");
    assert_eq!(
        again["counts"]["releases"]["created"], 0,
        "the release is not made anew: {again:#}"
    );
    let pool = server.pool().await;
    let (releases,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM resources WHERE kind = 'release'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(releases, 1);
    let _ = std::fs::remove_dir_all(dir);
}
