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
