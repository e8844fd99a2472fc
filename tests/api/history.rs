//! Revisions (docs/history.md): every change of every resource kept past
//! the change log's retention, read one resource at a time, across all
//! (the audit), as known on a time, and the analytics as known on a time.

use std::collections::BTreeMap;
use std::time::Duration;

use frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient;
use frontierwatch_proto::v1::token_service_client::TokenServiceClient;
use frontierwatch_proto::v1::*;
use prost::Message as _;
use prost_types::{FieldMask, Timestamp};
use tonic::Code;

use crate::fixtures::*;
use crate::harness::{Client, ServerOptions, TestServer, fresh_database};

fn now() -> Timestamp {
    let t = chrono::Utc::now();
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The time now, with a moment before and after it so that commits on
/// either side are clearly apart from it.
async fn moment() -> Timestamp {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t = now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    t
}

async fn revisions(client: &mut Client, request: ListRevisionsRequest) -> Vec<Revision> {
    let mut all = Vec::new();
    let mut request = request;
    loop {
        let page = client
            .list_revisions(request.clone())
            .await
            .expect("lists revisions")
            .into_inner();
        all.extend(page.revisions);
        if page.next_page_token.is_empty() {
            return all;
        }
        request.page_token = page.next_page_token;
    }
}

fn of_name(name: &str) -> ListRevisionsRequest {
    ListRevisionsRequest {
        name: name.into(),
        ..Default::default()
    }
}

fn reasons(revisions: &[Revision]) -> Vec<(i64, RevisionReason)> {
    revisions
        .iter()
        .map(|r| (r.revision_id, r.reason()))
        .collect()
}

async fn store_two_releases(c: &mut Client) {
    create_org(c, "lab").await;
    create_model(c, "line", &["lab"]).await;
    create_release(c, "line", "one", release("One")).await;
    create_release(c, "line", "two", release("Two")).await;
    create_benchmark(c, "bench", ScoreScale::Percent, "coding").await;
    create_result(
        c,
        "a",
        result("models/line/releases/one", "benchmarks/bench", 80.0),
    )
    .await;
    create_result(
        c,
        "b",
        result("models/line/releases/two", "benchmarks/bench", 70.0),
    )
    .await;
}

fn board(known_as_of: Option<Timestamp>) -> GetLeaderboardRequest {
    GetLeaderboardRequest {
        benchmark: "benchmarks/bench".into(),
        known_as_of,
        ..Default::default()
    }
}

fn comparison(known_as_of: Option<Timestamp>) -> CompareReleasesRequest {
    CompareReleasesRequest {
        releases: vec![
            "models/line/releases/one".into(),
            "models/line/releases/two".into(),
        ],
        known_as_of,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_score_corrected_after_the_fact_leaves_an_earlier_known_as_of_leaderboard_unchanged() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    store_two_releases(&mut c).await;
    // A result withdrawn before the moment asked about stays out of the
    // answer as known then.
    let withdrawn = result("models/line/releases/two", "benchmarks/bench", 99.0);
    create_result(&mut c, "withdrawn", withdrawn).await;
    c.delete_benchmark_result(DeleteBenchmarkResultRequest {
        name: "benchmarkResults/withdrawn".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let before = c.get_leaderboard(board(None)).await.unwrap().into_inner();
    let compared = c
        .compare_releases(comparison(None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        before.sections[0].rows[0].release,
        "models/line/releases/one"
    );
    let then = moment().await;

    // The vendor restates: release one scored 60, not 80.
    c.update_benchmark_result(UpdateBenchmarkResultRequest {
        benchmark_result: Some(BenchmarkResult {
            name: "benchmarkResults/a".into(),
            score: 60.0,
            raw_value: "60".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["score".into(), "raw_value".into()],
        }),
    })
    .await
    .expect("the correction is written");
    let now_board = c.get_leaderboard(board(None)).await.unwrap().into_inner();
    assert_eq!(
        now_board.sections[0].rows[0].release,
        "models/line/releases/two"
    );

    let known_then = c
        .get_leaderboard(board(Some(then)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        known_then, before,
        "the record as known then answers as it did then"
    );
    let compared_then = c
        .compare_releases(comparison(Some(then)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(compared_then, compared);
    // And as known now, the correction counts.
    let known_now = c
        .get_leaderboard(board(Some(moment().await)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(known_now, now_board);

    // The result's history says what changed, who changed it, and why.
    let history = revisions(&mut c, of_name("benchmarkResults/a")).await;
    assert_eq!(
        reasons(&history),
        [(2, RevisionReason::Updated), (1, RevisionReason::Created)]
    );
    assert!(history.iter().all(|r| r.actor == "tokens/admin"));
    let old =
        BenchmarkResult::decode(history[1].resource.as_ref().unwrap().value.as_slice()).unwrap();
    assert_eq!(old.score, 80.0);
}

#[tokio::test]
async fn revisions_outlive_the_change_log_and_a_deleted_resource_stays_readable_as_it_was() {
    let s = TestServer::start_with(ServerOptions {
        database_url: Some(fresh_database().await),
        env: vec![
            ("FRONTIERWATCH_CHANGE_RETENTION_SECONDS".into(), "1".into()),
            ("FRONTIERWATCH_CHANGE_PRUNE_SECONDS".into(), "0.2".into()),
        ],
        ..Default::default()
    })
    .await
    .expect("starts");
    let mut c = s.client().await;
    create_org(&mut c, "lab").await;
    let renamed = rename(&mut c, "organizations/lab", "Lab, renamed").await;
    let while_renamed = moment().await;
    c.delete_organization(DeleteOrganizationRequest {
        name: "organizations/lab".into(),
        etag: String::new(),
    })
    .await
    .expect("deleted");
    let after_deletion = moment().await;
    create_org(&mut c, "other").await;

    // The pruner keeps only the newest change record.
    let pool = s.pool().await;
    let mut oldest: i64 = 0;
    for _ in 0..100 {
        (oldest,) = sqlx::query_as("SELECT min(seq) FROM changes")
            .fetch_one(&pool)
            .await
            .unwrap();
        if oldest == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(oldest, 4, "the change log was pruned to its newest record");

    let history = revisions(&mut c, of_name("organizations/lab")).await;
    assert_eq!(
        reasons(&history),
        [
            (3, RevisionReason::Deleted),
            (2, RevisionReason::Updated),
            (1, RevisionReason::Created)
        ]
    );
    assert_eq!(
        history.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    let as_known = |at: Timestamp| GetRevisionRequest {
        name: "organizations/lab".into(),
        known_as_of: Some(at),
        ..Default::default()
    };
    let then = c
        .get_revision(as_known(while_renamed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(then.revision_id, 2);
    let then = Organization::decode(then.resource.unwrap().value.as_slice()).unwrap();
    assert_eq!(then, renamed, "read as it was before its deletion");
    let gone = c.get_revision(as_known(after_deletion)).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let first = c
        .get_revision(GetRevisionRequest {
            name: "organizations/lab".into(),
            revision_id: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.reason(), RevisionReason::Created);
}

async fn writer(s: &TestServer, id: &str) -> Client {
    let mut admin = TokenServiceClient::new(s.auth_channel().await);
    let secret = admin
        .create_token(CreateTokenRequest {
            token_id: id.into(),
            token: Some(Token {
                role: TokenRole::Writer as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    FrontierWatchServiceClient::new(s.channel_with(Some(&secret)).await)
}

#[tokio::test]
async fn the_audit_lists_exactly_the_writes_of_one_token() {
    let s = TestServer::start().await;
    let mut admin = s.client().await;
    let mut importer = writer(&s, "importer").await;
    let mut curator = writer(&s, "curator").await;
    create_org(&mut admin, "lab").await;
    let start = moment().await;
    let imported = importer
        .import_resources(ImportResourcesRequest {
            items: (0..3)
                .map(|i| org_import_item(i, &format!("imp-{i}")))
                .collect(),
            source: Some(Source {
                publisher: "Source A".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.outcomes.len(), 3);
    create_org(&mut curator, "cur").await;
    create_org(&mut importer, "imp-late").await;
    let end = moment().await;
    create_org(&mut importer, "imp-after").await;

    let by = |actor: &str| ListRevisionsRequest {
        actor: actor.into(),
        page_size: 2,
        ..Default::default()
    };
    let names = |revisions: Vec<Revision>| -> Vec<String> {
        revisions.into_iter().map(|r| r.name).collect()
    };
    assert_eq!(
        names(revisions(&mut importer, by("tokens/importer")).await),
        [
            "organizations/imp-after",
            "organizations/imp-late",
            "organizations/imp-2",
            "organizations/imp-1",
            "organizations/imp-0"
        ],
        "newest first, across pages"
    );
    assert_eq!(
        names(revisions(&mut importer, by("tokens/curator")).await),
        ["organizations/cur"]
    );
    let window = ListRevisionsRequest {
        start_time: Some(start),
        end_time: Some(end),
        ..by("tokens/importer")
    };
    let in_window = revisions(&mut admin, window).await;
    assert_eq!(in_window.len(), 4);
    let imports: Vec<&Revision> = in_window
        .iter()
        .filter(|r| r.name != "organizations/imp-late")
        .collect();
    assert_eq!(imports.len(), 3);
    assert!(imports.iter().all(|r| r.claimant == "Source A"));
    // Everyone's writes: the admin's too.
    let everyone = revisions(&mut admin, ListRevisionsRequest::default()).await;
    assert_eq!(everyone.len(), 7);
}

/// Every change record the stream delivers is a revision of the same
/// resource, in the same state, and every revision of a change is on the
/// stream: folding the watch gives the states the revisions give.
#[tokio::test]
async fn the_stream_and_the_revisions_agree_on_a_mixed_workload() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    store_two_releases(&mut c).await;
    let source = |publisher: &str| {
        Some(Source {
            publisher: publisher.into(),
            ..Default::default()
        })
    };
    for publisher in ["Source A", "Source B"] {
        let mut item = org_import_item(1, "lab");
        if let Some(import_item::Resource::Organization(o)) = &mut item.resource {
            o.country = if publisher == "Source A" { "US" } else { "FR" }.into();
        }
        c.import_resources(ImportResourcesRequest {
            items: vec![
                item,
                org_import_item(2, &format!("new-{}", publisher.len())),
            ],
            source: source(publisher),
        })
        .await
        .unwrap();
    }
    // One name twice in one call: two changes in one statement.
    let mut twice = org_import_item(2, "twice");
    if let Some(import_item::Resource::Organization(o)) = &mut twice.resource {
        o.display_name = "Twice, restated".into();
    }
    c.import_resources(ImportResourcesRequest {
        items: vec![org_import_item(1, "twice"), twice],
        source: source("Source A"),
    })
    .await
    .unwrap();
    c.batch_create_benchmark_results(BatchCreateBenchmarkResultsRequest {
        requests: (0..3)
            .map(|i| CreateBenchmarkResultRequest {
                benchmark_result_id: format!("batch-{i}"),
                benchmark_result: Some(result(
                    "models/line/releases/two",
                    "benchmarks/bench",
                    50.0 + f64::from(i),
                )),
                request_id: String::new(),
            })
            .collect(),
    })
    .await
    .unwrap();
    c.delete_benchmark_result(DeleteBenchmarkResultRequest {
        name: "benchmarkResults/batch-1".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    create_model(&mut c, "other-line", &["lab"]).await;
    c.move_release(MoveReleaseRequest {
        name: "models/line/releases/two".into(),
        model: "models/other-line".into(),
        ..Default::default()
    })
    .await
    .expect("moves");

    let head = crate::watch::head(&s).await;
    let mut stream = c
        .watch(WatchRequest {
            start_after_sequence: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    // A revision's commit time is its transaction's: its first record's.
    let mut committed = BTreeMap::new();
    while events
        .last()
        .is_none_or(|e: &ChangeEvent| e.sequence < head)
    {
        if let Some(watch_response::Kind::Transaction(t)) =
            stream.message().await.unwrap().unwrap().kind
        {
            let first = t.events[0].commit_time;
            for e in &t.events {
                committed.insert(e.sequence, first);
            }
            events.extend(t.events);
        }
    }
    let all = revisions(&mut c, ListRevisionsRequest::default()).await;
    let by_sequence: BTreeMap<i64, &Revision> = all.iter().map(|r| (r.sequence, r)).collect();
    assert_eq!(
        by_sequence.len(),
        all.len(),
        "one revision per change record"
    );
    assert_eq!(events.len(), all.len());
    for e in &events {
        let r = by_sequence[&e.sequence];
        assert_eq!(r.name, e.resource_name);
        assert_eq!(r.resource, e.resource, "{}", e.resource_name);
        assert_eq!(r.commit_time, committed[&e.sequence]);
        assert_eq!(r.actor, e.actor);
        let kind = match r.reason() {
            RevisionReason::Created => ChangeKind::Created,
            RevisionReason::Deleted => ChangeKind::Deleted,
            _ => ChangeKind::Updated,
        };
        assert_eq!(e.kind(), kind, "{}", e.resource_name);
    }
    // Each resource's revisions are numbered in the order of its changes.
    let mut numbered: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for r in &all {
        numbered
            .entry(&r.name)
            .or_default()
            .push((r.revision_id, r.sequence));
    }
    for (name, mut pairs) in numbered {
        pairs.sort();
        assert!(
            pairs
                .windows(2)
                .all(|w| w[0].1 < w[1].1 && w[1].0 == w[0].0 + 1),
            "{name}: {pairs:?}"
        );
    }
    assert_eq!(
        reasons(&revisions(&mut c, of_name("organizations/twice")).await),
        [(2, RevisionReason::Merged), (1, RevisionReason::Created)]
    );
    // The folded stream's last state of each resource is its last revision.
    let mut folded: BTreeMap<&str, &ChangeEvent> = BTreeMap::new();
    for e in &events {
        folded.insert(&e.resource_name, e);
    }
    for (name, e) in folded {
        let last = &revisions(&mut c, of_name(name)).await[0];
        assert_eq!(last.sequence, e.sequence, "{name}");
    }
    // An import that merges a second source's statement says so.
    let lab = revisions(&mut c, of_name("organizations/lab")).await;
    assert!(
        lab.iter()
            .any(|r| r.reason() == RevisionReason::Merged && r.claimant == "Source B"),
        "{lab:?}"
    );
}

#[tokio::test]
async fn bad_history_requests_get_the_documented_codes() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    store_two_releases(&mut c).await;
    let future = Timestamp {
        seconds: now().seconds + 3600,
        nanos: 0,
    };
    let long_ago = Timestamp {
        seconds: 946_684_800,
        nanos: 0,
    };
    let e = c.get_leaderboard(board(Some(future))).await.unwrap_err();
    assert_invalid(&e, "known_as_of");
    let e = c.get_leaderboard(board(Some(long_ago))).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert_eq!(reason(&e), "BEFORE_HISTORY");
    let e = c
        .compare_releases(comparison(Some(long_ago)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
    let e = c
        .get_transparency_report(GetTransparencyReportRequest {
            organization: "organizations/lab".into(),
            known_as_of: Some(future),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&e, "known_as_of");
    let as_known = |name: &str, at: Timestamp| GetRevisionRequest {
        name: name.into(),
        known_as_of: Some(at),
        ..Default::default()
    };
    let e = c
        .get_revision(as_known("organizations/lab", long_ago))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
    let e = c
        .get_revision(as_known("organizations/nobody", now()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .get_revision(GetRevisionRequest {
            name: "organizations/lab".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&e, "known_as_of");
    let e = c
        .get_revision(GetRevisionRequest {
            name: "organizations/lab".into(),
            revision_id: 7,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .list_revisions(of_name("organizations/nobody"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c.list_revisions(of_name("not a name")).await.unwrap_err();
    assert_invalid(&e, "name");
    let e = c
        .list_revisions(ListRevisionsRequest {
            page_token: "zz".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&e, "page_token");
    // A token of one filter does not continue another.
    let page = c
        .list_revisions(ListRevisionsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let e = c
        .list_revisions(ListRevisionsRequest {
            page_size: 1,
            page_token: page.next_page_token,
            actor: "tokens/admin".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&e, "page_token");
}

/// The one operation that removes revisions: everything known before a
/// time folds into one baseline per resource, and the history begins then.
#[tokio::test]
async fn compaction_folds_the_history_before_a_time_and_nothing_else_removes_revisions() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    create_org(&mut c, "kept").await;
    create_org(&mut c, "gone").await;
    for name in ["kept", "gone"] {
        rename(&mut c, format!("organizations/{name}"), "Renamed").await;
    }
    c.delete_organization(DeleteOrganizationRequest {
        name: "organizations/gone".into(),
        etag: String::new(),
    })
    .await
    .unwrap();
    let cut = moment().await;
    rename(&mut c, "organizations/kept", "Renamed again").await;

    let pool = s.pool().await;
    let cut_time = chrono::DateTime::from_timestamp(cut.seconds, cut.nanos as u32).unwrap();
    let (removed,): (i64,) = sqlx::query_as("SELECT compact_revisions($1)")
        .bind(cut_time)
        .fetch_one(&pool)
        .await
        .unwrap();
    // kept: created and updated fold into one; gone: all three go.
    assert_eq!(removed, 4);
    let kept = revisions(&mut c, of_name("organizations/kept")).await;
    assert_eq!(
        reasons(&kept),
        [(3, RevisionReason::Updated), (2, RevisionReason::Baseline)]
    );
    let e = c
        .list_revisions(of_name("organizations/gone"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // Before the cut nothing is known any more; at it, the baseline holds.
    let early = Timestamp {
        seconds: cut.seconds - 1,
        nanos: 0,
    };
    let e = c
        .get_leaderboard(GetLeaderboardRequest {
            benchmark: "benchmarks/none".into(),
            known_as_of: Some(early),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
    let at_cut = c
        .get_revision(GetRevisionRequest {
            name: "organizations/kept".into(),
            known_as_of: Some(cut),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(at_cut.revision_id, 2);
    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    let refused = sqlx::query("SELECT compact_revisions($1)")
        .bind(future)
        .execute(&pool)
        .await;
    assert!(refused.is_err(), "a compaction of the future is refused");
}

/// A replica of the previous release appends change records without a
/// reason during a rolling upgrade: they become revisions all the same.
#[tokio::test]
async fn a_change_appended_by_an_older_replica_is_kept_as_a_revision() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    let lab = create_org(&mut c, "lab").await;
    let pool = s.pool().await;
    let renamed = Organization {
        display_name: "Renamed by an older replica".into(),
        ..lab
    };
    sqlx::query(
        "INSERT INTO changes (resource_name, resource_type, change_kind, resource, actor) \
         VALUES ('organizations/lab', 'frontierwatch.v1.Organization', 'updated', $1, 'tokens/old')",
    )
    .bind(renamed.encode_to_vec())
    .execute(&pool)
    .await
    .unwrap();
    let history = revisions(&mut c, of_name("organizations/lab")).await;
    assert_eq!(
        reasons(&history),
        [(2, RevisionReason::Updated), (1, RevisionReason::Created)]
    );
    assert_eq!(history[0].actor, "tokens/old");
    let stored = Organization::decode(history[0].resource.as_ref().unwrap().value.as_slice());
    assert_eq!(stored.unwrap(), renamed);
}

/// `fwatch history NAME` and `fwatch audit --actor A --since T`.
#[tokio::test]
async fn fwatch_shows_a_resources_history_and_the_audit_of_one_token() {
    let s = TestServer::start().await;
    let mut admin = s.client().await;
    let mut curator = writer(&s, "curator").await;
    create_org(&mut admin, "lab").await;
    let since = moment().await;
    create_org(&mut curator, "cur").await;
    rename(&mut curator, "organizations/lab", "Renamed").await;

    let (ok, out, err) = crate::harness::run_fwatch(&s, &["history", "organizations/lab"], None);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("TIME"), "{out}");
    assert!(
        lines[1].contains("organizations/lab") && lines[1].contains("updated"),
        "{out}"
    );
    assert!(lines[1].contains("tokens/curator"), "{out}");
    assert!(
        lines[2].contains("created") && lines[2].contains("tokens/admin"),
        "{out}"
    );

    let since = chrono::DateTime::from_timestamp(since.seconds, since.nanos as u32)
        .unwrap()
        .to_rfc3339();
    let (ok, out, err) = crate::harness::run_fwatch(
        &s,
        &[
            "-o", "json", "audit", "--actor", "curator", "--since", &since,
        ],
        None,
    );
    assert!(ok, "{err}");
    let audit: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = audit["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["organizations/lab", "organizations/cur"]);
    let (ok, _, err) = crate::harness::run_fwatch(&s, &["audit", "--since", "yesterday"], None);
    assert!(!ok && err.contains("RFC 3339"), "{err}");
}

/// Renames an organization (its display name only).
async fn rename(c: &mut Client, name: impl Into<String>, display_name: &str) -> Organization {
    c.update_organization(UpdateOrganizationRequest {
        organization: Some(Organization {
            name: name.into(),
            display_name: display_name.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["display_name".into()],
        }),
    })
    .await
    .expect("renamed")
    .into_inner()
}
