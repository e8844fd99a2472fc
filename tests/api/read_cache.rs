//! The read cache (`--read-cache`): Gets answered from memory, fed by the
//! replica's own watch of the change log; a caller reads every write it
//! made through the replica at once, and a write through another replica
//! once the follower has it.

use std::time::{Duration, Instant};

use frontierwatch_proto::v1::*;
use prost_types::FieldMask;
use tonic::Code;

use crate::fixtures::*;
use crate::harness::{Client, TestServer, fresh_database};
use crate::watch::server_with;

use crate::metrics::read_cache_gets as served;

/// The update that sets an organization's website.
fn set_website(org: &Organization, website: &str) -> UpdateOrganizationRequest {
    UpdateOrganizationRequest {
        organization: Some(Organization {
            name: org.name.clone(),
            website: website.to_owned(),
            etag: org.etag.clone(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["website".into()],
        }),
    }
}

async fn cached_server(database_url: &str) -> TestServer {
    server_with(
        database_url,
        vec![("FRONTIERWATCH_READ_CACHE".into(), "true".into())],
    )
    .await
}

/// Waits until a Get of `name` is answered from the cache.
async fn until_live(server: &TestServer, client: &mut Client, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let before = served(server).0;
        let _ = client
            .get_organization(GetOrganizationRequest { name: name.into() })
            .await;
        if served(server).0 > before {
            return;
        }
        assert!(Instant::now() < deadline, "the read cache never went live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One caller's round: create, read, update, read, delete, read; each
/// read must show the write just acknowledged.
async fn round(mut c: Client, caller: usize, rounds: usize) -> usize {
    let mut gets = 0;
    for i in 0..rounds {
        let id = format!("c{caller}-{i}");
        let created = create_org(&mut c, &id).await;
        let read = c
            .get_organization(GetOrganizationRequest {
                name: created.name.clone(),
            })
            .await
            .expect("a created organization is read at once")
            .into_inner();
        assert_eq!(read, created);
        let updated = c
            .update_organization(set_website(&created, &format!("https://example.com/{id}")))
            .await
            .expect("updates")
            .into_inner();
        let read = c
            .get_organization(GetOrganizationRequest {
                name: created.name.clone(),
            })
            .await
            .expect("an updated organization is read")
            .into_inner();
        assert_eq!(read, updated, "the update is read at once");
        c.delete_organization(DeleteOrganizationRequest {
            name: created.name.clone(),
            etag: updated.etag.clone(),
        })
        .await
        .expect("deletes");
        let gone = c
            .get_organization(GetOrganizationRequest {
                name: created.name.clone(),
            })
            .await
            .expect_err("a deleted organization is gone at once");
        assert_eq!(gone.code(), Code::NotFound);
        gets += 3;
    }
    gets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_caller_reads_its_own_writes_from_the_cache_at_once() {
    let s = cached_server(&fresh_database().await).await;
    let mut c = s.client().await;
    create_org(&mut c, "probe").await;
    until_live(&s, &mut c, "organizations/probe").await;
    let (cache_before, database_before) = served(&s);

    // Eight callers at once: their writes share group-committed
    // transactions, and each reads its own at once.
    let mut callers = Vec::new();
    for caller in 0..8 {
        let client = s.client().await;
        callers.push(tokio::spawn(round(client, caller, 15)));
    }
    let mut gets = 0;
    for caller in callers {
        gets += caller.await.expect("a caller's round passes");
    }

    let (cache, database) = served(&s);
    let from_cache = cache - cache_before;
    assert_eq!(
        from_cache + (database - database_before),
        gets as f64,
        "every Get is counted"
    );
    // A Get reads the database only when the cache does not catch up
    // within a second: on a loaded machine, now and then.
    assert!(
        from_cache >= 0.9 * gets as f64,
        "{from_cache} of {gets} Gets from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_holds_what_was_stored_before_it_and_what_other_replicas_write() {
    let database = fresh_database().await;
    // A replica without a cache writes first: the cached one reads it from
    // its snapshot.
    let plain = server_with(&database, Vec::new()).await;
    let mut writer = plain.client().await;
    for i in 0..30 {
        create_org(&mut writer, &format!("before-{i}")).await;
    }
    let cached = cached_server(&database).await;
    let mut reader = cached.client().await;
    until_live(&cached, &mut reader, "organizations/before-0").await;
    let (cache_before, _) = served(&cached);
    for i in 0..30 {
        let read = reader
            .get_organization(GetOrganizationRequest {
                name: format!("organizations/before-{i}"),
            })
            .await
            .expect("stored before the cache started");
        assert_eq!(read.into_inner().display_name, format!("Org before-{i}"));
    }
    assert_eq!(served(&cached).0 - cache_before, 30.0, "all from the cache");

    // Written through the other replica: read here once the follower has it.
    let eventually = |reader: &mut Client, want: Option<String>| {
        let mut reader = reader.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let got = reader
                    .get_organization(GetOrganizationRequest {
                        name: "organizations/elsewhere".into(),
                    })
                    .await
                    .map(|r| r.into_inner().etag)
                    .ok();
                if got == want {
                    return;
                }
                assert!(Instant::now() < deadline, "still {got:?}, not {want:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Seen on a watch of the cached replica: a Get there after it reads it.
    let mut events = reader
        .watch(WatchRequest::default())
        .await
        .expect("watches")
        .into_inner();
    let created = create_org(&mut writer, "elsewhere").await;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), events.message())
            .await
            .expect("the watch delivers the create")
            .expect("the watch goes on")
            .expect("the watch goes on");
        if let Some(watch_response::Kind::Transaction(t)) = message.kind
            && t.events.iter().any(|e| e.resource_name == created.name)
        {
            break;
        }
    }
    let read = reader
        .get_organization(GetOrganizationRequest {
            name: created.name.clone(),
        })
        .await
        .expect("a change seen on the watch is read")
        .into_inner();
    assert_eq!(read, created);
    let updated = writer
        .update_organization(set_website(&created, "https://example.com"))
        .await
        .expect("updates")
        .into_inner();
    eventually(&mut reader, Some(updated.etag.clone())).await;
    writer
        .delete_organization(DeleteOrganizationRequest {
            name: created.name.clone(),
            etag: updated.etag,
        })
        .await
        .expect("deletes");
    eventually(&mut reader, None).await;
}

/// PostgreSQL stops and starts again under a replica with a read cache:
/// once it is back, each caller reads its own writes at once, and the
/// cache, whose watch survives the restart, answers from memory again.
/// (While the database is down, calls with a token fail anyway: a replica
/// that cannot hear revocations checks every token in the database.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_follows_the_log_across_a_postgresql_restart() {
    // Its own cluster: the shared one serves other tests.
    let (mut cluster, url) = crate::deployment::OwnCluster::start().await;
    let s = cached_server(&url).await;
    let mut c = s.client().await;
    let kept = create_org(&mut c, "kept").await;
    until_live(&s, &mut c, &kept.name).await;

    cluster.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.restart().await;
    // The pool reconnects: the first writes after the restart may fail.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        match c.create_organization(org_request("after")).await {
            Ok(created) => break created.into_inner(),
            Err(status) => {
                assert!(
                    Instant::now() < deadline,
                    "no write after the restart: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let read = c
        .get_organization(GetOrganizationRequest {
            name: after.name.clone(),
        })
        .await
        .expect("a write after the restart is read at once")
        .into_inner();
    assert_eq!(read, after);
    // The cache followed the log across the restart: Gets are answered
    // from memory again (at once, unless the follower's listener is still
    // reconnecting and a Get falls back to the database meanwhile).
    until_live(&s, &mut c, &after.name).await;
    let updated = c
        .update_organization(set_website(&kept, "https://example.com/kept"))
        .await
        .expect("updates")
        .into_inner();
    let read = c
        .get_organization(GetOrganizationRequest {
            name: kept.name.clone(),
        })
        .await
        .expect("reads")
        .into_inner();
    assert_eq!(
        read, updated,
        "the update after the restart is read at once"
    );
    drop(s);
    drop(cluster);
}
