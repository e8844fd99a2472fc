//! The one decision as a property: a mixed batch of writes (creates, some
//! with request ids, and imported items from two sources) decided as one
//! batch, one write at a time, and split in two at every point gives the
//! same answers, the same change records and the same stored state. Run
//! against a private PostgreSQL (`embedded`), each way in a transaction
//! that is rolled back afterwards.
//!
//! The batches hold duplicate names, references to missing and to
//! batch-created resources, scores off their benchmark's scale, a scale
//! that an import changes under results the batch wrote, request ids used
//! twice (for the same and for another resource) and claims of two
//! sources that disagree.

#![allow(clippy::type_complexity)]

use frontierwatch_proto::v1::*;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::append::Actor;
use super::batch::{Item, Pass, one_by_one, pass};
use super::decide::{Decided, Decision};
use super::items::{Create, ImportItem};
use super::rows::{decode, stamp_new};
use super::snapshot::Keys;
use crate::domain::{Kind, Meta, Resource};

/// A write whose answer is described as text, whatever its kind.
struct Described {
    gather: Box<dyn Fn(&mut Keys) + Send + Sync>,
    decide: Box<dyn Fn(&mut Decision) -> Decided<String> + Send + Sync>,
    assumable: bool,
    label: String,
}

impl Item<String> for Described {
    fn gather(&self, keys: &mut Keys) {
        (self.gather)(keys)
    }
    fn decide(&self, decision: &mut Decision) -> Decided<String> {
        (self.decide)(decision)
    }
    fn assumable(&self) -> bool {
        self.assumable
    }
}

fn create<T: Resource>(mut resource: T, request_id: Option<Uuid>) -> Described {
    stamp_new(&mut resource);
    let label = format!("create {} {request_id:?}", resource.name());
    let create = std::sync::Arc::new(Create {
        resource,
        request_id,
        actor: Actor::token("tester"),
    });
    let c = create.clone();
    Described {
        gather: Box::new(move |keys| Item::<T>::gather(&*c, keys)),
        decide: Box::new(move |d| {
            Ok(Item::<T>::decide(&*create, d)?.map(|r| format!("ok {}", r.name())))
        }),
        assumable: true,
        label,
    }
}

fn import<T: Resource>(resource: T, claimant: &str) -> Described {
    let label = format!("import {} from {claimant}", resource.name());
    let authority = if claimant == "A" { 1 } else { 4 };
    let item = std::sync::Arc::new(ImportItem::new(
        resource,
        (claimant.to_owned(), authority),
        Actor::none(),
    ));
    let i = item.clone();
    Described {
        gather: Box::new(move |keys| i.0.gather(keys)),
        decide: Box::new(move |d| Ok(item.0.decide(d)?.map(|o| format!("{o:?}")))),
        assumable: false,
        label,
    }
}

fn provenance() -> Option<Provenance> {
    Some(Provenance {
        sources: vec![Source {
            uri: "https://example.com/s".into(),
            publisher: "Test".into(),
            kind: SourceKind::VendorAnnouncement as i32,
            ..Default::default()
        }],
    })
}

fn org(id: &str, display: &str) -> Organization {
    Organization {
        name: Kind::Organization.name("", id),
        display_name: display.into(),
        ..Default::default()
    }
}

fn release(model: &str, id: &str, display: &str) -> Release {
    Release {
        name: Kind::Release.name(&format!("models/{model}"), id),
        display_name: display.into(),
        stage: LifecycleStage::GenerallyAvailable as i32,
        release_date: Some(ApproximateDate {
            date: Some(Date {
                year: 2025,
                month: 7,
                day: 9,
            }),
            precision: DatePrecision::Day as i32,
        }),
        provenance: provenance(),
        ..Default::default()
    }
}

fn benchmark(id: &str, scale: ScoreScale) -> Benchmark {
    Benchmark {
        name: Kind::Benchmark.name("", id),
        display_name: format!("Bench {id}"),
        scale: scale as i32,
        direction: ScoreDirection::HigherIsBetter as i32,
        category: "reasoning".into(),
        ..Default::default()
    }
}

