//! The reader against serde_json: the same bodies accepted and refused, the
//! same strings and numbers read.

use super::*;
use proptest::prelude::*;
use serde::de::IgnoredAny;

/// Whether the reader skips `text` as one whole document.
fn skips(text: &str) -> bool {
    let mut reader = Reader::new(text);
    reader.skip().and_then(|()| reader.end()).is_ok()
}

/// The reader's value for a whole document, reading every string (as a kept
/// value's strings are read).
fn read(text: &str) -> Result<Value> {
    fn value(r: &mut Reader) -> Result<Value> {
        Ok(match r.peek()? {
            Next::Object => {
                r.open();
                let mut map = serde_json::Map::new();
                let mut first = true;
                while let Some(key) = r.next_key(&mut first)? {
                    let v = value(r)?;
                    map.insert(key.into_owned(), v);
                }
                Value::Object(map)
            }
            Next::Array => {
                r.open();
                let mut items = Vec::new();
                let mut first = true;
                while r.next_element(&mut first)? {
                    items.push(value(r)?);
                }
                Value::Array(items)
            }
            Next::String => Value::String(r.string()?.into_owned()),
            Next::Number => r.number()?,
            literal => r.literal(literal)?,
        })
    }
    let mut reader = Reader::new(text);
    let v = value(&mut reader)?;
    reader.end()?;
    Ok(v)
}

/// Both readers agree on `text`: skipped, it is accepted by both or by
/// neither; read, it gives serde_json's value or fails where serde_json does.
fn agree(text: &str) -> std::result::Result<(), String> {
    let ours = skips(text);
    let theirs = serde_json::from_str::<IgnoredAny>(text).is_ok();
    if ours != theirs {
        return Err(format!("skip: ours {ours}, serde_json {theirs}: {text:?}"));
    }
    let ours = read(text).ok();
    let theirs = serde_json::from_str::<Value>(text).ok();
    if ours != theirs {
        return Err(format!(
            "read: ours {ours:?}, serde_json {theirs:?}: {text:?}"
        ));
    }
    Ok(())
}

const TRICKY: &[&str] = &[
    "",
    " ",
    "null",
    " \t\r\n{ } ",
    "{}",
    "[]",
    "[ ]",
    "[1,]",
    "[,1]",
    "[1 2]",
    r#"{"a":1,}"#,
    r#"{"a" 1}"#,
    r#"{"a":}"#,
    r#"{1:2}"#,
    r#"{"a":1"b":2}"#,
    r#"{"a":[1,{"b":[]}],"c":{"d":{}}}"#,
    "[[[[[]]]]]",
    "[[[[[]]]]",
    "[[[[[]]]]]]",
    "[{]}",
    "{[}]",
    "nul",
    "nulll",
    "tru",
    "true false",
    "falsee",
    "0",
    "-0",
    "01",
    "-",
    "1.",
    "1.5",
    ".5",
    "1e",
    "1e+",
    "1E-7",
    "1e400",
    "-1e400",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "1234567890123456789",
    "12345678901234567890",
    "0.1",
    "2.2250738585072014e-308",
    "\"",
    "\"abc",
    "\"abc\"",
    "\"a\\\"b\"",
    "\"a\\\\\"",
    "\"\\/\\b\\f\\n\\r\\t\"",
    "\"\\x\"",
    "\"\\u00e9\"",
    "\"\\u00E9\"",
    "\"\\u00g9\"",
    "\"\\u12\"",
    "\"\\ud83d\\ude00\"",
    "\"\\ud83d\"",
    "\"\\ude00\"",
    "\"\\ud83dx\"",
    "\"\\ud83d\\n\"",
    "\"\\ud83d\\u0041\"",
    "\"\\ud83d\\ud83d\"",
    "\"tab\there\"",
    "\"nl\nhere\"",
    "\"\u{1f}\"",
    "\"\u{7f}\"",
    "\"é ü 😀\"",
    "\"0123456789abcdef0123456789abcdef\\\"0123456789abcdef\"",
    "\"0123456789abcdef0123456789abcdef\u{1}0123456789abcdef\"",
    r#"{"a":"\ud800"}"#,
    r#"{"\ud800":1}"#,
    r#"[{"k":"v","k":"w"}]"#,
];

#[test]
fn tricky_documents_agree_with_serde_json() {
    for text in TRICKY {
        agree(text).unwrap();
        // Inside containers too, where the punctuation around a value differs.
        agree(&format!("[{text}]")).unwrap();
        agree(&format!(r#"{{"k":{text}}}"#)).unwrap();
        agree(&format!(r#"[0,{{"k":[{text}]}}]"#)).unwrap();
    }
}

#[test]
fn a_lone_surrogate_is_refused_where_read_and_passed_where_skipped() {
    let text = r#"{"k":"\udc00"}"#;
    assert!(skips(text));
    assert!(read(text).is_err());
}

#[test]
fn errors_say_where() {
    // Where serde_json says it too: past the byte that does not fit.
    let text = "{\n  \"a\": tru }";
    let theirs = serde_json::from_str::<Value>(text).unwrap_err().to_string();
    assert!(theirs.ends_with("at line 2 column 11"), "{theirs}");
    let ours = read(text).unwrap_err().to_string();
    assert_eq!(ours, "expected ident at line 2 column 11");
}

#[test]
fn deep_nesting_skips_without_recursion() {
    // Far past any stack a recursive skip could hold.
    let depth = 200_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(skips(&text));
    assert!(!skips(&text[..text.len() - 1]));
}

/// JSON text with strings, numbers, escapes and nesting, and its mutations:
/// one byte dropped, replaced or inserted from JSON's own punctuation.
fn documents() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| serde_json::to_string(&n).unwrap()),
        "[a-z\u{e9}\u{1f600}]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just(r#""a\"b\\c\u00e9\ud83d\ude00\n""#.to_string()),
    ];
    let tree = leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z]{0,4}", inner), 0..4).prop_map(|v| {
                let members: Vec<String> = v
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    });
    let punctuation = prop::sample::select(
        b"{}[]\":,\\u0123456789eE.-+ ntfrl\x01\n"
            .iter()
            .map(|&b| b as char)
            .collect::<Vec<_>>(),
    );
    (tree, 0..3usize, any::<prop::sample::Index>(), punctuation).prop_map(|(text, how, at, c)| {
        let chars: Vec<char> = text.chars().collect();
        let i = at.index(chars.len() + 1);
        let mut out: Vec<char> = chars.clone();
        match how {
            0 if i < chars.len() => {
                out.remove(i);
            }
            1 if i < chars.len() => out[i] = c,
            _ => out.insert(i, c),
        }
        out.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn mutated_documents_agree_with_serde_json(text in documents()) {
        agree(&text).map_err(TestCaseError::fail)?;
    }
}
