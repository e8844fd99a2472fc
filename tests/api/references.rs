//! What the database guarantees about references and claims, whichever
//! writer writes (this release's, another's, or a person at psql): a
//! reference or a claim names resources that exist; a referenced resource
//! cannot be deleted; a deleted resource takes its references and claims
//! with it; and a delete that waits for a writer holding the referenced
//! row sees what that writer committed. The foreign keys of `resource_refs`
//! and `resource_claims` (migrations 1 and 9) hold them; the lock a
//! batch's read takes on what it references (`storage::lookups`) makes a
//! concurrent delete wait.

use std::time::Duration;

use frontierwatch_proto::v1::*;
use sqlx::PgPool;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::TestServer;

/// The SQLSTATE and constraint of a statement's failure.
async fn refused(pool: &PgPool, sql: &str) -> (String, String) {
    let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .expect_err(sql);
    let db = err.as_database_error().expect("a database error");
    (
        db.code().unwrap_or_default().into_owned(),
        db.constraint().unwrap_or_default().to_owned(),
    )
}

async fn count(pool: &PgPool, sql: &str, name: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn references_and_claims_name_stored_resources_and_follow_their_deletion() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let pool = server.pool().await;
    create_org(&mut c, "lab").await;
    create_org(&mut c, "other").await;
    create_model(&mut c, "m", &["lab"]).await;

    // A reference from or to a missing resource, or a claim about one, is
    // refused, and nothing of its statement is kept.
    let key = |name: &str| ("23503".to_owned(), name.to_owned());
    let fk = key("resource_refs_to_name_fkey");
    for (sql, constraint) in [
        (
            "INSERT INTO resource_refs VALUES ('models/m', 'organizations/missing', 'developers')",
            "resource_refs_to_name_fkey",
        ),
        (
            "INSERT INTO resource_refs VALUES ('models/missing', 'organizations/lab', 'developers')",
            "resource_refs_from_name_fkey",
        ),
        (
            "INSERT INTO resource_refs VALUES ('models/m', 'organizations/other', 'developers'), \
                                              ('models/m', 'organizations/missing', 'developers')",
            "resource_refs_to_name_fkey",
        ),
    ] {
        assert_eq!(refused(&pool, sql).await, key(constraint), "{sql}");
    }
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM resource_refs WHERE from_name = $1",
            "models/m"
        )
        .await,
        1,
        "only the model's own reference"
    );
    assert_eq!(
        refused(
            &pool,
            "INSERT INTO resource_claims (name, claimant, authority, data) \
             VALUES ('organizations/missing', 'sources/s', 2, '\\x')"
        )
        .await,
        key("resource_claims_name_fkey")
    );

    // A referenced resource cannot be deleted, by any writer.
    assert_eq!(
        refused(
            &pool,
            "DELETE FROM resources WHERE name = 'organizations/lab'"
        )
        .await,
        fk
    );
    let err = c
        .delete_organization(DeleteOrganizationRequest {
            name: "organizations/lab".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(reason(&err), "RESOURCE_IN_USE");

    // A deleted resource takes its references and claims with it.
    sqlx::raw_sql(
        "INSERT INTO resource_claims (name, claimant, authority, data) \
         VALUES ('models/m', 'sources/a', 2, '\\x'), ('models/m', 'sources/b', 4, '\\x')",
    )
    .execute(&pool)
    .await
    .unwrap();
    c.delete_model(DeleteModelRequest {
        name: "models/m".into(),
        etag: String::new(),
    })
    .await
    .unwrap();
    for sql in [
        "SELECT count(*) FROM resource_refs WHERE from_name = $1",
        "SELECT count(*) FROM resource_claims WHERE name = $1",
    ] {
        assert_eq!(count(&pool, sql, "models/m").await, 0, "{sql}");
    }
    // Then nothing references the organization, and it can go.
    c.delete_organization(DeleteOrganizationRequest {
        name: "organizations/lab".into(),
        etag: String::new(),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_delete_waits_for_a_writer_holding_the_referenced_row_then_sees_its_reference() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let pool = server.pool().await;
    create_org(&mut c, "lab").await;

    // A writer's decision holds the row it references FOR KEY SHARE until
    // it commits (storage::lookups::REFERENCED_FOR_KEY_SHARE); here one,
    // by hand, writes a model that references the organization.
    let mut writer = pool.begin().await.unwrap();
    sqlx::query("SELECT name FROM resources WHERE name = 'organizations/lab' FOR KEY SHARE")
        .fetch_one(&mut *writer)
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO resources (name, kind, data, etag, create_time, update_time) \
         VALUES ('models/late', 'model', '\\x', 'e', now(), now()); \
         INSERT INTO resource_refs VALUES ('models/late', 'organizations/lab', 'developers')",
    )
    .execute(&mut *writer)
    .await
    .unwrap();

    // The delete waits for the writer.
    let mut deleter = server.client().await;
    let delete = tokio::spawn(async move {
        deleter
            .delete_organization(DeleteOrganizationRequest {
                name: "organizations/lab".into(),
                etag: String::new(),
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!delete.is_finished(), "the delete waits for the writer");
    writer.commit().await.unwrap();

    // Then it sees the reference the writer committed, and refuses.
    let err = delete.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(reason(&err), "RESOURCE_IN_USE");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM resources WHERE name = $1",
            "organizations/lab"
        )
        .await,
        1
    );
}
