//! The one reader every adapter's decoder reads a JSON body with: the body
//! parsed once (a UTF-8 byte order mark skipped, an empty body told apart
//! from one that is not JSON), then each field looked up by name with its
//! path carried along (`data.identifier.consent.id`, `entities[1].values[0]`),
//! so that every problem names the field where the vendor's client sent it.
//!
//! What a problem says is the vendor's: each adapter words its failures
//! through a [`Wording`], so the reader decides only *which* field is at
//! fault and *what kind* of fault it is. `null` counts as absent everywhere,
//! as every vendor's documentation treats it.

use serde_json::{Map, Value};

use crate::Failure;

/// The pseudo-field every vendor names a problem with the body as a whole by.
pub const BODY: &str = "body";

/// The one message for a body that does not parse, with serde_json's
/// position of the problem.
pub fn not_json_message(error: &serde_json::Error) -> String {
    format!("is not valid JSON: {error}")
}

/// How a vendor words the problems the reader finds. `missing` and
/// `empty_body` have no common wording (each vendor's clients read their
/// own); the rest default to consentd's plain wording.
pub trait Wording: Sync + std::fmt::Debug {
    /// The field at `path` is absent or `null`.
    fn missing(&self, path: &str) -> Failure;

    /// The body is empty (or only white space) where one is required.
    fn empty_body(&self) -> Failure;

    /// The field at `path` holds a JSON value of another type than
    /// `expected` (`a string`, `an object`).
    fn wrong_type(&self, path: &str, expected: &str, got: &Value) -> Failure {
        Failure::wrong_type(path, expected, got)
    }

    /// The field at `path` has the right type but an unusable value.
    fn invalid(&self, path: &str, message: String) -> Failure {
        Failure::bad(path, message)
    }

    /// The body does not parse as JSON.
    fn not_json(&self, error: &serde_json::Error) -> Failure {
        Failure::bad(BODY, not_json_message(error))
    }

    /// The body is JSON but not an object.
    fn not_object(&self, got: &Value) -> Failure {
        self.wrong_type(BODY, "a JSON object", got)
    }
}

/// A request body that is a JSON object, owned; [`Body::root`] reads it.
#[derive(Debug, Clone)]
pub struct Body {
    map: Map<String, Value>,
    wording: &'static dyn Wording,
}

impl Body {
    /// The body, which must be a JSON object.
    pub fn parse(bytes: &[u8], wording: &'static dyn Wording) -> Result<Self, Failure> {
        Self::parse_optional(bytes, wording)?.ok_or_else(|| wording.empty_body())
    }

    /// The body when there is one (a GET's may be empty): `None` for an
    /// empty or blank body, else it must be a JSON object.
    pub fn parse_optional(bytes: &[u8], wording: &'static dyn Wording) -> Result<Option<Self>, Failure> {
        // Some HTTP clients on Windows prefix a UTF-8 byte order mark, which
        // serde_json refuses.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.trim_ascii().is_empty() {
            return Ok(None);
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Some(Self { map, wording })),
            Ok(
                other
                @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_)),
            ) => Err(wording.not_object(&other)),
            Err(error) => Err(wording.not_json(&error)),
        }
    }

    /// The body's top-level object; its fields' paths are their names.
    pub fn root(&self) -> Object<'_> {
        Object { path: String::new(), map: &self.map, wording: self.wording }
    }
}

/// A JSON object inside a body, and the path it was found at (empty for the
/// body itself).
#[derive(Debug, Clone)]
pub struct Object<'a> {
    path: String,
    map: &'a Map<String, Value>,
    wording: &'a dyn Wording,
}

