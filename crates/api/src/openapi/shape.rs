//! Rewrites of the generated document into the shape every tool accepts.

use serde_json::{Value, json};

/// `oneOf: [{type: null}, X]` → `X`.
pub fn drop_null_alternative(schema: &mut Value) {
    if let Some(Value::Array(items)) = schema.get_mut("oneOf") {
        items.retain(|item| item.get("type") != Some(&json!("null")));
        if let [only] = items.as_slice() {
            *schema = only.clone();
        }
    }
}

/// Rewrites what utoipa 5 generates in a shape some tools refuse, everywhere in `value`:
/// - a `oneOf` of one schema (utoipa's way to describe a `$ref`'d field) becomes that schema,
///   keeping the description;
/// - link objects get the OpenAPI spelling of their keys (`operationId`, `operationRef`,
///   `requestBody`; utoipa writes them in snake case).
pub fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(items)) = map.get("oneOf")
                && items.len() == 1
            {
                let Some(Value::Array(mut items)) = map.remove("oneOf") else {
                    unreachable!("checked above")
                };
                if let Value::Object(only) = items.remove(0) {
                    for (key, item) in only {
                        map.entry(key).or_insert(item);
                    }
                }
            }
            if let Some(Value::Object(links)) = map.get_mut("links") {
                for link in links.values_mut().filter_map(Value::as_object_mut) {
                    for (from, to) in [
                        ("operation_id", "operationId"),
                        ("operation_ref", "operationRef"),
                        ("request_body", "requestBody"),
                    ] {
                        if let Some(v) = link.remove(from) {
                            link.insert(to.to_owned(), v);
                        }
                    }
                }
            }
            map.values_mut().for_each(normalize);
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// A success response of several media types (`listEvents`' 200: a JSON page, an SSE stream, an
/// NDJSON export) keeps only its JSON one in `content`; the others move beside it, unchanged, to
/// `x-representations`. Generated clients type a response's data as the union of its media
/// types (openapi-typescript with openapi-fetch: `EventPage | string`), so the JSON one is what
/// they get by default; the streams stay documented for people and tools that read them.
pub fn representations_aside(doc: &mut Value) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(Value::Object(responses)) = operation.get_mut("responses") else {
            continue;
        };
        for (_, response) in responses.iter_mut().filter(|(s, _)| s.starts_with('2')) {
            let Some(Value::Object(content)) = response.get_mut("content") else {
                continue;
            };
            if content.len() < 2 || !content.contains_key(JSON) {
                continue;
            }
            let others: serde_json::Map<String, Value> = std::mem::take(content)
                .into_iter()
                .filter_map(|(media, body)| {
                    if media == JSON {
                        content.insert(media, body);
                        None
                    } else {
                        Some((media, body))
                    }
                })
                .collect();
            response["x-representations"] = Value::Object(others);
        }
    }
}

const JSON: &str = "application/json";