fn result(id: &str, release: &str, benchmark: &str, score: f64) -> BenchmarkResult {
    BenchmarkResult {
        name: Kind::BenchmarkResult.name("", id),
        release: format!("models/m1/releases/{release}"),
        benchmark: format!("benchmarks/{benchmark}"),
        score,
        raw_value: format!("{score}"),
        verification: VerificationStatus::SelfReported as i32,
        evaluator_relation: EvaluatorRelation::FirstParty as i32,
        publish_date: Some(Date {
            year: 2025,
            month: 7,
            day: 10,
        }),
        provenance: provenance(),
        ..Default::default()
    }
}

/// One random write.
fn write(rng: &mut fastrand::Rng) -> Described {
    let pick = |rng: &mut fastrand::Rng, of: &[&'static str]| of[rng.usize(..of.len())];
    let ids = [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)];
    let request_id = match rng.usize(..4) {
        0 => None,
        n => Some(ids[n - 1]),
    };
    match rng.usize(..6) {
        0 => create(org(pick(rng, &["a", "b", "o1"]), "Org"), request_id),
        1 | 2 => create(
            result(
                pick(rng, &["x1", "x2", "x3"]),
                pick(rng, &["r1", "r2", "r9"]),
                pick(rng, &["pct", "frac", "new", "nob"]),
                [0.5, 50.0, 150.0][rng.usize(..3)],
            ),
            request_id,
        ),
        3 => import(
            release(
                pick(rng, &["m1", "m1", "m9"]),
                pick(rng, &["r1", "r2", "r3"]),
                pick(rng, &["R", "R prime"]),
            ),
            pick(rng, &["A", "B"]),
        ),
        4 => import(
            benchmark(
                "new",
                [ScoreScale::Percent, ScoreScale::Fraction][rng.usize(..2)],
            ),
            pick(rng, &["A", "B"]),
        ),
        _ => import(
            org(pick(rng, &["a", "o1"]), pick(rng, &["Org", "Org two"])),
            pick(rng, &["A", "B"]),
        ),
    }
}

/// Decides and writes `items` as a caller does: together (the read
/// skipped where it may be), again with the read, then one by one; each
/// attempt in a savepoint, rolled back when it cannot be written.
async fn run(conn: &mut PgConnection, items: &[&Described]) -> (Vec<String>, Vec<String>) {
    for assume in [true, false] {
        let mut savepoint = conn.begin().await.unwrap();
        match pass(&mut savepoint, items, assume).await.unwrap() {
            Pass::Written(answers, changes) => {
                savepoint.commit().await.unwrap();
                return (
                    answers.into_iter().map(describe).collect(),
                    changes.iter().map(|c| c.describe()).collect(),
                );
            }
            Pass::Again(_) => savepoint.rollback().await.unwrap(),
        }
    }
    let (answers, changes) = one_by_one(conn, items).await.unwrap();
    (
        answers.into_iter().map(describe).collect(),
        changes.iter().map(|c| c.describe()).collect(),
    )
}

fn describe(answer: Result<String, crate::error::ApiError>) -> String {
    answer.unwrap_or_else(|e| format!("refused: {}", e.reason_text()))
}