impl<'a> Object<'a> {
    /// The object's own path: empty for the body.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path of the member `key`: `key` in the body, else `<path>.<key>`.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// The members as sent, for what the reader does not check (metadata
    /// kept whole, vendor ids as keys).
    pub const fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The member `key`; `null` is absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    /// The member `key` matched without regard to ASCII case, as .NET binds
    /// names: the exact spelling wins over other casings; `null` is absent.
    pub fn get_ignore_case(&self, key: &str) -> Option<&'a Value> {
        self.map
            .get(key)
            .or_else(|| {
                self.map.iter().find(|(name, _)| name.eq_ignore_ascii_case(key)).map(|(_, value)| value)
            })
            .filter(|value| !value.is_null())
    }

    /// The failure for `key` being absent.
    pub fn missing(&self, key: &str) -> Failure {
        self.wording.missing(&self.path_of(key))
    }

    /// The failure for `key` holding `got` where `expected` belongs.
    pub fn wrong_type(&self, key: &str, expected: &str, got: &Value) -> Failure {
        self.wording.wrong_type(&self.path_of(key), expected, got)
    }

    /// The failure for `key` holding an unusable value.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> Failure {
        self.wording.invalid(&self.path_of(key), message.into())
    }

    /// A required member of any type.
    pub fn required(&self, key: &str) -> Result<&'a Value, Failure> {
        self.get(key).ok_or_else(|| self.missing(key))
    }

    /// A required string.
    pub fn required_str(&self, key: &str) -> Result<&'a str, Failure> {
        let value = self.required(key)?;
        value.as_str().ok_or_else(|| self.wrong_type(key, "a string", value))
    }

    /// A required boolean.
    pub fn required_bool(&self, key: &str) -> Result<bool, Failure> {
        let value = self.required(key)?;
        value.as_bool().ok_or_else(|| self.wrong_type(key, "a boolean", value))
    }

    /// A required integer that fits an `i64`; a fraction or a string is the
    /// wrong type, a larger integer out of range.
    pub fn required_i64(&self, key: &str) -> Result<i64, Failure> {
        let value = self.required(key)?;
        match value.as_i64() {
            Some(integer) => Ok(integer),
            None if value.is_u64() => Err(self.invalid(key, "is out of range")),
            None => Err(self.wrong_type(key, "an integer", value)),
        }
    }

    /// A required object.
    pub fn required_object(&self, key: &str) -> Result<Self, Failure> {
        let value = self.required(key)?;
        match value.as_object() {
            Some(map) => Ok(Object { path: self.path_of(key), map, wording: self.wording }),
            None => Err(self.wrong_type(key, "an object", value)),
        }
    }

    /// A required array.
    pub fn required_array(&self, key: &str) -> Result<Array<'a>, Failure> {
        let value = self.required(key)?;
        match value.as_array() {
            Some(items) => Ok(Array { path: self.path_of(key), items, wording: self.wording }),
            None => Err(self.wrong_type(key, "an array", value)),
        }
    }

    /// An optional string: `None` when absent.
    pub fn optional_str(&self, key: &str) -> Result<Option<&'a str>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value.as_str().map(Some).ok_or_else(|| self.wrong_type(key, "a string", value)),
        }
    }

    /// A string the adapter keeps but does not map: `None` when absent or
    /// of another type, never a reason to refuse the request.
    pub fn lenient_str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// A JSON array inside a body, and its path.
#[derive(Debug, Clone)]
pub struct Array<'a> {
    path: String,
    items: &'a [Value],
    wording: &'a dyn Wording,
}

impl<'a> Array<'a> {
    /// The array's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The number of items.
    pub const fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub const fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The failure for the array as a whole holding an unusable value
    /// (too few items, too many).
    pub fn invalid(&self, message: impl Into<String>) -> Failure {
        self.wording.invalid(&self.path, message.into())
    }

    /// The items in order, each with its path `<path>[<index>]`.
    pub fn iter(&self) -> impl Iterator<Item = Item<'a>> + '_ {
        self.items.iter().enumerate().map(|(index, value)| Item {
            path: format!("{}[{index}]", self.path),
            value,
            wording: self.wording,
        })
    }
}

/// One item of an [`Array`] and its path.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    path: String,
    value: &'a Value,
    wording: &'a dyn Wording,
}

