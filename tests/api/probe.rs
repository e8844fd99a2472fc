//! `fwatch probe` against a streaming chat-completions server this test
//! starts on loopback, which injects delays, slow streams, an error
//! answer, a dropped connection and a stall: the measurements recorded
//! must match what was injected.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use frontierwatch_proto::v1::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::*;
use crate::harness::{TestServer, run_fwatch_with};

/// What the injected server does with one connection.
#[derive(Debug, Clone)]
enum Script {
    /// 200, the first token after `first`, then one every `gap`; `usage`
    /// reports the token count in a last chunk.
    Stream {
        first: u64,
        tokens: u64,
        gap: u64,
        usage: bool,
    },
    /// An error status with a JSON body.
    Error(u16),
    /// 200, `tokens` tokens, then the connection is closed mid-stream.
    Drop { first: u64, tokens: u64, gap: u64 },
    /// 200, then nothing for this long.
    Stall(u64),
}

/// What the server was asked.
#[derive(Debug, Clone, Default)]
struct Asked {
    path: String,
    authorization: String,
    body: String,
}

async fn read_request(socket: &mut TcpStream) -> Asked {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = socket.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default()
                };
                return Asked {
                    path: head
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned(),
                    authorization: header("authorization"),
                    body: String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned(),
                };
            }
        }
    }
    Asked::default()
}

async fn chunk(socket: &mut TcpStream, event: &str) {
    let data = format!("data: {event}\n\n");
    let _ = socket
        .write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes())
        .await;
}

fn token(i: u64) -> String {
    serde_json::json!({"choices": [{"index": 0, "delta": {"content": format!("t{i} ")}, "finish_reason": null}]}).to_string()
}

