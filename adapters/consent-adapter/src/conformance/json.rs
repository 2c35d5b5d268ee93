//! JSON documents edited by path (`entities[1].values`, `data.consent.data`)
//! and compared by shape.

use serde_json::{Map, Value};

use crate::json_kind;

/// One step of a path: a member name or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `a.b[2].c` → `a`, `b`, 2, `c`. A name may hold any character but `.`
/// and `[` (`navigator-userAgent` is one name).
fn steps(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(name, rest)| (name, rest));
        if !name.is_empty() {
            steps.push(Step::Key(name.to_owned()));
        }
        while let Some((index, after)) = rest.split_once(']') {
            let index = index.parse().unwrap_or_else(|_| panic!("{path}: {index:?} is not an array index"));
            steps.push(Step::Index(index));
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    steps
}

/// The value at `path`, to change; `None` when the path names nothing.
fn parent_mut<'a>(doc: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    let mut node = doc;
    for step in steps {
        node = match step {
            Step::Key(key) => node.as_object_mut()?.get_mut(key)?,
            Step::Index(index) => node.as_array_mut()?.get_mut(*index)?,
        };
    }
    Some(node)
}

/// Removes the value at `path`; whether there was one.
pub(crate) fn remove(doc: &mut Value, path: &str) -> bool {
    let steps = steps(path);
    let Some((last, parents)) = steps.split_last() else { return false };
    let Some(parent) = parent_mut(doc, parents) else { return false };
    match (last, parent) {
        (Step::Key(key), Value::Object(map)) => map.remove(key).is_some(),
        (Step::Index(index), Value::Array(items)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        (Step::Key(_) | Step::Index(_), _) => false,
    }
}

/// Sets the value at `path`; whether its parent was there to hold it.
pub(crate) fn set(doc: &mut Value, path: &str, value: Value) -> bool {
    let steps = steps(path);
    let Some((last, parents)) = steps.split_last() else { return false };
    let Some(parent) = parent_mut(doc, parents) else { return false };
    match (last, parent) {
        (Step::Key(key), Value::Object(map)) => {
            map.insert(key.clone(), value);
            true
        }
        (Step::Index(index), Value::Array(items)) if *index < items.len() => {
            items[*index] = value;
            true
        }
        (Step::Key(_) | Step::Index(_), _) => false,
    }
}

/// Every path in `doc`, parents before their children.
pub(crate) fn paths(doc: &Value) -> Vec<String> {
    fn walk(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    out.push(path.clone());
                    walk(child, &path, out);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    let path = format!("{prefix}[{index}]");
                    out.push(path.clone());
                    walk(child, &path, out);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, "", &mut out);
    out
}

/// Every member name and every scalar in `doc`: what arbitrary JSON is
/// built from, so that it reaches past the first field a decoder checks.
pub(crate) fn vocabulary(doc: &Value, names: &mut Vec<String>, scalars: &mut Vec<Value>) {
    match doc {
        Value::Object(map) => {
            for (key, child) in map {
                names.push(key.clone());
                vocabulary(child, names, scalars);
            }
        }
        Value::Array(items) => items.iter().for_each(|child| vocabulary(child, names, scalars)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => scalars.push(doc.clone()),
    }
}

/// Whether `actual` has the shape of `documented`: the same JSON type, the
/// same member names in objects (recursively), and every array item shaped
/// like the documented first item. Values are not compared: ids and times
/// differ from the documentation's.
pub(crate) fn same_shape(actual: &Value, documented: &Value, at: &str) -> Result<(), String> {
    match (actual, documented) {
        (Value::Object(actual), Value::Object(documented)) => same_members(actual, documented, at),
        (Value::Array(actual), Value::Array(documented)) => match documented.first() {
            Some(item) => actual
                .iter()
                .enumerate()
                .try_for_each(|(index, value)| same_shape(value, item, &format!("{at}[{index}]"))),
            None => Ok(()),
        },
        (actual, documented) if json_kind(actual) == json_kind(documented) => Ok(()),
        (actual, documented) => Err(format!(
            "{}: documented as {}, got {}",
            if at.is_empty() { "the body" } else { at },
            json_kind(documented),
            json_kind(actual)
        )),
    }
}

fn same_members(
    actual: &Map<String, Value>,
    documented: &Map<String, Value>,
    at: &str,
) -> Result<(), String> {
    let names = |map: &Map<String, Value>| map.keys().cloned().collect::<Vec<_>>();
    if names(actual) != names(documented) {
        return Err(format!(
            "{}: documented members {:?}, got {:?}",
            if at.is_empty() { "the body" } else { at },
            names(documented),
            names(actual)
        ));
    }
    documented.iter().try_for_each(|(key, value)| {
        let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
        same_shape(&actual[key], value, &path)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_name_members_and_items() {
        let doc = json!({ "a": { "b-c": [1, { "d": 2 }] } });
        assert_eq!(paths(&doc), ["a", "a.b-c", "a.b-c[0]", "a.b-c[1]", "a.b-c[1].d"]);
    }

    #[test]
    fn values_are_removed_and_set_by_path() {
        let mut doc = json!({ "entities": [{ "nameSpace": "email", "values": ["a", "b"] }] });
        assert!(remove(&mut doc, "entities[0].values[0]"));
        assert!(set(&mut doc, "entities[0].nameSpace", Value::Null));
        assert!(!remove(&mut doc, "entities[3].values"));
        assert!(!set(&mut doc, "missing.child", json!(1)));
        assert_eq!(doc, json!({ "entities": [{ "nameSpace": null, "values": ["b"] }] }));
    }

    #[test]
    fn shapes_compare_types_and_member_names_not_values() {
        let documented = json!({ "Id": "x", "Given": true, "Items": [{ "N": 1 }] });
        assert_eq!(same_shape(&json!({ "Id": "y", "Given": false, "Items": [] }), &documented, ""), Ok(()));
        assert!(same_shape(&json!({ "Id": 1, "Given": true, "Items": [] }), &documented, "").is_err());
        assert!(same_shape(&json!({ "Id": "y", "Given": true }), &documented, "").is_err());
        let err = same_shape(&json!({ "Id": "y", "Given": true, "Items": [{ "M": 1 }] }), &documented, "");
        assert!(err.is_err_and(|err| err.starts_with("Items[0]")));
    }
}
