//! Generated requests to every method of the service, from its descriptor:
//! mutated valid names, boundary numbers, unknown enum values, NULs, long
//! strings, invalid dates and timestamps, nested messages. Every answer must
//! be a deliberate status: never INTERNAL or UNKNOWN, and the server must
//! not panic. The test runs a few thousand; `benches/fuzz.rs` runs a
//! million (`cargo bench -p frontierwatch-server --bench fuzz`).

use std::collections::BTreeMap;
use std::time::Duration;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    ReflectMessage as _, Value,
};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::ProstCodec;

use crate::harness::{AuthChannel, TestServer};

/// A deterministic pseudo-random sequence: fastrand's, seeded.
pub type Rng = fastrand::Rng;

/// The choices the fuzzers make with it.
pub trait Choose {
    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize;
    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool;
    /// One of `items`.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T;
}

impl Choose for Rng {
    fn below(&mut self, n: usize) -> usize {
        self.usize(..n)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.u64(..100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Names and strings a hostile client tries, beside random ones.
const STRINGS: &[&str] = &[
    "",
    "organizations/lab",
    "models/line",
    "models/line/releases/v1",
    "models/-",
    "benchmarks/bench",
    "benchmarkResults/r1",
    "disclosures/d1",
    "indicators/i1",
    "commitments/c1",
    "organizations/",
    "organizations/LAB",
    "organizations/lab/extra",
    "models/line/releases/",
    "../../etc/passwd",
    "' OR 1=1 --",
    "a\u{0}b",
    "\u{0}",
    "https://example.com/source",
    "javascript:alert(1)",
    "ümlaut ✓ 漢字",
    "*",
    "scale,display_name",
    "3f1c2a9e-6b7d-4e8f-9a0b-1c2d3e4f5a6b",
    "not-a-uuid",
    "%00",
    "\u{feff}",
];

/// Strings that pass most checks, for requests that get past validation.
const GENTLE_STRINGS: &[&str] = &[
    "organizations/lab",
    "models/line",
    "models/line/releases/v1",
    "benchmarks/bench",
    "https://example.com/source",
    "coding",
    "Display name",
    "",
];

fn random_string(rng: &mut Rng, gentle: bool) -> String {
    if gentle {
        return (*rng.pick(GENTLE_STRINGS)).to_owned();
    }
    match rng.below(5) {
        0 => {
            let len = *rng.pick(&[64usize, 1025, 70_000]);
            "x".repeat(len)
        }
        1 => (0..rng.below(20))
            .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'))
            .collect(),
        _ => (*rng.pick(STRINGS)).to_owned(),
    }
}

fn scalar(rng: &mut Rng, field: &FieldDescriptor, gentle: bool) -> Option<Value> {
    let random = rng.u64(..);
    if gentle {
        match field.kind() {
            Kind::Int32 => return Some(Value::I32(1 + rng.below(12) as i32)),
            Kind::Int64 => return Some(Value::I64(1 + rng.below(1000) as i64)),
            Kind::Double => return Some(Value::F64(rng.below(100) as f64 / 100.0)),
            _ => {}
        }
    }
    Some(match field.kind() {
        Kind::String => Value::String(random_string(rng, gentle)),
        Kind::Bytes => Value::Bytes(vec![0u8; rng.below(8)].into()),
        Kind::Bool => Value::Bool(rng.chance(50)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(*rng.pick(&[
            0,
            1,
            -1,
            2,
            12,
            13,
            29,
            30,
            31,
            32,
            366,
            1000,
            1001,
            i32::MIN,
            i32::MAX,
            random as i32,
        ])),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(*rng.pick(&[
            0,
            1,
            -1,
            253_402_300_800,
            -62_135_596_801,
            i64::MIN,
            i64::MAX,
            random as i64,
        ])),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(rng.u64(..) as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(rng.u64(..)),
        Kind::Double => Value::F64(*rng.pick(&[
            0.0,
            -1.0,
            0.5,
            1.0,
            50.0,
            100.0,
            101.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
        ])),
        Kind::Float => Value::F32(*rng.pick(&[0.0, -1.0, f32::NAN, f32::INFINITY])),
        Kind::Enum(e) => {
            let values: Vec<i32> = e.values().map(|v| v.number()).collect();
            Value::EnumNumber(if gentle || rng.chance(90) {
                *rng.pick(&values)
            } else {
                *rng.pick(&[-1, 999, i32::MAX])
            })
        }
        Kind::Message(_) => return None,
    })
}

fn value(rng: &mut Rng, field: &FieldDescriptor, depth: usize, gentle: bool) -> Option<Value> {
    match field.kind() {
        Kind::Message(m) if m.full_name() == "google.protobuf.Any" => None,
        Kind::Message(m) => {
            (depth < 4).then(|| Value::Message(generate(rng, &m, depth + 1, gentle)))
        }
        _ => scalar(rng, field, gentle),
    }
}

/// A random message of this type: each field set with some probability;
/// half of them gentle (values that pass most checks, to reach deeper).
pub fn message(rng: &mut Rng, descriptor: &MessageDescriptor) -> DynamicMessage {
    let gentle = rng.chance(50);
    generate(rng, descriptor, 0, gentle)
}

fn generate(
    rng: &mut Rng,
    descriptor: &MessageDescriptor,
    depth: usize,
    gentle: bool,
) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if field.is_map() || !rng.chance(if depth == 0 { 80 } else { 60 }) {
            continue;
        }
        if field.is_list() {
            let items: Vec<Value> = (0..rng.below(4))
                .filter_map(|_| value(rng, &field, depth, gentle))
                .collect();
            message.set_field(&field, Value::List(items));
        } else if let Some(v) = value(rng, &field, depth, gentle) {
            message.set_field(&field, v);
        }
    }
    message
}

/// What the answers were, by status code.
#[derive(Debug, Default)]
pub struct Report {
    pub inputs: u64,
    pub by_code: BTreeMap<String, u64>,
    /// Answers that are never acceptable, with the method and request.
    pub failures: Vec<String>,
}

async fn call(
    channel: AuthChannel,
    method: &MethodDescriptor,
    request: DynamicMessage,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path: PathAndQuery = format!("/{}/{}", method.parent_service().full_name(), method.name())
        .parse()
        .expect("method paths are valid");
    let codec = ProstCodec::<DynamicMessage, ()>::default();
    let mut request = tonic::Request::new(request);
    request.set_timeout(Duration::from_secs(20));
    if method.is_server_streaming() {
        let mut stream = grpc
            .server_streaming(request, path, codec)
            .await?
            .into_inner();
        // The first message (or the error that ends the stream) is enough.
        match tokio::time::timeout(Duration::from_millis(200), stream.message()).await {
            Ok(result) => result.map(|_| ()),
            Err(_) => Ok(()),
        }
    } else {
        grpc.unary(request, path, codec).await.map(|_| ())
    }
}

/// Sends `inputs` generated requests, `concurrency` at a time, spread over
/// every method of the service.
pub async fn run(server: &TestServer, inputs: u64, seed: u64, concurrency: usize) -> Report {
    let pool =
        DescriptorPool::decode(frontierwatch_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let service = pool
        .get_service_by_name("frontierwatch.v1.FrontierWatchService")
        .expect("service");
    let methods: Vec<MethodDescriptor> = service.methods().collect();
    let channel = server.auth_channel().await;
    let mut report = Report::default();
    let mut rng = Rng::with_seed(seed);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0;
    while sent < inputs || !tasks.is_empty() {
        while sent < inputs && tasks.len() < concurrency {
            let method = rng.pick(&methods).clone();
            let request = message(&mut rng, &method.input());
            let channel = channel.clone();
            sent += 1;
            tasks.spawn(async move {
                let result = call(channel, &method, request.clone()).await;
                (method, request, result)
            });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let (method, request, result) = done.expect("the call task does not panic");
        report.inputs += 1;
        let code = result.as_ref().err().map_or(Code::Ok, tonic::Status::code);
        *report.by_code.entry(format!("{code:?}")).or_default() += 1;
        if matches!(code, Code::Internal | Code::Unknown | Code::Unavailable)
            && report.failures.len() < 20
        {
            let status = result
                .err()
                .map(|s| s.message().to_owned())
                .unwrap_or_default();
            let mut shown = format!("{request:?}");
            shown.truncate(600);
            report
                .failures
                .push(format!("{} {code:?} {status}: {shown}", method.name()));
        }
    }
    report
}

#[tokio::test]
async fn generated_requests_to_every_method_get_a_deliberate_answer() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    crate::watch::scaffold(&mut c).await;
    let report = run(&server, 3000, 0x5eed, 8).await;
    eprintln!("fuzz answers: {:?}", report.by_code);
    assert_eq!(report.inputs, 3000);
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(
        report.by_code.get("InvalidArgument").copied().unwrap_or(0) > 500,
        "most generated requests are invalid: {:?}",
        report.by_code
    );
}

/// Every enum and timestamp outside resources, in every request of every
/// method: a generated (gentle) request with one of them planted out of
/// range, an enum value its enum does not define or a timestamp past the
/// year 9999, is answered INVALID_ARGUMENT naming that field, whatever
/// else the request holds (an import's `source.kind` and
/// `source.retrieve_time`, Watch's filters, a token's expiry, ...).
#[tokio::test]
async fn an_undefined_enum_or_out_of_range_timestamp_anywhere_outside_resources_is_refused() {
    let server = TestServer::start().await;
    let pool =
        DescriptorPool::decode(frontierwatch_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let channel = server.auth_channel().await;
    let mut rng = Rng::with_seed(0x0e_0a);
    let mut planted_in = std::collections::BTreeSet::new();
    for service in pool
        .services()
        .filter(|s| s.package_name() == "frontierwatch.v1")
    {
        for method in service.methods() {
            let slots = slots(&method.input(), "", 0);
            for (path, bad) in &slots {
                for _ in 0..2 {
                    let mut request = generate(&mut rng, &method.input(), 0, true);
                    plant(&mut request, path, bad);
                    let status = call(channel.clone(), &method, request.clone())
                        .await
                        .err()
                        .unwrap_or_else(|| {
                            panic!("{}: {path} = {bad:?} accepted: {request:?}", method.name())
                        });
                    // The planted field is named (a NUL elsewhere in the
                    // request could be named first: gentle requests have none).
                    crate::fixtures::assert_invalid(&status, &path.replace('#', "[0]"));
                }
                planted_in.insert(format!("{}.{path}", method.name()));
            }
        }
    }
    for expected in [
        "ImportResources.source.kind",
        "ImportResources.source.retrieve_time",
        "Watch.resource_types#",
        "Watch.change_kinds#",
    ] {
        assert!(
            planted_in.contains(expected),
            "{expected} was not reached: {planted_in:?}"
        );
    }
}

/// A bad value to plant.
#[derive(Debug, Clone)]
enum Bad {
    Enum(i32),
    Timestamp(i64),
}

fn is_resource(message: &MessageDescriptor) -> bool {
    frontierwatch_proto::kinds::KindInfo::of_message(message.full_name()).is_some()
}

/// The enum and timestamp fields outside resources, by path (`#` marks a
/// repeated field's first item), with a bad value for each.
fn slots(message: &MessageDescriptor, prefix: &str, depth: usize) -> Vec<(String, Bad)> {
    let mut found = Vec::new();
    if depth > 3 || is_resource(message) {
        return found;
    }
    for field in message.fields() {
        if field.is_map() {
            continue;
        }
        let path = format!(
            "{prefix}{}{}{}",
            if prefix.is_empty() { "" } else { "." },
            field.name(),
            if field.is_list() { "#" } else { "" }
        );
        match field.kind() {
            Kind::Enum(e) => {
                let undefined = (1..).find(|n| e.get_value(*n).is_none()).unwrap_or(99);
                found.push((path, Bad::Enum(undefined)));
            }
            Kind::Message(inner) if inner.full_name() == "google.protobuf.Timestamp" => {
                found.push((path, Bad::Timestamp(253_402_300_800)));
            }
            Kind::Message(inner) if !field.is_list() => {
                found.extend(slots(&inner, &path, depth + 1));
            }
            _ => {}
        }
    }
    found
}

/// Sets the field at `path` (made where missing) to the bad value.
fn plant(message: &mut DynamicMessage, path: &str, bad: &Bad) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let list = head.ends_with('#');
    let name = head.trim_end_matches('#');
    let field = message
        .descriptor()
        .get_field_by_name(name)
        .expect("the path follows the descriptor");
    // A oneof member: clear its siblings by setting this one.
    match rest {
        Some(rest) => {
            let mut inner = match message.get_field(&field).as_ref() {
                Value::Message(m) => m.clone(),
                _ => DynamicMessage::new(field.kind().as_message().unwrap().clone()),
            };
            plant(&mut inner, rest, bad);
            message.set_field(&field, Value::Message(inner));
        }
        None => {
            let value = match bad {
                Bad::Enum(n) => Value::EnumNumber(*n),
                Bad::Timestamp(seconds) => {
                    let descriptor = field.kind().as_message().unwrap().clone();
                    let mut t = DynamicMessage::new(descriptor);
                    t.set_field_by_name("seconds", Value::I64(*seconds));
                    Value::Message(t)
                }
            };
            message.set_field(
                &field,
                if list {
                    Value::List(vec![value])
                } else {
                    value
                },
            );
        }
    }
}
