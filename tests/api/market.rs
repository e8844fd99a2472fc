//! The deployed side of the competition: offerings with their dated
//! terms, measurements, the price frontier and the offering report, the
//! LLM-Stats offers import, and their bad input.

use std::collections::HashMap;

use std::time::Duration;

use frontierwatch_proto::v1::*;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::datasets::{count, data, import};
use crate::fixtures::*;
use crate::harness::{Client, TestServer};

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// 2026-03-02T00:00:00Z, a Monday.
const MONDAY: i64 = 1_772_409_600;
const DAY: i64 = 86_400;

async fn create_offering(c: &mut Client, id: &str, offering: Offering) -> Offering {
    c.create_offering(CreateOfferingRequest {
        offering_id: id.to_owned(),
        offering: Some(offering),
        ..Default::default()
    })
    .await
    .expect("offering is created")
    .into_inner()
}

/// Organizations, one model line with three releases, one benchmark.
async fn market_world(c: &mut Client) {
    for org in ["lab", "cloud-a", "cloud-b", "probe"] {
        create_org(c, org).await;
    }
    create_model(c, "line", &["lab"]).await;
    for (id, access) in [
        ("big", AccessKind::Api),
        ("mid", AccessKind::OpenWeights),
        ("small", AccessKind::OpenWeights),
    ] {
        let mut r = release(id);
        r.access = vec![access as i32];
        create_release(c, "line", id, r).await;
    }
    create_benchmark(c, "bench", ScoreScale::Percent, "reasoning").await;
}

