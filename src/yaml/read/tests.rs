use super::*;

#[test]
fn scalars_read_as_before() {
    let doc = value(
        "a: yes\nb: on\nc: 0755\nd: 1_000\ne: 0x10\nf: true\ng: 8080:80\nh: ~\ni: 1.5\nj: '12'\n",
    )
    .unwrap();
    let m = doc.as_mapping().unwrap();
    assert_eq!(m["a"], Value::from("yes"));
    assert_eq!(m["b"], Value::from("on"));
    assert_eq!(m["c"], Value::from("0755"));
    assert_eq!(m["d"], Value::from("1_000"));
    assert_eq!(m["e"], Value::from(16));
    assert_eq!(m["f"], Value::Bool(true));
    assert_eq!(m["g"], Value::from("8080:80"));
    assert_eq!(m["h"], Value::Null);
    assert_eq!(m["i"], Value::from(1.5));
    assert_eq!(m["j"], Value::from("12"));
}

#[test]
fn custom_tags_are_kept_and_merge_keys_are_ordinary_keys() {
    let doc = value("x: &x {a: 1}\ny:\n  <<: *x\n  b: !reset []\n  c: !!str 12\n").unwrap();
    let y = doc["y"].as_mapping().unwrap();
    assert_eq!(y["<<"]["a"], Value::from(1));
    match &y["b"] {
        Value::Tagged(t) => {
            assert_eq!(t.tag, Tag::new("!reset"));
            assert_eq!(t.value, Value::Sequence(vec![]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(y["c"], Value::from("12"));
}

#[test]
fn duplicate_keys_are_an_error_with_file_line_column_and_snippet() {
    let e = value("a: 1\nb: 2\na: 3\n").unwrap_err();
    assert_eq!(location(&e), Some((3, 1)));
    let shown = describe(&e, "x.yaml");
    assert!(shown.starts_with("duplicate mapping key: a"), "{shown}");
    assert!(shown.contains("--> x.yaml:3:1"), "{shown}");
    assert!(shown.contains("3 | a: 3"), "{shown}");
}

/// Nine levels of nine aliases: 9^9 nodes if expanded. Refused at once.
#[test]
fn an_alias_bomb_is_refused_quickly() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 9].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let start = std::time::Instant::now();
    let e = value(&text).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert!(describe(&e, "bomb.yaml").contains("bomb.yaml:"), "{e}");
    let e = documents::<serde_json::Value>(&text).unwrap_err();
    assert!(
        e.to_string().contains("budget") || e.to_string().contains("alias"),
        "{e}"
    );
}

/// In a thread of its own: a debug build takes about 4 MiB of stack for
/// 128 levels (a release build 0.5 MiB), more than a test thread's 2 MiB.
#[test]
fn deep_nesting_is_refused() {
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(deep_nesting)
        .unwrap()
        .join()
        .unwrap();
}

fn deep_nesting() {
    let flow = format!(
        "{}1{}",
        "[".repeat(MAX_DEPTH + 10),
        "]".repeat(MAX_DEPTH + 10)
    );
    assert!(value(&flow).is_err());
    let mut block = String::new();
    for i in 0..MAX_DEPTH + 10 {
        block.push_str(&" ".repeat(i));
        block.push_str("a:\n");
    }
    let e = documents::<serde_json::Value>(&block).unwrap_err();
    assert!(e.to_string().contains("Depth"), "{e}");
    // One level less than the limit reads.
    let ok = format!(
        "{}1{}",
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    assert!(value(&ok).is_ok());
}

#[test]
fn documents_skip_empty_ones() {
    let docs: Vec<serde_json::Value> =
        documents("a: 1\n---\n---\n# only a comment\n---\nb: 2\n").unwrap();
    assert_eq!(docs.len(), 2, "{docs:?}");
}

/// Manifests in the wild repeat keys; `preview` reads them as it always has.
#[test]
fn documents_leave_a_repeated_key_to_the_value() {
    let docs: Vec<serde_json::Value> = documents("a: 1\nb: 2\na: 3\n").unwrap();
    assert_eq!(serde_json::to_string(&docs[0]).unwrap(), r#"{"a":3,"b":2}"#);
}

#[test]
fn documents_at_give_the_line_each_document_starts_on() {
    let text = "--- \n...\n---\n# c\na: 1\n---\n---\n\nb: [2]\n";
    let docs: Vec<(usize, serde_json::Value)> = documents_at(text).unwrap();
    let lines: Vec<usize> = docs.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [5, 9], "{docs:?}");
}

/// A `---` storm stops at the document budget.
#[test]
fn too_many_documents_are_refused() {
    let storm = "---\na: 1\n".repeat(MAX_DOCUMENTS + 1);
    let e = documents::<serde_json::Value>(&storm).unwrap_err();
    assert!(e.to_string().contains("budget"), "{e}");
    let fits = "---\na: 1\n".repeat(100);
    assert_eq!(documents::<serde_json::Value>(&fits).unwrap().len(), 100);
}
