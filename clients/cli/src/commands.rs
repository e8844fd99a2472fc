//! get, list, create, update, delete and watch.

use crate::dynamic::Channel;
use anyhow::{Context as _, bail};
use frontierwatch_client::proto::{ChangeKind, ResourceType, WatchRequest};
use frontierwatch_client::{Client, WatchEvent};
use prost_reflect::{DynamicMessage, Value as Field};
use serde_json::{Map, Value, json};
use tokio_stream::StreamExt as _;

use crate::dynamic::{dynamic, from_json, method, to_json, unary};
use crate::kinds::{by_arg, by_name, id_field};
use crate::output::{Format, print_list, print_message};
use crate::status::fail;
use frontierwatch_client::proto::kinds::KindInfo;

/// Reads a resource from a file (`-` for stdin), as JSON or YAML.
pub fn read_input(path: &str) -> anyhow::Result<Value> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
    };
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        return Ok(value);
    }
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).context("input is neither JSON nor YAML")?;
    Ok(serde_json::to_value(yaml)?)
}

pub(crate) async fn call(
    channel: &Channel,
    method_name: &str,
    request: Value,
) -> anyhow::Result<DynamicMessage> {
    let method = method(method_name)?;
    let request = from_json(method.input(), request)?;
    unary(channel.clone(), &method, request).await.map_err(fail)
}

pub async fn get(channel: &Channel, format: Format, name: &str) -> anyhow::Result<()> {
    let kind = by_name(name)?;
    let response = call(
        channel,
        &format!("Get{}", kind.message),
        json!({ "name": name }),
    )
    .await?;
    print_message(format, &response);
    Ok(())
}

/// Parses `key=value`; the value is JSON when it parses as JSON, else text.
fn filter_value(raw: &str) -> anyhow::Result<(String, Value)> {
    let Some((key, value)) = raw.split_once('=') else {
        bail!("a filter is key=value, got {raw:?}");
    };
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((key.trim().to_owned(), value))
}

pub struct ListArgs {
    pub kind: String,
    pub filters: Vec<String>,
    pub page_size: i32,
    pub page_token: String,
    pub all: bool,
}

/// The pages of a List call from `token` on, each passed to `each`: one
/// page, or every page when `all`, the next then asked for (and decoded,
/// on another thread) while `each` handles this one. Returns the token of
/// the page after the last one read (empty at the end).
pub(crate) async fn walk_pages(
    channel: &Channel,
    method: &str,
    request: Map<String, Value>,
    token: String,
    all: bool,
    mut each: impl FnMut(DynamicMessage) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let fetch = |token: String| {
        let channel = channel.clone();
        let method = method.to_owned();
        let mut request = request.clone();
        request.insert("page_token".into(), json!(token));
        tokio::spawn(async move { call(&channel, &method, Value::Object(request)).await })
    };
    let mut next = Some(fetch(token));
    let mut after = String::new();
    while let Some(fetching) = next.take() {
        let page = fetching.await??;
        after = match page.get_field_by_name("next_page_token").as_deref() {
            Some(Field::String(token)) => token.clone(),
            _ => String::new(),
        };
        if all && !after.is_empty() {
            next = Some(fetch(after.clone()));
        }
        each(page)?;
    }
    Ok(after)
}

/// The items of a List call's pages, from `token` on, in the (JSON) field
/// `field` of each page: one page, or every page when `all`; and the token
/// of the page after the last one read (empty at the end).
async fn pages(
    channel: &Channel,
    method: &str,
    request: Map<String, Value>,
    field: &str,
    token: String,
    all: bool,
) -> anyhow::Result<(Vec<Value>, String)> {
    let mut items = Vec::new();
    let after = walk_pages(channel, method, request, token, all, |page| {
        if let Some(Value::Array(page)) = to_json(&page).get_mut(field).map(Value::take) {
            items.extend(page);
        }
        Ok(())
    })
    .await?;
    Ok((items, after))
}

