//! Reading inside `json` text without rebuilding it.
//!
//! PostgreSQL's `json` keeps a document exactly as written, and its `->` returns the
//! member's text as written too (`'{"a": [1,  2]}'::json -> 'a'` is `[1,  2]`). A
//! parse into a [`serde_json::Value`] would lose spacing, key order and number
//! spelling, so these functions find the byte span of a member in the text instead.
//! Each checks the whole document's syntax first, so the scan itself only walks
//! valid JSON.

use serde::de::IgnoredAny;

/// The text of the last member named `key` of the object `json` (PostgreSQL picks
/// the last of repeated keys), `None` when `json` is not an object or has no such
/// member.
pub fn object_field<'a>(json: &'a str, key: &str) -> Result<Option<&'a str>, serde_json::Error> {
    serde_json::from_str::<IgnoredAny>(json)?;
    Ok(object_members(json).and_then(|members| {
        members
            .into_iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }))
}

/// The text of element `index` of the array `json`, counting from the end when
/// negative; `None` when `json` is not an array or the index is out of range.
pub fn array_element(json: &str, index: i64) -> Result<Option<&str>, serde_json::Error> {
    serde_json::from_str::<IgnoredAny>(json)?;
    Ok(array_elements(json).and_then(|items| {
        let position = if index < 0 {
            i64::try_from(items.len()).ok()? + index
        } else {
            index
        };
        usize::try_from(position)
            .ok()
            .and_then(|p| items.get(p).copied())
    }))
}

/// What `->>` makes of a member's text: a string's value unescaped, SQL `NULL` for
/// JSON `null`, any other value's text as written.
pub fn member_as_text(member: &str) -> Option<String> {
    match member.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(member).ok(),
        _ if member == "null" => None,
        _ => Some(member.to_owned()),
    }
}

fn skip_whitespace(s: &str, at: usize) -> usize {
    let rest = &s[at..];
    at + rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len()
}

/// The position after the JSON value that starts at `at`.
fn value_end(s: &str, at: usize) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_str(&s[at..]).into_iter::<IgnoredAny>();
    values.next()?.ok()?;
    Some(at + values.byte_offset())
}

/// The position after `punctuation` (and the whitespace after it) at `at`.
fn after(s: &str, at: usize, punctuation: char) -> Option<usize> {
    s[at..]
        .starts_with(punctuation)
        .then(|| skip_whitespace(s, at + punctuation.len_utf8()))
}

/// Each member of the object `json` as its decoded name and its value's text.
fn object_members(json: &str) -> Option<Vec<(String, &str)>> {
    let mut at = after(json, skip_whitespace(json, 0), '{')?;
    let mut members = Vec::new();
    if after(json, at, '}').is_some() {
        return Some(members);
    }
    loop {
        let name_end = value_end(json, at)?;
        let name: String = serde_json::from_str(&json[at..name_end]).ok()?;
        let start = after(json, skip_whitespace(json, name_end), ':')?;
        let end = value_end(json, start)?;
        members.push((name, &json[start..end]));
        at = skip_whitespace(json, end);
        match after(json, at, ',') {
            Some(next) => at = next,
            None => return after(json, at, '}').map(|_| members),
        }
    }
}

/// The text of each element of the array `json`.
fn array_elements(json: &str) -> Option<Vec<&str>> {
    let mut at = after(json, skip_whitespace(json, 0), '[')?;
    let mut items = Vec::new();
    if after(json, at, ']').is_some() {
        return Some(items);
    }
    loop {
        let end = value_end(json, at)?;
        items.push(&json[at..end]);
        at = skip_whitespace(json, end);
        match after(json, at, ',') {
            Some(next) => at = next,
            None => return after(json, at, ']').map(|_| items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_keeps_its_text_as_written() {
        let doc = r#" {"b":1,  "a" : [1,  2.50], "c": {"x":  null}} "#;
        assert_eq!(object_field(doc, "a").unwrap(), Some("[1,  2.50]"));
        assert_eq!(object_field(doc, "c").unwrap(), Some(r#"{"x":  null}"#));
        assert_eq!(object_field(doc, "b").unwrap(), Some("1"));
        assert_eq!(object_field(doc, "z").unwrap(), None);
        assert_eq!(object_field("[1]", "a").unwrap(), None);
        assert_eq!(object_field("{}", "a").unwrap(), None);
    }

    #[test]
    fn a_repeated_key_reads_its_last_value() {
        assert_eq!(
            object_field(r#"{"a":2, "a": [1,  2]}"#, "a").unwrap(),
            Some("[1,  2]")
        );
    }

    #[test]
    fn escaped_names_match_their_value() {
        assert_eq!(
            object_field(r#"{"\u0061":true}"#, "a").unwrap(),
            Some("true")
        );
    }

    #[test]
    fn array_elements_count_from_either_end() {
        let doc = r#"[1, "two",{"x" :1} ,null]"#;
        assert_eq!(array_element(doc, 0).unwrap(), Some("1"));
        assert_eq!(array_element(doc, 2).unwrap(), Some(r#"{"x" :1}"#));
        assert_eq!(array_element(doc, -1).unwrap(), Some("null"));
        assert_eq!(array_element(doc, -4).unwrap(), Some("1"));
        assert_eq!(array_element(doc, 4).unwrap(), None);
        assert_eq!(array_element(doc, -5).unwrap(), None);
        assert_eq!(array_element("[]", 0).unwrap(), None);
        assert_eq!(array_element(r#"{"a":1}"#, 0).unwrap(), None);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(object_field(r#"{"a":}"#, "a").is_err());
        assert!(array_element("[1,", 0).is_err());
    }

    #[test]
    fn long_arrow_unquotes_strings_and_nulls() {
        assert_eq!(member_as_text(r#""x\"y""#), Some("x\"y".to_owned()));
        assert_eq!(member_as_text("null"), None);
        assert_eq!(member_as_text("[1,  2]"), Some("[1,  2]".to_owned()));
    }
}
