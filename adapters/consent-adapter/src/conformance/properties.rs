//! The properties every decoder keeps, whatever arrives: arbitrary bytes,
//! arbitrary JSON made of the vendor's own names and values, the documented
//! examples truncated, with a byte changed, with a field replaced by any JSON
//! or removed. For each, decoding does not panic, decodes the same way twice
//! (the fresh id and the time fixed), and either succeeds, and the result is
//! answered as documented, or is a bad request the vendor answers with 400.
//! A truncated example is always a bad request: a cut JSON object is not JSON.

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use super::{Example, Suite, json};
use crate::Failure;

/// Runs every property of the suite.
pub(super) fn run(suite: &Suite<'_>) {
    let examples = 0..suite.examples.len();
    let example = |index: usize| &suite.examples[index];

    check(
        suite,
        "arbitrary bytes",
        (examples.clone(), prop::collection::vec(any::<u8>(), 0..512)),
        |(i, body)| decodes_or_is_bad(suite, example(i), &body),
    );

    let json = any_json(suite);
    check(suite, "arbitrary JSON", (examples.clone(), json.clone()), |(i, doc)| {
        decodes_or_is_bad(suite, example(i), doc.to_string().as_bytes())
    });

    check(suite, "a truncated example", (examples.clone(), any::<Index>()), |(i, cut)| {
        let body = &example(i).body;
        let cut = &body[..cut.index(body.len() + 1)];
        decodes_or_is_bad(suite, example(i), cut)?;
        let (kept, whole) = (cut.trim_ascii(), body.trim_ascii());
        if !kept.is_empty() && kept.len() < whole.len() && whole.starts_with(b"{") {
            prop_assert!(
                suite.decode(example(i), cut).is_err(),
                "{:?} decodes",
                String::from_utf8_lossy(cut)
            );
        }
        Ok(())
    });

    check(
        suite,
        "an example with a byte changed",
        (examples.clone(), any::<Index>(), any::<u8>()),
        |(i, at, byte)| {
            let mut body = example(i).body.clone();
            if !body.is_empty() {
                let at = at.index(body.len());
                body[at] = byte;
            }
            decodes_or_is_bad(suite, example(i), &body)
        },
    );

    check(
        suite,
        "an example with a field replaced",
        (examples.clone(), any::<Index>(), json),
        |(i, at, value)| {
            let Some((mut doc, path)) = field_of(example(i), &at) else { return Ok(()) };
            json::set(&mut doc, &path, value);
            decodes_or_is_bad(suite, example(i), doc.to_string().as_bytes())
        },
    );

    check(suite, "an example with a field removed", (examples, any::<Index>()), |(i, at)| {
        let Some((mut doc, path)) = field_of(example(i), &at) else { return Ok(()) };
        json::remove(&mut doc, &path);
        decodes_or_is_bad(suite, example(i), doc.to_string().as_bytes())
    });
}

/// Runs `test` on `suite.cases` values of `strategy`; panics with the
/// smallest failing value.
fn check<S>(suite: &Suite<'_>, what: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    // No failure files: the suite runs inside each adapter's tests, and a
    // failure is reported (shrunk) in the panic message.
    let config = Config { cases: suite.cases, failure_persistence: None, ..Config::default() };
    if let Err(err) = TestRunner::new(config).run(&strategy, test) {
        panic!("{}: {what}: {err}", suite.adapter.name());
    }
}

/// The example's body as JSON and one of its field paths, picked by `at`;
/// `None` when the body is not JSON or has no fields.
fn field_of(example: &Example, at: &Index) -> Option<(Value, String)> {
    let doc = example.json()?;
    let paths = json::paths(&doc);
    if paths.is_empty() {
        return None;
    }
    let path = paths[at.index(paths.len())].clone();
    Some((doc, path))
}

/// Decoding `body` sent as `example` is repeatable, and either succeeds and
/// is answered as documented, or is a bad request answered with 400.
fn decodes_or_is_bad(suite: &Suite<'_>, example: &Example, body: &[u8]) -> Result<(), TestCaseError> {
    let first = suite.decode(example, body);
    prop_assert_eq!(&first, &suite.decode(example, body), "decoding the same request twice differs");
    match first {
        Ok(decoded) => suite.answered_as_documented(example, &decoded).map_err(TestCaseError::fail),
        Err(failure) => {
            let Failure::BadRequest { field, message } = &failure else {
                return Err(TestCaseError::fail(format!(
                    "decoding failed with {failure:?}: only a bad request may"
                )));
            };
            prop_assert!(!field.is_empty() && !message.is_empty(), "{:?}", failure);
            prop_assert_eq!(suite.adapter.encode_failure(&failure).status, 400);
            Ok(())
        }
    }
}

/// Any JSON, built from the member names and scalars of the documented
/// examples as often as from anything else, so that it gets past the first
/// field a decoder checks.
fn any_json(suite: &Suite<'_>) -> BoxedStrategy<Value> {
    let (mut names, mut scalars) = (vec!["".to_owned()], vec![Value::Null]);
    for example in &suite.examples {
        if let Some(doc) = example.json() {
            json::vocabulary(&doc, &mut names, &mut scalars);
        }
    }
    let name = prop_oneof![select(names), ".{0,8}"];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        select(scalars),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((name.clone(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
    .boxed()
}
