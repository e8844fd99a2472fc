//! `fwatch export`: JSON Lines that `fwatch import jsonl` turns back into
//! the same store, for a store holding every kind; CSV of one kind; and
//! its bad input, which leaves no file behind.

use frontierwatch_proto::kinds::KINDS;
use frontierwatch_proto::v1::*;
use serde_json::Value;

use crate::fixtures::*;
use crate::harness::{TestServer, run_fwatch_status};

/// Every resource of every kind, as `fwatch list --all` shows it, without
/// what each write renews (times, etags).
fn state(server: &TestServer) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for kind in KINDS {
        let arg = crate::kinds_arg(kind);
        let (code, text, err) =
            run_fwatch_status(server, &["-o", "json", "list", &arg, "--all"], None);
        assert_eq!(code, Some(0), "{err}");
        let mut items: Value = serde_json::from_str(&text).unwrap();
        for item in items.as_array_mut().unwrap() {
            for field in ["createTime", "updateTime", "etag"] {
                item.as_object_mut().unwrap().remove(field);
            }
        }
        out.push((arg, items));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_into_an_empty_server_reproduces_every_kind() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "line", &["lab"]).await;
    create_release(&mut c, "line", "base", release("Base")).await;
    create_benchmark(&mut c, "bench", ScoreScale::Percent, "coding").await;
    c.create_offering(CreateOfferingRequest {
        offering_id: "served".into(),
        offering: Some(offering(
            "",
            "models/line/releases/base",
            "organizations/lab",
        )),
        ..Default::default()
    })
    .await
    .unwrap();
    // One of each kind, through the registry's samples.
    let items: Vec<ImportItem> = KINDS
        .iter()
        .map(|kind| ImportItem {
            line: 0,
            resource: Some(crate::kinds::sample(kind, "one")),
        })
        .collect();
    let response = c
        .import_resources(ImportResourcesRequest {
            items,
            source: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        response
            .outcomes
            .iter()
            .all(|o| o.result == ImportResult::Created as i32),
        "{response:?}"
    );
    // A parent and a base that sort after what names them.
    create_org(&mut c, "zz-parent").await;
    c.create_organization(CreateOrganizationRequest {
        organization_id: "aa-child".into(),
        organization: Some(Organization {
            display_name: "Child".into(),
            parent: "organizations/zz-parent".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    create_release(&mut c, "line", "z-base", release("Z base")).await;
    let mut derived = release("A derived");
    derived.base_release = "models/line/releases/z-base".into();
    create_release(&mut c, "line", "a-derived", derived).await;

    let dir = std::env::temp_dir().join(format!("fw-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("store.jsonl");
    let (code, _, err) =
        run_fwatch_status(&server, &["export", "--to", file.to_str().unwrap()], None);
    assert_eq!(code, Some(0), "{err}");
    let lines = std::fs::read_to_string(&file).unwrap().lines().count();
    assert!(lines >= KINDS.len() + 9, "{lines} lines");

    let empty = TestServer::start().await;
    let (code, out, err) =
        run_fwatch_status(&empty, &["import", "jsonl", file.to_str().unwrap()], None);
    assert_eq!(code, Some(0), "every line imports:\n{out}\n{err}");
    let before = state(&server);
    let after = state(&empty);
    for ((kind, a), (_, b)) in before.iter().zip(&after) {
        assert!(!a.as_array().unwrap().is_empty(), "the store holds {kind}");
        assert_eq!(a, b, "{kind} differ");
    }

    // CSV of one kind, filtered: a header of its fields, a row a resource.
    let csv_file = dir.join("results.csv");
    let (code, _, err) = run_fwatch_status(
        &server,
        &[
            "export",
            "results",
            "--format",
            "csv",
            "-f",
            "benchmark=benchmarks/bench",
            "--to",
            csv_file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    let mut reader = csv::Reader::from_path(&csv_file).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert!(
        headers.iter().any(|h| h == "score") && headers.iter().any(|h| h == "provenance.sources"),
        "{headers:?}"
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let score = headers.iter().position(|h| h == "score").unwrap();
    assert_eq!(rows[0][score].parse::<f64>().unwrap(), 50.0);

    // Bad input: a clear error, a non-zero exit, no file.
    for (args, says) in [
        (vec!["export", "nonsense", "--to"], "unknown resource type"),
        (
            vec![
                "export",
                "organizations",
                "releases",
                "--format",
                "csv",
                "--to",
            ],
            "exactly one kind",
        ),
        (
            vec![
                "export",
                "organizations",
                "releases",
                "--format",
                "parquet",
                "--to",
            ],
            "exactly one kind",
        ),
        (
            vec!["export", "organizations", "--format", "xlsx", "--to"],
            "invalid value 'xlsx'",
        ),
    ] {
        let target = dir.join("bad.out");
        let mut args = args.clone();
        let path = target.to_str().unwrap().to_owned();
        args.push(&path);
        let (code, _, err) = run_fwatch_status(&server, &args, None);
        assert_ne!(code, Some(0));
        assert!(err.contains(says), "{err}");
        assert!(!target.exists());
    }
    let saved = dir.join("one.parquet");
    let (code, _, err) = run_fwatch_status(
        &server,
        &["get", "organizations/x", "--save", saved.to_str().unwrap()],
        None,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--save saves an analytics answer"), "{err}");
    assert!(!saved.exists());
    let (code, _, err) = run_fwatch_status(
        &server,
        &["export", "--to", "/nonexistent-dir/out.jsonl"],
        None,
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("cannot write"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