impl<'a> Item<'a> {
    /// The item's path: `entities[1]`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The item as sent.
    pub const fn value(&self) -> &'a Value {
        self.value
    }

    /// The failure for the item holding an unusable value.
    pub fn invalid(&self, message: impl Into<String>) -> Failure {
        self.wording.invalid(&self.path, message.into())
    }

    /// The item as a string.
    pub fn as_str(&self) -> Result<&'a str, Failure> {
        self.value.as_str().ok_or_else(|| self.wording.wrong_type(&self.path, "a string", self.value))
    }

    /// The item as an object, whose members' paths continue the item's.
    pub fn as_object(&self) -> Result<Object<'a>, Failure> {
        match self.value.as_object() {
            Some(map) => Ok(Object { path: self.path.clone(), map, wording: self.wording }),
            None => Err(self.wording.wrong_type(&self.path, "an object", self.value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vendor that words everything its own way, to show each problem
    /// goes through the wording.
    #[derive(Debug)]
    struct Terse;

    impl Wording for Terse {
        fn missing(&self, path: &str) -> Failure {
            Failure::bad(path, "missing")
        }

        fn empty_body(&self) -> Failure {
            Failure::bad(BODY, "empty")
        }
    }

    static TERSE: Terse = Terse;

    fn parse(bytes: &[u8]) -> Result<Body, Failure> {
        Body::parse(bytes, &TERSE)
    }

    fn field(failure: Failure) -> (String, String) {
        let Failure::BadRequest { field, message } = failure else {
            panic!("expected a bad request, got {failure:?}");
        };
        (field, message)
    }

    #[test]
    fn an_empty_or_blank_body_is_the_vendors_empty_body() {
        for bytes in [&b""[..], b"  \r\n\t", b"\xEF\xBB\xBF", b"\xEF\xBB\xBF  "] {
            assert_eq!(parse(bytes).map(|_| ()), Err(Failure::bad(BODY, "empty")), "{bytes:?}");
            assert!(Body::parse_optional(bytes, &TERSE).expect("no body").is_none());
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let body = parse(b"\xEF\xBB\xBF{\"a\":1}").expect("an object");
        assert_eq!(body.root().required_i64("a"), Ok(1));
    }

    #[test]
    fn a_body_that_is_not_json_has_one_message() {
        let (name, message) = field(parse(b"{\"a\":").expect_err("not JSON"));
        assert_eq!(name, BODY);
        assert!(message.starts_with("is not valid JSON: "), "{message}");
        assert!(message.contains("line 1"), "serde_json's position: {message}");
    }

    #[test]
    fn a_body_that_is_not_an_object_names_its_type() {
        for (bytes, got) in
            [(&b"[]"[..], "an array"), (b"null", "null"), (b"\"x\"", "a string"), (b"4", "a number")]
        {
            assert_eq!(
                parse(bytes).map(|_| ()),
                Err(Failure::bad(BODY, format!("must be a JSON object, got {got}")))
            );
        }
    }

    #[test]
    fn paths_follow_objects_and_arrays() {
        let body = parse(br#"{"data":{"list":[{"id":"a"},{"id":7}]}}"#).expect("an object");
        let data = body.root().required_object("data").expect("data");
        assert_eq!(data.path(), "data");
        let list = data.required_array("list").expect("list");
        assert_eq!(list.path(), "data.list");
        let items: Vec<_> = list.iter().collect();
        assert_eq!(items[1].path(), "data.list[1]");
        let second = items[1].as_object().expect("an object");
        assert_eq!(
            field(second.required_str("id").expect_err("a number")),
            ("data.list[1].id".to_owned(), "must be a string, got a number".to_owned())
        );
        assert_eq!(field(second.required_str("name").expect_err("absent")).0, "data.list[1].name");
        assert_eq!(items[0].as_object().and_then(|item| item.required_str("id")), Ok("a"));
        assert_eq!(field(items[0].as_str().expect_err("an object")).0, "data.list[0]");
    }

    #[test]
    fn null_is_absent() {
        let body = parse(br#"{"a":null,"b":"x"}"#).expect("an object");
        let root = body.root();
        assert_eq!(root.get("a"), None);
        assert_eq!(field(root.required("a").expect_err("null")), ("a".to_owned(), "missing".to_owned()));
        assert_eq!(root.optional_str("a"), Ok(None));
        assert_eq!(root.optional_str("b"), Ok(Some("x")));
        assert_eq!(root.lenient_str("a"), None);
    }

    #[test]
    fn each_accessor_checks_its_type() {
        let body = parse(br#"{"s":"x","b":true,"i":-3,"u":18446744073709551615,"f":1.5,"o":{},"a":[]}"#)
            .expect("an object");
        let root = body.root();
        assert_eq!(root.required_bool("b"), Ok(true));
        assert_eq!(
            field(root.required_bool("s").expect_err("a string")).1,
            "must be a boolean, got a string"
        );
        assert_eq!(root.required_i64("i"), Ok(-3));
        assert_eq!(field(root.required_i64("u").expect_err("too big")).1, "is out of range");
        assert_eq!(
            field(root.required_i64("f").expect_err("a fraction")).1,
            "must be an integer, got a number"
        );
        assert!(root.required_object("o").is_ok());
        assert_eq!(
            field(root.required_object("a").expect_err("an array")).1,
            "must be an object, got an array"
        );
        assert!(root.required_array("a").is_ok_and(|array| array.is_empty()));
        assert_eq!(
            field(root.optional_str("b").expect_err("a boolean")).1,
            "must be a string, got a boolean"
        );
        assert_eq!(root.lenient_str("b"), None);
    }

    #[test]
    fn names_match_in_any_case_the_exact_spelling_first() {
        let body = parse(br#"{"consentgiven":"all","ConsentGiven":"None","other":null,"OTHER":"x"}"#)
            .expect("an object");
        let root = body.root();
        assert_eq!(root.get_ignore_case("ConsentGiven"), Some(&Value::from("None")));
        assert!(root.get_ignore_case("consentGiven").is_some());
        let body = parse(br#"{"consentgiven":"all"}"#).expect("an object");
        assert_eq!(body.root().get_ignore_case("ConsentGiven"), Some(&Value::from("all")));
        // The exact spelling, sent as null, is the field: not given.
        assert_eq!(root.get_ignore_case("other"), None);
    }
}