async fn serve(mut socket: TcpStream, script: Script, asked: Arc<Mutex<Vec<Asked>>>) {
    let request = read_request(&mut socket).await;
    asked.lock().unwrap().push(request);
    let ok =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let sleep = |ms: u64| tokio::time::sleep(Duration::from_millis(ms));
    match script {
        Script::Stream {
            first,
            tokens,
            gap,
            usage,
        } => {
            socket.write_all(ok.as_bytes()).await.unwrap();
            sleep(first).await;
            for i in 0..tokens {
                if i > 0 {
                    sleep(gap).await;
                }
                chunk(&mut socket, &token(i)).await;
            }
            chunk(&mut socket, &serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}).to_string()).await;
            if usage {
                chunk(
                    &mut socket,
                    &serde_json::json!({"choices": [], "usage": {"completion_tokens": tokens}})
                        .to_string(),
                )
                .await;
            }
            chunk(&mut socket, "[DONE]").await;
            let _ = socket.write_all(b"0\r\n\r\n").await;
        }
        Script::Error(status) => {
            let body = r#"{"error":{"message":"overloaded"}}"#;
            let answer = format!(
                "HTTP/1.1 {status} Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
        }
        Script::Drop { first, tokens, gap } => {
            socket.write_all(ok.as_bytes()).await.unwrap();
            sleep(first).await;
            for i in 0..tokens {
                if i > 0 {
                    sleep(gap).await;
                }
                chunk(&mut socket, &token(i)).await;
            }
            // Closed with the chunked body unfinished.
        }
        Script::Stall(ms) => {
            socket.write_all(ok.as_bytes()).await.unwrap();
            sleep(ms).await;
        }
    }
    let _ = socket.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_records_what_the_injected_endpoint_did() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_org(&mut c, "cloud").await;
    create_org(&mut c, "prober").await;
    create_model(&mut c, "line", &["lab"]).await;
    create_release(&mut c, "line", "one", release("One")).await;
    c.create_offering(CreateOfferingRequest {
        offering_id: "cloud-one".into(),
        offering: Some(offering(
            "",
            "models/line/releases/one",
            "organizations/cloud",
        )),
        ..Default::default()
    })
    .await
    .unwrap();

    let scripts = vec![
        Script::Stream {
            first: 400,
            tokens: 21,
            gap: 50,
            usage: true,
        },
        Script::Error(503),
        Script::Drop {
            first: 100,
            tokens: 3,
            gap: 50,
        },
        Script::Stream {
            first: 200,
            tokens: 6,
            gap: 300,
            usage: false,
        },
        Script::Stall(4000),
    ];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let serving = {
        let asked = asked.clone();
        let scripts = scripts.clone();
        tokio::spawn(async move {
            for script in scripts {
                let (socket, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(socket, script, asked.clone()));
            }
        })
    };
    let base = format!("http://{address}/v1");
    let (code, out, err) = {
        let server = &server;
        let args = [
            "probe",
            "cloud-one",
            "--base-url",
            &base,
            "--model",
            "served-model",
            "--api-key-env",
            "FW_PROBE_KEY",
            "--count",
            "5",
            "--interval",
            "0",
            "--timeout",
            "2",
            "--network",
            "satellite",
            "--region",
            "eu-west",
            "--measured-by",
            "organizations/prober",
        ];
        tokio::task::block_in_place(|| {
            run_fwatch_with(server, &args, None, &[("FW_PROBE_KEY", "test-key")])
        })
    };
    assert_eq!(code, Some(0), "{out}\n{err}");
    serving.await.unwrap();
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 5);
    for a in &asked {
        assert_eq!(a.path, "/v1/chat/completions");
        assert_eq!(a.authorization, "Bearer test-key");
        let body: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(
            (body["model"].as_str(), body["stream"].as_bool()),
            (Some("served-model"), Some(true))
        );
    }

    // The measurements, probe by probe (in window order).
    let mut listed = c
        .list_measurements(ListMeasurementsRequest {
            offering: "offerings/cloud-one".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .measurements;
    listed.sort_by_key(|m| {
        (
            m.window_start.unwrap().seconds,
            m.window_start.unwrap().nanos,
            m.metric,
        )
    });
    let mut probes: Vec<Vec<Measurement>> = Vec::new();
    for m in listed {
        match probes.last_mut() {
            Some(last) if last[0].window_start == m.window_start => last.push(m),
            _ => probes.push(vec![m]),
        }
    }
    assert_eq!(probes.len(), 5, "{probes:#?}");
    let value = |probe: &[Measurement], metric: MeasurementMetric| {
        probe
            .iter()
            .find(|m| m.metric == metric as i32)
            .map(|m| m.value)
    };
    use MeasurementMetric::{OutputTokensPerSecond as Tps, SuccessRate, TimeToFirstToken as Ttft};
    let successes: Vec<f64> = probes
        .iter()
        .map(|p| value(p, SuccessRate).unwrap())
        .collect();
    assert_eq!(successes, [1.0, 0.0, 0.0, 1.0, 0.0]);
    let within = |seen: Option<f64>, injected: f64, slack: f64| {
        let seen = seen.unwrap_or_else(|| panic!("nothing recorded where {injected} was injected"));
        assert!(
            seen >= injected * 0.97 && seen <= injected + slack,
            "{seen} for {injected}"
        );
    };
    // 1: first token after 0.4 s, 20 more at 20 per second.
    within(value(&probes[0], Ttft), 0.4, 0.3);
    let rate = value(&probes[0], Tps).unwrap();
    assert!((rate - 20.0).abs() < 3.0, "{rate} tokens/s for 20 injected");
    // 2: an error answer: no token.
    assert_eq!(
        (value(&probes[1], Ttft), value(&probes[1], Tps)),
        (None, None)
    );
    // 3: dropped after 3 tokens: a failure, with its first token timed.
    within(value(&probes[2], Ttft), 0.1, 0.3);
    // 4: a slow stream, 5 tokens over 1.5 s, counted without usage.
    within(value(&probes[3], Ttft), 0.2, 0.3);
    let rate = value(&probes[3], Tps).unwrap();
    assert!(
        (rate - 5.0 / 1.5).abs() < 0.5,
        "{rate} tokens/s for 3.33 injected"
    );
    // 5: a stall past the timeout: a failure, nothing else.
    assert_eq!(probes[4].len(), 1);
    let window = |m: &Measurement| {
        let (s, e) = (m.window_start.unwrap(), m.window_end.unwrap());
        (e.seconds - s.seconds) as f64 + f64::from(e.nanos - s.nanos) / 1e9
    };
    assert!(
        (2.0..3.0).contains(&window(&probes[4][0])),
        "the stall's window is the timeout"
    );
    // Every measurement carries its conditions and who measured.
    for m in probes.iter().flatten() {
        let c = m.conditions.clone().unwrap();
        assert_eq!(
            (c.network, c.region.as_str(), c.prompt_size),
            (
                Network::Satellite as i32,
                "eu-west",
                PromptSize::Short as i32
            )
        );
        assert_eq!(
            (m.measured_by.as_str(), m.sample_count),
            ("organizations/prober", Some(1))
        );
    }
    // The report's availability over the run: 2 of 5.
    let report = c
        .get_offering_report(GetOfferingReportRequest {
            subject: "offerings/cloud-one".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!((report.overall.unwrap().availability.unwrap() - 0.4).abs() < 1e-9);
}
