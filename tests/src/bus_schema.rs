//! Checks bus messages against docs/bus-schema.json. The file is JSON Schema
//! (2020-12) with one definition per message kind; this checker implements
//! the keywords that file uses (type, const, enum, pattern-free required /
//! properties / additionalProperties, minimum) so no schema crate is needed.

use serde_json::Value;

/// The schema file, parsed.
pub fn load() -> Value {
    let p = crate::workspace_root().join("docs/bus-schema.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Checks `msg` against the definition of its kind (`def` names it for
/// incoming messages: "command", "alert_ack"). Err lists what is wrong.
pub fn check(schema: &Value, msg: &Value, def: Option<&str>) -> Result<(), String> {
    let kind = def.map(str::to_string).or_else(|| msg["kind"].as_str().map(str::to_string)).ok_or("message has no kind")?;
    let d = schema["$defs"].get(&kind).ok_or_else(|| format!("kind {kind:?} is not in docs/bus-schema.json"))?;
    let mut errs = Vec::new();
    check_value(d, msg, &kind, &mut errs);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn check_value(d: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(t) = d.get("type") {
        let ok = match t {
            Value::String(s) => type_ok(s, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|s| type_ok(s, v)),
            _ => true,
        };
        if !ok {
            errs.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = d.get("const") {
        if c != v {
            errs.push(format!("{at}: {v} != {c}"));
        }
    }
    if let Some(Value::Array(e)) = d.get("enum") {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} not one of {}", Value::Array(e.clone())));
        }
    }
    if let (Some(min), Some(n)) = (d.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errs.push(format!("{at}: {n} < {min}"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = d.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = d.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errs.push(format!("{at}: missing {r}"));
                }
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(pd) => check_value(pd, val, &format!("{at}.{k}"), errs),
                None if d.get("additionalProperties") == Some(&Value::Bool(false)) => errs.push(format!("{at}: field {k} is not in the schema")),
                None => {}
            }
        }
    }
}