/// A List request of a kind: every parent, these `key=value` filters,
/// pages of `page_size`.
pub(crate) fn list_request(
    kind: &KindInfo,
    filters: &[String],
    page_size: i32,
) -> anyhow::Result<Map<String, Value>> {
    let mut request = Map::new();
    if kind.parent.is_some() {
        request.insert("parent".into(), json!("models/-"));
    }
    for raw in filters {
        let (key, value) = filter_value(raw)?;
        request.insert(key, value);
    }
    request.insert("page_size".into(), json!(page_size));
    Ok(request)
}

pub async fn list(channel: &Channel, format: Format, args: ListArgs) -> anyhow::Result<()> {
    let kind = by_arg(&args.kind)?;
    let request = list_request(kind, &args.filters, args.page_size)?;
    let (items, token) = pages(
        channel,
        &format!("List{}", kind.plural),
        request,
        &camel(kind.plural_field),
        args.page_token.clone(),
        args.all,
    )
    .await?;
    print_list(format, &items, Some(&token));
    Ok(())
}

pub(crate) fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

pub struct CreateArgs {
    pub kind: String,
    pub id: Option<String>,
    pub parent: Option<String>,
    pub file: String,
}

pub async fn create(channel: &Channel, format: Format, args: CreateArgs) -> anyhow::Result<()> {
    let kind: &KindInfo = by_arg(&args.kind)?;
    let body = read_input(&args.file)?;
    let mut request = Map::new();
    request.insert(kind.field.into(), body);
    request.insert(id_field(kind), json!(args.id.unwrap_or_default()));
    // A fresh request id: if this call is retried, one resource is created.
    request.insert("request_id".into(), json!(new_request_id()));
    if kind.parent.is_some() {
        let parent = args
            .parent
            .context("creating a release needs --parent models/{model}")?;
        request.insert("parent".into(), json!(parent));
    }
    let response = call(
        channel,
        &format!("Create{}", kind.message),
        Value::Object(request),
    )
    .await?;
    print_message(format, &response);
    Ok(())
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub async fn update(
    channel: &Channel,
    format: Format,
    name: &str,
    file: &str,
    mask: Option<String>,
) -> anyhow::Result<()> {
    let kind = by_name(name)?;
    let mut body = read_input(file)?;
    if let Value::Object(map) = &mut body {
        map.insert("name".into(), json!(name));
    } else {
        bail!("the input must be an object");
    }
    let method = method(&format!("Update{}", kind.message))?;
    let mut request = from_json(method.input(), json!({ kind.field: body }))?;
    if let Some(mask) = mask {
        let paths: Vec<Field> = mask
            .split(',')
            .map(|p| Field::String(p.trim().to_owned()))
            .collect();
        let mask_desc = crate::dynamic::message("google.protobuf.FieldMask")?;
        let mut field_mask = DynamicMessage::new(mask_desc);
        field_mask.set_field_by_name("paths", Field::List(paths));
        request.set_field_by_name("update_mask", Field::Message(field_mask));
    }
    let response = unary(channel.clone(), &method, request)
        .await
        .map_err(fail)?;
    print_message(format, &response);
    Ok(())
}

pub async fn delete(channel: &Channel, name: &str, etag: Option<String>) -> anyhow::Result<()> {
    let kind = by_name(name)?;
    call(
        channel,
        &format!("Delete{}", kind.message),
        json!({ "name": name, "etag": etag.unwrap_or_default() }),
    )
    .await?;
    println!("deleted {name}");
    Ok(())
}

/// `fwatch move`: one release, or every release of a model line.
pub async fn move_release(
    channel: &Channel,
    format: Format,
    name: &str,
    to: &str,
    id: Option<String>,
    etag: Option<String>,
) -> anyhow::Result<()> {
    let move_one = |name: String, id: Option<String>, etag: Option<String>| async move {
        call(
            channel,
            "MoveRelease",
            json!({
                "name": name,
                "model": to,
                "releaseId": id.unwrap_or_default(),
                "etag": etag.unwrap_or_default(),
            }),
        )
        .await
    };
    if by_name(name)?.message != "Model" {
        let moved = move_one(name.to_owned(), id, etag).await?;
        print_message(format, &moved);
        return Ok(());
    }
    if id.is_some() || etag.is_some() {
        bail!("--id and --etag name one release; {name} is a model line");
    }
    let mut request = Map::new();
    request.insert("parent".into(), json!(name));
    request.insert("page_size".into(), json!(1000));
    let (pages, _) = pages(
        channel,
        "ListReleases",
        request,
        "releases",
        String::new(),
        true,
    )
    .await?;
    let releases: Vec<String> = pages
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut moved = Vec::with_capacity(releases.len());
    for release in releases {
        moved.push(to_json(&move_one(release, None, None).await?));
    }
    print_list(format, &moved, None);
    Ok(())
}

pub struct WatchArgs {
    pub after: Option<i64>,
    pub snapshot: bool,
    pub types: Vec<String>,
    pub organization: Option<String>,
    pub model: Option<String>,
    pub benchmark: Option<String>,
    pub kinds: Vec<String>,
    pub limit: Option<usize>,
}

fn enum_values<E: Copy>(
    values: &[String],
    prefix: &str,
    parse: fn(&str) -> Option<E>,
) -> anyhow::Result<Vec<E>> {
    values
        .iter()
        .map(|v| {
            let full = format!("{prefix}{}", v.to_ascii_uppercase().replace('-', "_"));
            parse(&full)
                .or_else(|| parse(v))
                .with_context(|| format!("unknown value {v:?}"))
        })
        .collect()
}

pub async fn watch(client: &Client, format: Format, args: WatchArgs) -> anyhow::Result<()> {
    let types = enum_values(&args.types, "RESOURCE_TYPE_", ResourceType::from_str_name)?;
    let kinds = enum_values(&args.kinds, "CHANGE_KIND_", ChangeKind::from_str_name)?;
    let request = WatchRequest {
        start_after_sequence: args.after,
        snapshot: args.snapshot,
        resource_types: types.into_iter().map(|t| t as i32).collect(),
        organization: args.organization.unwrap_or_default(),
        model: args.model.unwrap_or_default(),
        benchmark: args.benchmark.unwrap_or_default(),
        change_kinds: kinds.into_iter().map(|k| k as i32).collect(),
    };
    let mut events = client.watch(request);
    let mut seen = 0;
    while let Some(event) = events.next().await {
        let event = event?;
        if format != Format::Table {
            let value = match &event {
                WatchEvent::Transaction(t) => json!({ "transaction": to_json(&dynamic(t)?) }),
                WatchEvent::Snapshot(s) => json!({ "snapshot": to_json(&dynamic(s)?) }),
                WatchEvent::Bookmark(b) => json!({ "bookmark": to_json(&dynamic(b)?) }),
                WatchEvent::SnapshotRestarted => json!({ "snapshotRestarted": true }),
            };
            match format {
                Format::Yaml => print!("---\n{}", serde_yaml_ng::to_string(&value)?),
                _ => println!("{}", serde_json::to_string(&value)?),
            }
        } else {
            match &event {
                WatchEvent::Transaction(t) => {
                    for e in &t.events {
                        let kind = ChangeKind::try_from(e.kind).map_or("?", |k| k.as_str_name());
                        let actor = if e.actor.is_empty() { "-" } else { &e.actor };
                        println!(
                            "{:>10}  {:<8}  {:<20}  {}",
                            e.sequence,
                            kind.trim_start_matches("CHANGE_KIND_").to_lowercase(),
                            actor,
                            e.resource_name
                        );
                    }
                }
                WatchEvent::Snapshot(s) => {
                    for r in &s.resources {
                        println!("{:>10}  {:<8}  {}", "-", "snapshot", r.resource_name);
                    }
                }
                WatchEvent::Bookmark(b) => {
                    println!(
                        "{:>10}  {:<8}  {}",
                        b.sequence,
                        "bookmark",
                        if b.end_of_snapshot {
                            "end of snapshot"
                        } else {
                            ""
                        }
                    );
                }
                WatchEvent::SnapshotRestarted => println!("snapshot restarted"),
            }
        }
        if let WatchEvent::Transaction(t) = &event {
            seen += t.events.len();
        }
        use std::io::Write as _;
        std::io::stdout().flush().ok();
        if args.limit.is_some_and(|limit| seen >= limit) {
            return Ok(());
        }
    }
    Ok(())
}
