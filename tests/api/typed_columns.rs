//! Index columns that say what they hold (`domain::index`, migration 15),
//! across a rolling upgrade: a row written by a replica of the previous
//! release (its columns only) gets its typed columns from the migration's
//! trigger, on insert and on update; a row written by this release carries
//! both, the previous release's columns filled from the same fields.

use frontierwatch_proto::v1::*;

use crate::fixtures::*;
use crate::harness::TestServer;

type Typed = (
    Option<String>,
    Option<chrono::NaiveDate>,
    Option<String>,
    Option<String>,
);

async fn typed(pool: &sqlx::PgPool, name: &str) -> Typed {
    sqlx::query_as("SELECT stage, release_date, typed_etag, status FROM resources WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn rows_of_the_previous_release_get_typed_columns_and_this_release_writes_both() {
    let server = TestServer::start().await;
    let pool = server.pool().await;
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();

    // As the previous release inserts a release, then updates it.
    let old = "models/m/releases/old";
    sqlx::query(
        "INSERT INTO resources (name, kind, model, status, event_date, data, etag, \
                                create_time, update_time) \
         VALUES ($1, 'release', 'models/m', 'LIFECYCLE_STAGE_PREVIEW', '2025-01-02', '\\x', \
                 'e1', now(), now())",
    )
    .bind(old)
    .execute(&pool)
    .await
    .unwrap();
    let (stage, date, typed_etag, _) = typed(&pool, old).await;
    assert_eq!(stage.as_deref(), Some("LIFECYCLE_STAGE_PREVIEW"));
    assert_eq!(date, day("2025-01-02"));
    assert_eq!(typed_etag.as_deref(), Some("e1"));
    sqlx::query(
        "UPDATE resources SET status = 'LIFECYCLE_STAGE_GENERALLY_AVAILABLE', etag = 'e2' \
          WHERE name = $1",
    )
    .bind(old)
    .execute(&pool)
    .await
    .unwrap();
    let (stage, _, typed_etag, _) = typed(&pool, old).await;
    assert_eq!(
        stage.as_deref(),
        Some("LIFECYCLE_STAGE_GENERALLY_AVAILABLE")
    );
    assert_eq!(typed_etag.as_deref(), Some("e2"));

    // This release writes the typed columns and the previous release's.
    let mut client = server.client().await;
    create_org(&mut client, "o").await;
    create_model(&mut client, "m", &["o"]).await;
    let new = create_release(&mut client, "m", "new", release("New")).await;
    let (stage, date, typed_etag, status) = typed(&pool, &new.name).await;
    assert_eq!(
        stage.as_deref(),
        Some("LIFECYCLE_STAGE_GENERALLY_AVAILABLE")
    );
    assert_eq!(
        status, stage,
        "the previous release reads the stage as status"
    );
    assert_eq!(date, day("2025-07-09"));
    assert_eq!(typed_etag.as_deref(), Some(new.etag.as_str()));

    // Both rows answer a filter on the stage.
    let listed = client
        .list_releases(ListReleasesRequest {
            parent: "models/m".into(),
            stage: LifecycleStage::GenerallyAvailable as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = listed.releases.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&new.name.as_str()), "{names:?}");
}