/// What the database holds, without what every write renews (times, etags).
async fn state(conn: &mut PgConnection) -> Vec<String> {
    let mut out = Vec::new();
    // Every column but those every write renews.
    let rows: Vec<(String, String, Vec<u8>, String)> = sqlx::query_as(
        "SELECT name, kind, data, (to_jsonb(r) - 'data' - 'etag' - 'typed_etag' \
                - 'create_time' - 'update_time')::text FROM resources r ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    fn plain<T: Resource + std::fmt::Debug>(name: &str, data: &[u8]) -> String {
        let mut r: T = decode(name, data).unwrap();
        r.set_meta(Meta {
            name: name.to_owned(),
            ..Meta::default()
        });
        format!("{r:?}")
    }
    for (name, kind, data, columns) in rows {
        let data = match kind.as_str() {
            "organization" => plain::<Organization>(&name, &data),
            "model" => plain::<Model>(&name, &data),
            "release" => plain::<Release>(&name, &data),
            "benchmark" => plain::<Benchmark>(&name, &data),
            "benchmark_result" => plain::<BenchmarkResult>(&name, &data),
            other => panic!("unexpected kind {other}"),
        };
        out.push(format!("{name} {kind} {columns} {data}"));
    }
    let claims: Vec<(String, String, i16, Option<Vec<String>>, Vec<u8>)> = sqlx::query_as(
        "SELECT name, claimant, authority, fields, data FROM resource_claims ORDER BY name, claimant",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    out.extend(claims.into_iter().map(|c| format!("claim {c:?}")));
    let refs: Vec<(String, String, String)> =
        sqlx::query_as("SELECT from_name, to_name, field FROM resource_refs ORDER BY 1, 2, 3")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    out.extend(refs.into_iter().map(|r| format!("ref {r:?}")));
    let ids: Vec<(Uuid, String, String)> =
        sqlx::query_as("SELECT request_id, method, resource_name FROM request_ids ORDER BY 1")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    out.extend(ids.into_iter().map(|r| format!("request id {r:?}")));
    out
}

/// Runs `items` split into `parts` in a transaction rolled back after:
/// the answers, change records and state.
async fn outcome(
    conn: &mut PgConnection,
    parts: &[&[Described]],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut tx = conn.begin().await.unwrap();
    let (mut answers, mut changes) = (Vec::new(), Vec::new());
    for part in parts {
        let items: Vec<&Described> = part.iter().collect();
        let (a, c) = run(&mut tx, &items).await;
        answers.extend(a);
        changes.extend(c);
    }
    let state = state(&mut tx).await;
    tx.rollback().await.unwrap();
    (answers, changes, state)
}

/// A private cluster with the schema and what every batch starts from.
async fn database(dir: &std::path::Path) -> (crate::embedded::EmbeddedPostgres, PgConnection) {
    let bin = crate::embedded::find_bin_dir(None).unwrap();
    let pg = crate::embedded::EmbeddedPostgres::start(dir, &bin).unwrap();
    crate::embedded::ensure_database(&pg.url("postgres"), "batches")
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&pg.url("batches")).await.unwrap();
    super::migrate::apply(&pool, sqlx::migrate!("./migrations"))
        .await
        .unwrap();
    super::register_kinds(&pool).await.unwrap();
    let mut conn = PgConnection::connect(&pg.url("batches")).await.unwrap();
    let base = [
        create(org("o1", "Org one"), None),
        create(
            Model {
                name: "models/m1".into(),
                display_name: "M1".into(),
                developers: vec!["organizations/o1".into()],
                ..Default::default()
            },
            None,
        ),
        import(release("m1", "r1", "R"), "A"),
        create(benchmark("pct", ScoreScale::Percent), None),
        create(benchmark("frac", ScoreScale::Fraction), None),
        create(result("x0", "r1", "frac", 0.5), None),
    ];
    for item in &base {
        let (answers, _) = run(&mut conn, &[item]).await;
        assert!(
            !answers[0].starts_with("refused"),
            "{}: {answers:?}",
            item.label
        );
    }
    (pg, conn)
}

#[tokio::test]
async fn a_batch_decides_as_its_writes_one_by_one_and_as_its_parts() {
    let dir = std::env::temp_dir().join(format!("fw-batches-{}", std::process::id()));
    let (mut pg, mut conn) = database(&dir).await;
    let seeds: u64 = std::env::var("BATCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut refused = 0;
    for seed in 1..=seeds {
        let mut rng = fastrand::Rng::with_seed(seed);
        let n = 4 + rng.usize(..7);
        let items: Vec<Described> = (0..n).map(|_| write(&mut rng)).collect();
        let labels: Vec<&str> = items.iter().map(|i| i.label.as_str()).collect();
        let singles: Vec<&[Described]> = items.chunks(1).collect();
        let alone = outcome(&mut conn, &singles).await;
        refused += alone.0.iter().filter(|a| a.starts_with("refused")).count();
        let together = outcome(&mut conn, &[&items[..]]).await;
        assert_eq!(
            together, alone,
            "seed {seed}, together against one by one: {labels:#?}"
        );
        for k in 1..n {
            let (head, tail) = items.split_at(k);
            let split = outcome(&mut conn, &[head, tail]).await;
            assert_eq!(
                split, alone,
                "seed {seed}, split at {k} against one by one: {labels:#?}"
            );
        }
    }
    // The generator reaches the refusals it is meant to.
    assert!(
        refused > seeds as usize,
        "only {refused} refusals in {seeds} batches"
    );
    drop(conn);
    pg.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