fn measurement(
    offering: &str,
    metric: MeasurementMetric,
    value: f64,
    unit: MeasurementUnit,
    end: i64,
    samples: Option<i64>,
    network: Network,
) -> Measurement {
    Measurement {
        offering: offering.to_owned(),
        metric: metric as i32,
        value,
        unit: unit as i32,
        window_start: at(end - 3600),
        window_end: at(end),
        sample_count: samples,
        conditions: Some(MeasurementConditions {
            region: "eu-west".into(),
            network: network as i32,
            ..Default::default()
        }),
        measured_by: "organizations/probe".into(),
        relation: EvaluatorRelation::ThirdParty as i32,
        provenance: Some(source("https://example.com/probe-run")),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terms_an_offering_had_read_back_by_date_and_price_its_board() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    market_world(&mut c).await;
    create_result(
        &mut c,
        "r-big",
        result("models/line/releases/big", "benchmarks/bench", 80.0),
    )
    .await;
    let created = create_offering(
        &mut c,
        "a-big",
        offering("", "models/line/releases/big", "organizations/cloud-a"),
    )
    .await;
    // A price cut from June on: new terms, the old ones kept.
    let mut cut = created.clone();
    cut.terms.push(terms(date(2025, 6, 1), "2", "10"));
    c.update_offering(UpdateOfferingRequest {
        offering: Some(cut),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["terms".into()],
        }),
    })
    .await
    .expect("the new terms are added");
    let terms_on = |day: Date| GetOfferingTermsRequest {
        offering: "offerings/a-big".into(),
        date: Some(day),
    };
    let before = c
        .get_offering_terms(terms_on(date(2025, 5, 31)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.input_price.unwrap().amount, "3");
    assert_eq!(before.output_price.unwrap().amount, "15");
    let after = c
        .get_offering_terms(terms_on(date(2025, 6, 1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.input_price.unwrap().amount, "2");
    assert_eq!(after.output_price.unwrap().amount, "10");
    let none = c
        .get_offering_terms(terms_on(date(2024, 12, 31)))
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::NotFound, "{none:?}");

    // The board prices each row on its own date: 3:1 of 3 and 15 is 6,
    // of 2 and 10 is 4.
    let board_on = |as_of: Date| GetLeaderboardRequest {
        benchmark: "benchmarks/bench".into(),
        as_of: Some(as_of),
        ..Default::default()
    };
    let row = |b: Leaderboard| b.sections[0].rows[0].clone();
    let may = row(c
        .get_leaderboard(board_on(date(2025, 7, 31)))
        .await
        .unwrap()
        .into_inner());
    assert_eq!(may.cheapest_price.unwrap().amount, "4");
    assert!(!may.open_weights);
    let mut r = result("models/line/releases/big", "benchmarks/bench", 80.0);
    r.publish_date = Some(date(2025, 2, 1));
    create_result(&mut c, "r-big-early", r).await;
    let feb = row(c
        .get_leaderboard(board_on(date(2025, 2, 1)))
        .await
        .unwrap()
        .into_inner());
    assert_eq!(feb.cheapest_price.unwrap().amount, "6");
}

fn frontier_request(as_of: Date) -> GetPriceFrontierRequest {
    GetPriceFrontierRequest {
        benchmark: "benchmarks/bench".into(),
        as_of: Some(as_of),
        ..Default::default()
    }
}

/// (release, blended price, on the frontier), in board order.
fn points(frontier: &PriceFrontier) -> Vec<(String, Option<String>, bool)> {
    frontier.sections[0]
        .points
        .iter()
        .map(|p| {
            let release = p.release.rsplit('/').next().unwrap().to_owned();
            (
                release,
                p.blended_price.as_ref().map(|b| b.amount.clone()),
                p.on_frontier,
            )
        })
        .collect()
}

/// The priced world: big (80) at $6 from cloud-a and $5 from cloud-b until
/// September; mid (70, open) at $2; small (50, open) at $3; unpriced
/// (90) priced only in euros.
async fn priced_world(c: &mut Client) {
    market_world(c).await;
    create_release(c, "line", "unpriced", release("Unpriced")).await;
    for (id, score) in [
        ("big", 80.0),
        ("mid", 70.0),
        ("small", 50.0),
        ("unpriced", 90.0),
    ] {
        create_result(
            c,
            &format!("r-{id}"),
            result(
                &format!("models/line/releases/{id}"),
                "benchmarks/bench",
                score,
            ),
        )
        .await;
    }
    let line = |id: &str| format!("models/line/releases/{id}");
    create_offering(
        c,
        "a-big",
        offering("", &line("big"), "organizations/cloud-a"),
    )
    .await;
    let mut b_big = offering("", &line("big"), "organizations/cloud-b");
    b_big.terms = vec![terms(date(2025, 1, 1), "2", "14")];
    b_big.deprecated_date = Some(date(2025, 9, 1));
    create_offering(c, "b-big", b_big).await;
    let mut mid = offering("", &line("mid"), "organizations/cloud-a");
    mid.terms = vec![terms(date(2025, 1, 1), "1", "5")];
    create_offering(c, "a-mid", mid).await;
    let mut small = offering("", &line("small"), "organizations/cloud-b");
    small.terms = vec![terms(date(2025, 1, 1), "2.5", "4.5")];
    create_offering(c, "b-small", small).await;
    // In euros: not a dollar price, never converted.
    let mut euro = offering("", &line("unpriced"), "organizations/cloud-a");
    euro.terms[0].input_price = Some(Price {
        amount: "1".into(),
        currency_code: "EUR".into(),
    });
    euro.terms[0].output_price = Some(Price {
        amount: "1".into(),
        currency_code: "EUR".into(),
    });
    create_offering(c, "a-euro", euro).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_price_frontier_keeps_the_releases_nothing_cheaper_beats() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    priced_world(&mut c).await;
    // August: big's cheapest is b-big (3:1 of 2 and 14 = 5); mid 2; small 3.
    let august = c
        .get_price_frontier(frontier_request(date(2025, 8, 1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(august.blend, "3:1 input:output, USD per million tokens");
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(
        points(&august),
        vec![
            ("unpriced".into(), None, false),
            ("big".into(), s("5"), true),
            ("mid".into(), s("2"), true),
            ("small".into(), s("3"), false),
        ]
    );
    assert_eq!(august.sections[0].unpriced, 1);
    let big = &august.sections[0].points[1];
    assert_eq!(big.offering, "offerings/b-big");
    assert_eq!(big.provider, "organizations/cloud-b");
    assert!(august.sections[0].points[2].open_weights && !big.open_weights);
    // September: b-big is deprecated; a-big's 6 is big's price.
    let september = c
        .get_price_frontier(frontier_request(date(2025, 9, 1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(points(&september)[1], ("big".into(), s("6"), true));
    // Blended 1:1 the frontier changes: big 9 (a-big) / 8 (b-big), mid 3,
    // small 3.5; in euros only the euro offering is priced.
    let mut even = frontier_request(date(2025, 8, 1));
    (even.input_weight, even.output_weight) = (1, 1);
    let even = c.get_price_frontier(even).await.unwrap().into_inner();
    assert_eq!(even.blend, "1:1 input:output, USD per million tokens");
    assert_eq!(
        points(&even)[1..],
        [
            ("big".into(), s("8"), true),
            ("mid".into(), s("3"), true),
            ("small".into(), s("3.5"), false)
        ]
    );
    let mut euros = frontier_request(date(2025, 8, 1));
    euros.currency_code = "EUR".into();
    let euros = c.get_price_frontier(euros).await.unwrap().into_inner();
    assert_eq!(points(&euros)[0], ("unpriced".into(), s("1"), true));
    assert_eq!(euros.sections[0].unpriced, 3);
    // Open weights only.
    let mut open = frontier_request(date(2025, 8, 1));
    open.access = AccessFilter::OpenWeights as i32;
    let open = c.get_price_frontier(open).await.unwrap().into_inner();
    assert_eq!(
        points(&open),
        vec![
            ("mid".into(), s("2"), true),
            ("small".into(), s("3"), false)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offering_report_summarizes_each_metric_by_week_and_by_network() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    market_world(&mut c).await;
    let line = |id: &str| format!("models/line/releases/{id}");
    create_offering(
        &mut c,
        "a-big",
        offering("", &line("big"), "organizations/cloud-a"),
    )
    .await;
    create_offering(
        &mut c,
        "b-big",
        offering("", &line("big"), "organizations/cloud-b"),
    )
    .await;
    use MeasurementMetric::{
        ErrorRate, OutputTokensPerSecond as Tps, SuccessRate, TimeToFirstToken as Ttft,
    };
    use MeasurementUnit::{Fraction, Milliseconds, Percent, Seconds, TokensPerSecond};
    use Network::{Satellite, Terrestrial};
    let a = "offerings/a-big";
    let rows = [
        // Week 1, terrestrial: TTFT 0.2 s, 0.4 s (as 400 ms), 0.3 s; TPS 100, 50.
        measurement(a, Ttft, 0.2, Seconds, MONDAY + DAY, Some(10), Terrestrial),
        measurement(
            a,
            Ttft,
            400.0,
            Milliseconds,
            MONDAY + 2 * DAY,
            Some(30),
            Terrestrial,
        ),
        measurement(a, Ttft, 0.3, Seconds, MONDAY + 3 * DAY, None, Terrestrial),
        measurement(
            a,
            Tps,
            100.0,
            TokensPerSecond,
            MONDAY + DAY,
            Some(10),
            Terrestrial,
        ),
        measurement(
            a,
            Tps,
            50.0,
            TokensPerSecond,
            MONDAY + 2 * DAY,
            Some(30),
            Terrestrial,
        ),
        measurement(
            a,
            SuccessRate,
            99.0,
            Percent,
            MONDAY + DAY,
            Some(100),
            Terrestrial,
        ),
        // Week 2, satellite: TTFT 1.2 s; success 0.8 of 50, errors 0.3 of 50.
        measurement(a, Ttft, 1.2, Seconds, MONDAY + 8 * DAY, Some(5), Satellite),
        measurement(
            a,
            SuccessRate,
            0.8,
            Fraction,
            MONDAY + 8 * DAY,
            Some(50),
            Satellite,
        ),
        measurement(
            a,
            ErrorRate,
            0.3,
            Fraction,
            MONDAY + 9 * DAY,
            Some(50),
            Satellite,
        ),
        // Outside the window; and another offering of the release.
        measurement(a, Ttft, 9.0, Seconds, MONDAY + 30 * DAY, None, Satellite),
        measurement(
            "offerings/b-big",
            Ttft,
            0.5,
            Seconds,
            MONDAY + DAY,
            Some(1),
            Terrestrial,
        ),
    ];
    for m in rows {
        c.create_measurement(CreateMeasurementRequest {
            measurement: Some(m),
            ..Default::default()
        })
        .await
        .expect("measurement is created");
    }
    let ask = |subject: &str, breakdown: ReportBreakdown| GetOfferingReportRequest {
        subject: subject.to_owned(),
        window_start: at(MONDAY),
        window_end: at(MONDAY + 14 * DAY),
        breakdown: breakdown as i32,
        ..Default::default()
    };
    let report = c
        .get_offering_report(ask(a, ReportBreakdown::Network))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.offerings, vec![a.to_owned()]);
    let metric = |s: &MeasurementSummary, m: MeasurementMetric| {
        s.metrics
            .iter()
            .find(|x| x.metric == m as i32)
            .cloned()
            .unwrap_or_else(|| panic!("{m:?} in {s:?}"))
    };
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} != {b}");
    let overall = report.overall.clone().unwrap();
    let ttft = metric(&overall, Ttft);
    assert_eq!(
        (ttft.measurements, ttft.samples, ttft.unit),
        (4, 46, Seconds as i32)
    );
    // 0.2, 0.3, 0.4, 1.2: median 0.35, p90 0.96; weighted (2 + 12 + 0.3 + 6) / 46.
    close(ttft.median, 0.35);
    close(ttft.p90, 0.96);
    close(
        ttft.weighted_mean,
        (0.2 * 10.0 + 0.4 * 30.0 + 0.3 + 1.2 * 5.0) / 46.0,
    );
    let tps = metric(&overall, Tps);
    close(tps.weighted_mean, (100.0 * 10.0 + 50.0 * 30.0) / 40.0);
    // Availability: (0.99·100 + 0.8·50 + 0.7·50) / 200.
    close(overall.availability.unwrap(), (99.0 + 40.0 + 35.0) / 200.0);
    assert_eq!(
        report
            .weekly
            .iter()
            .map(|w| w.group.as_str())
            .collect::<Vec<_>>(),
        ["2026-03-02", "2026-03-09"]
    );
    close(report.weekly[1].availability.unwrap(), 0.75);
    assert_eq!(
        report
            .breakdown
            .iter()
            .map(|w| w.group.as_str())
            .collect::<Vec<_>>(),
        ["NETWORK_TERRESTRIAL", "NETWORK_SATELLITE"]
    );
    close(report.breakdown[0].availability.unwrap(), 0.99);
    close(report.breakdown[1].availability.unwrap(), 0.75);
    close(metric(&report.breakdown[1], Ttft).median, 1.2);
    // Only satellite, asked as a condition.
    let mut satellite = ask(a, ReportBreakdown::Network);
    satellite.conditions = Some(MeasurementConditions {
        network: Satellite as i32,
        ..Default::default()
    });
    let satellite = c.get_offering_report(satellite).await.unwrap().into_inner();
    assert_eq!(metric(&satellite.overall.unwrap(), Ttft).measurements, 1);
    // The release's report counts both offerings, broken down by offering.
    let release = c
        .get_offering_report(ask(&line("big"), ReportBreakdown::Offering))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        release.offerings,
        vec![a.to_owned(), "offerings/b-big".to_owned()]
    );
    assert_eq!(metric(&release.overall.unwrap(), Ttft).measurements, 5);
    assert_eq!(
        release
            .breakdown
            .iter()
            .map(|w| w.group.as_str())
            .collect::<Vec<_>>(),
        [a, "offerings/b-big"]
    );
    // Listed by offering and metric.
    let listed = c
        .list_measurements(ListMeasurementsRequest {
            offering: a.into(),
            metric: Ttft as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.measurements.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offerings_measurements_and_market_questions_get_the_field_at_fault() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    market_world(&mut c).await;
    let line = |id: &str| format!("models/line/releases/{id}");
    let base = offering("", &line("big"), "organizations/cloud-a");
    let create = |o: Offering| CreateOfferingRequest {
        offering_id: "bad".into(),
        offering: Some(o),
        ..Default::default()
    };
    for (amount, field) in [
        ("-1", "offering.terms[0].input_price.amount"),
        ("1e3", "offering.terms[0].input_price.amount"),
        ("two", "offering.terms[0].input_price.amount"),
    ] {
        let mut o = base.clone();
        o.terms[0].input_price = Some(usd(amount));
        let status = c.create_offering(create(o)).await.unwrap_err();
        assert_invalid(&status, field);
    }
    let mut o = base.clone();
    o.terms.push(terms(date(2024, 1, 1), "1", "1"));
    assert_invalid(
        &c.create_offering(create(o)).await.unwrap_err(),
        "offering.terms[1].effective_date",
    );
    let mut o = base.clone();
    o.terms[0].output_price = Some(Price {
        amount: "1".into(),
        currency_code: "EUR".into(),
    });
    assert_invalid(
        &c.create_offering(create(o)).await.unwrap_err(),
        "offering.terms[0].output_price.currency_code",
    );
    let mut o = base.clone();
    o.terms.clear();
    assert_invalid(
        &c.create_offering(create(o)).await.unwrap_err(),
        "offering.terms",
    );

    create_offering(&mut c, "good", base.clone()).await;
    let good = measurement(
        "offerings/good",
        MeasurementMetric::SuccessRate,
        0.9,
        MeasurementUnit::Fraction,
        MONDAY,
        Some(10),
        Network::Terrestrial,
    );
    let make = |m: Measurement| CreateMeasurementRequest {
        measurement: Some(m),
        ..Default::default()
    };
    let cases: Vec<(Measurement, &str)> = vec![
        (
            Measurement {
                window_end: at(MONDAY - 7200),
                ..good.clone()
            },
            "measurement.window_end",
        ),
        (
            Measurement {
                sample_count: Some(0),
                ..good.clone()
            },
            "measurement.sample_count",
        ),
        (
            Measurement {
                unit: MeasurementUnit::Seconds as i32,
                ..good.clone()
            },
            "measurement.unit",
        ),
        (
            Measurement {
                unit: 0,
                ..good.clone()
            },
            "measurement.unit",
        ),
        (
            Measurement {
                metric: 0,
                ..good.clone()
            },
            "measurement.metric",
        ),
        (
            Measurement {
                value: 1.5,
                ..good.clone()
            },
            "measurement.value",
        ),
        (
            Measurement {
                value: f64::NAN,
                ..good.clone()
            },
            "measurement.value",
        ),
        (
            Measurement {
                offering: "offers/x".into(),
                ..good.clone()
            },
            "measurement.offering",
        ),
    ];
    for (m, field) in cases {
        assert_invalid(&c.create_measurement(make(m)).await.unwrap_err(), field);
    }
    // An unknown metric value is refused before the handler.
    let status = c
        .create_measurement(make(Measurement {
            metric: 99,
            ..good.clone()
        }))
        .await
        .unwrap_err();
    assert_invalid(&status, "measurement.metric");
    // A measurement of an offering that does not exist: refused like every
    // dangling reference, naming the field.
    let status = c
        .create_measurement(make(Measurement {
            offering: "offerings/none".into(),
            ..good.clone()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.metadata["field"], "measurement.offering");
    // Nothing was written by any of them.
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM resources WHERE kind IN ('measurement', 'offering')")
            .fetch_one(&server.pool().await)
            .await
            .unwrap();
    assert_eq!(n, 1, "only the good offering");

    let report = |r: GetOfferingReportRequest| r;
    let status = c
        .get_offering_report(report(GetOfferingReportRequest {
            subject: "benchmarks/bench".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_invalid(&status, "subject");
    let status = c
        .get_offering_report(GetOfferingReportRequest {
            subject: "offerings/good".into(),
            window_start: at(MONDAY),
            window_end: at(MONDAY - 1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "window_end");
    let status = c
        .get_offering_report(GetOfferingReportRequest {
            subject: "offerings/none".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let mut bad = frontier_request(date(2025, 8, 1));
    bad.currency_code = "usd".into();
    assert_invalid(
        &c.get_price_frontier(bad).await.unwrap_err(),
        "currency_code",
    );
    let status = c
        .get_offering_terms(GetOfferingTermsRequest {
            offering: "offerings/good".into(),
            date: Some(date(2025, 2, 30)),
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "date");
}

/// LLM-Stats' offers, from provider_models.csv, providers.csv and
/// licenses.csv (beside the counts of `datasets::LLM_STATS`):
/// - organizations: 13 of the 20 providers are not developers already
///   (the 7 that are resolve to them), and LLM-Stats itself = 14 more;
/// - offerings: all 242 rows, every one priced and of a release of
///   models.csv;
/// - measurements: 226 throughputs and 226 latencies = 452; the 16 rows
///   without either are reported for each = 32 rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_stats_offers_import_once_and_price_a_frontier_computed_from_the_rows() {
    let server = TestServer::start().await;
    let dir = data("llm_stats");
    let first = import(&server, &["llm-stats", dir.to_str().unwrap()]);
    for (kind, created, rejected) in [("offerings", 242, 0), ("measurements", 452, 32)] {
        assert_eq!(count(&first, kind, "created"), created, "{kind}: {first:#}");
        assert_eq!(count(&first, kind, "rejected"), rejected, "{kind}");
    }
    assert_eq!(
        count(&first, "organizations", "created"),
        16 + 14,
        "{first:#}"
    );
    let second = import(&server, &["llm-stats", dir.to_str().unwrap()]);
    for kind in ["organizations", "offerings", "measurements", "releases"] {
        assert_eq!(
            count(&second, kind, "created") + count(&second, kind, "updated"),
            0,
            "{kind}: {second:#}"
        );
    }

    // The rows, read independently of the importer.
    let mut reader = csv::Reader::from_path(dir.join("provider_models.csv")).unwrap();
    let mut rows: Vec<HashMap<String, String>> = Vec::new();
    for record in reader.deserialize() {
        rows.push(record.unwrap());
    }
    let mut c = server.client().await;
    let mut release_of: HashMap<String, String> = HashMap::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_offerings(ListOfferingsRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for o in page.offerings {
            // Every priced row is there with its exact prices.
            release_of.insert(o.name.clone(), o.release.clone());
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(release_of.len(), rows.len());
    // Each release's cheapest 3:1 blend, as 3·input + output in cents.
    let mut cheapest: HashMap<String, i64> = HashMap::new();
    for row in &rows {
        let id = frontierwatch_client::names::slug(&format!(
            "llmstats-{}-{}",
            row["provider_id"], row["model_id"]
        ))
        .unwrap();
        let release = &release_of[&format!("offerings/{id}")];
        let cents = |c: &str| row[c].parse::<i64>().unwrap();
        let blend =
            3 * cents("input_cents_per_million_tokens") + cents("output_cents_per_million_tokens");
        let entry = cheapest.entry(release.clone()).or_insert(blend);
        *entry = (*entry).min(blend);
    }
    let board = c
        .get_leaderboard(GetLeaderboardRequest {
            benchmark: "benchmarks/gpqa".into(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let frontier = c
        .get_price_frontier(GetPriceFrontierRequest {
            benchmark: "benchmarks/gpqa".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(frontier.sections.len(), board.sections.len());
    let mut on_frontier = 0;
    for (section, ranked) in frontier.sections.iter().zip(&board.sections) {
        let priced: Vec<(i64, f64)> = ranked
            .rows
            .iter()
            .filter_map(|r| cheapest.get(&r.release).map(|p| (*p, r.score)))
            .collect();
        assert_eq!(section.points.len(), ranked.rows.len());
        for (point, row) in section.points.iter().zip(&ranked.rows) {
            assert_eq!(point.release, row.release);
            assert_eq!(
                row.cheapest_price, point.blended_price,
                "the board shows the same price"
            );
            let Some(&price) = cheapest.get(&row.release) else {
                assert!(point.blended_price.is_none() && !point.on_frontier);
                continue;
            };
            let amount: f64 = point
                .blended_price
                .as_ref()
                .unwrap()
                .amount
                .parse()
                .unwrap();
            assert!(
                (amount * 400.0 - price as f64).abs() < 1e-6,
                "{} {amount} vs {price}",
                row.release
            );
            let dominated = priced
                .iter()
                .any(|&(p, s)| p <= price && s >= row.score && (p < price || s > row.score));
            assert_eq!(point.on_frontier, !dominated, "{}", row.release);
            on_frontier += usize::from(point.on_frontier);
        }
    }
    assert!(
        on_frontier >= 2,
        "a frontier of more than one release: {frontier:#?}"
    );

    // Each release's licence, from models.csv and licenses.csv.
    let mut licences: HashMap<String, (String, bool)> = HashMap::new();
    for record in csv::Reader::from_path(dir.join("licenses.csv"))
        .unwrap()
        .deserialize()
    {
        let row: HashMap<String, String> = record.unwrap();
        licences.insert(
            row["license_id"].clone(),
            (row["name"].clone(), row["allow_commercial"] == "True"),
        );
    }
    // By display name: two releases that share one (two GPT-4o snapshots)
    // share their row's licence too, as the per-row checks show.
    let mut by_display: HashMap<String, Licence> = HashMap::new();
    let mut licensed = 0;
    let mut token = String::new();
    loop {
        let page = c
            .list_releases(ListReleasesRequest {
                parent: "models/-".into(),
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for r in page.releases {
            if let Some(licence) = r.licence {
                licensed += 1;
                by_display.insert(r.display_name, licence);
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut expected = 0;
    for record in csv::Reader::from_path(dir.join("models.csv"))
        .unwrap()
        .deserialize()
    {
        let row: HashMap<String, String> = record.unwrap();
        let Some((name, commercial)) = licences
            .get(&row["license_id"])
            .filter(|_| row["license_id"] != "unknown")
        else {
            continue;
        };
        expected += 1;
        let licence = &by_display[&row["name"]];
        assert_eq!(
            (&licence.name, licence.commercial_use),
            (name, Some(*commercial)),
            "{}",
            row["name"]
        );
        let open = if !row["source_weights_link"].is_empty() {
            Some(true)
        } else {
            (row["license_id"] == "proprietary").then_some(false)
        };
        assert_eq!(licence.open_weights, open, "{}", row["name"]);
    }
    assert_eq!(licensed, expected);
}

fn stored_alerts(rows: &[(Vec<u8>,)], kind: AlertKind) -> Vec<Alert> {
    rows.iter()
        .map(|(d,)| <Alert as prost::Message>::decode(d.as_slice()).unwrap())
        .filter(|a| a.kind == kind as i32)
        .collect()
}

/// Two replicas evaluate every 0.2 s: a price change is announced once
/// when its terms take effect (not for terms dated ahead), a drop in
/// availability below the operator's threshold once, and again only
/// after a recovery; a watch on the release's model line sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_changes_and_availability_drops_are_announced_once_each() {
    let database = crate::harness::fresh_database().await;
    let env = vec![
        ("FRONTIERWATCH_ALERT_SECONDS".to_owned(), "0.2".to_owned()),
        (
            "FRONTIERWATCH_AVAILABILITY_ALERT_THRESHOLD".to_owned(),
            "0.9".to_owned(),
        ),
        (
            "FRONTIERWATCH_AVAILABILITY_ALERT_WINDOW_SECONDS".to_owned(),
            "3600".to_owned(),
        ),
    ];
    let a = crate::watch::server_with(&database, env.clone()).await;
    let b = crate::watch::server_with(&database, env).await;
    let mut c = a.client().await;
    market_world(&mut c).await;
    let mut watch_client = b.client().await;
    let recorder = crate::watch_support::Recorder::start(
        &mut watch_client,
        WatchRequest {
            resource_types: vec![ResourceType::Alert as i32],
            model: "models/line".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let created = create_offering(
        &mut c,
        "a-big",
        offering("", "models/line/releases/big", "organizations/cloud-a"),
    )
    .await;
    // A cut in effect, and a rise dated a year ahead: one alert.
    let mut changed = created.clone();
    changed.terms.push(terms(date(2025, 6, 1), "2", "10"));
    let ahead = chrono::Utc::now().date_naive() + chrono::Days::new(365);
    use chrono::Datelike as _;
    changed.terms.push(terms(
        date(ahead.year(), ahead.month() as i32, ahead.day() as i32),
        "4",
        "20",
    ));
    let update = |o: Offering| UpdateOfferingRequest {
        offering: Some(o),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["terms".into()],
        }),
    };
    let changed = c
        .update_offering(update(changed))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A change of something else announces nothing more.
    let mut other = changed.clone();
    other.regions = vec!["us-east-1".into()];
    c.update_offering(UpdateOfferingRequest {
        offering: Some(other),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["regions".into()],
        }),
    })
    .await
    .unwrap();

    // Availability: 0.95 (above), then failures bring it to 0.5 (below:
    // one alert), more failures keep it below (no second), successes
    // bring it back over, and failures below again (a second).
    let now = chrono::Utc::now().timestamp();
    let success = |value: f64, samples: i64| {
        let mut m = measurement(
            "offerings/a-big",
            MeasurementMetric::SuccessRate,
            value,
            MeasurementUnit::Fraction,
            now - 60,
            Some(samples),
            Network::Terrestrial,
        );
        m.window_start = at(now - 120);
        CreateMeasurementRequest {
            measurement: Some(m),
            ..Default::default()
        }
    };
    let steps = [
        (0.95, 100),
        (0.05, 100),
        (0.0, 50),
        (1.0, 3000),
        (0.0, 5000),
    ];
    for (value, samples) in steps {
        c.create_measurement(success(value, samples)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let messages = recorder.stop();
    let pool = a.pool().await;
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT resource FROM changes WHERE resource_type = 'frontierwatch.v1.Alert' ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let prices = stored_alerts(&rows, AlertKind::PriceChange);
    assert_eq!(prices.len(), 1, "{prices:#?}");
    let p = &prices[0];
    assert_eq!(
        (
            p.subject.as_str(),
            p.organization.as_str(),
            p.release.as_str()
        ),
        (
            "offerings/a-big",
            "organizations/cloud-a",
            "models/line/releases/big"
        )
    );
    assert!(
        p.message.contains("from 2025-06-01")
            && p.message.contains("2 USD")
            && p.message.contains("was 3 USD"),
        "{}",
        p.message
    );
    let drops = stored_alerts(&rows, AlertKind::AvailabilityDrop);
    assert_eq!(drops.len(), 2, "{drops:#?}");
    // (0.95·100 + 0.05·100) / 200 = 0.5; 100 / 250 (still below); 3100 /
    // 3250 = 0.95 (recovered); then 3100 / 8250.
    assert!((drops[0].score - 0.5).abs() < 1e-9, "{}", drops[0].score);
    assert!(
        (drops[1].score - 3100.0 / 8250.0).abs() < 1e-9,
        "{}",
        drops[1].score
    );
    let watched: usize = messages
        .iter()
        .map(|m| match m {
            crate::watch_support::Msg::Transaction { events, .. } => events.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(
        watched, 3,
        "the watch on models/line sees the three: {messages:?}"
    );
}

/// `fwatch frontier`, `offering-report` and `terms` in every format, the
/// frontier drawn as a PNG, and their bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fwatch_shows_the_frontier_a_report_and_terms_in_every_format_and_draws_them() {
    use crate::harness::run_fwatch_status;
    let server = TestServer::start().await;
    let mut c = server.client().await;
    priced_world(&mut c).await;
    let mut m = measurement(
        "offerings/a-mid",
        MeasurementMetric::TimeToFirstToken,
        0.5,
        MeasurementUnit::Seconds,
        MONDAY + DAY,
        Some(4),
        Network::Satellite,
    );
    m.name = String::new();
    c.create_measurement(CreateMeasurementRequest {
        measurement: Some(m),
        ..Default::default()
    })
    .await
    .unwrap();
    let run = |args: &[&str]| {
        let (code, out, err) = run_fwatch_status(&server, args, None);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        out
    };
    let table = run(&["frontier", "bench", "--as-of", "2025-08-01"]);
    assert!(
        table.contains("PRICE") && table.contains("models/line/releases/mid"),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&[
        "-o",
        "json",
        "frontier",
        "bench",
        "--as-of",
        "2025-08-01",
        "--blend",
        "1:1",
    ]))
    .unwrap();
    assert_eq!(json["blend"], "1:1 input:output, USD per million tokens");
    assert_eq!(
        json["sections"][0]["points"][1]["blendedPrice"]["amount"],
        "8"
    );
    let yaml = run(&["-o", "yaml", "frontier", "bench", "--open-weights"]);
    assert!(yaml.contains("onFrontier: true"), "{yaml}");
    let csv_text = run(&["-o", "csv", "frontier", "bench", "--as-of", "2025-08-01"]);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(
        (&rows[1][2], &rows[1][4], &rows[1][7]),
        ("models/line/releases/big", "5", "yes")
    );

    let plot =
        std::env::temp_dir().join(format!("fw-frontier-{}.png", uuid::Uuid::new_v4().simple()));
    run(&[
        "frontier",
        "bench",
        "--as-of",
        "2025-08-01",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let png = std::fs::read(&plot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    let _ = std::fs::remove_file(&plot);

    let window = [
        "--from",
        "2026-03-02T00:00:00Z",
        "--to",
        "2026-03-09T00:00:00Z",
    ];
    let mut args = vec!["offering-report", "a-mid"];
    args.extend(window);
    let report = run(&args);
    assert!(
        report.contains("NETWORK_SATELLITE") && report.contains("time_to_first_token"),
        "{report}"
    );
    let mut args = vec![
        "-o",
        "json",
        "offering-report",
        "models/line/releases/mid",
        "--by",
        "offering",
    ];
    args.extend(window);
    let json: serde_json::Value = serde_json::from_str(&run(&args)).unwrap();
    assert_eq!(json["breakdown"][0]["group"], "offerings/a-mid");
    let mut args = vec![
        "-o",
        "csv",
        "offering-report",
        "a-mid",
        "--network",
        "terrestrial",
    ];
    args.extend(window);
    assert_eq!(
        csv::Reader::from_reader(run(&args).as_bytes())
            .records()
            .count(),
        0
    );

    let terms = run(&["terms", "a-big", "--on", "2025-03-01"]);
    assert!(
        terms.contains("2025-01-01") && terms.contains("15"),
        "{terms}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&["-o", "json", "terms", "a-big"])).unwrap();
    assert_eq!(json["inputPrice"]["amount"], "3");

    // Bad input: a clap error (exit 2), an unknown benchmark, no terms yet.
    let (code, _, _) = run_fwatch_status(&server, &["frontier", "bench", "--blend", "three"], None);
    assert_eq!(code, Some(2));
    let (code, _, err) = run_fwatch_status(&server, &["frontier", "nope"], None);
    assert_ne!(code, Some(0));
    assert!(err.contains("benchmarks/nope"), "{err}");
    let (code, _, err) =
        run_fwatch_status(&server, &["terms", "a-big", "--on", "2024-01-01"], None);
    assert_ne!(code, Some(0));
    assert!(err.contains("not found"), "{err}");
}
