//! Test support: a minimal reader for the `components.schemas` section of the spec's OpenAPI
//! files, so that tests compare the hand-written schemas with the file instead of retyping it.
//!
//! It understands the block style those sections use — nested mappings, `- item` sequences
//! (including `- key: value` mapping items), plain, quoted, multi-line plain and `>-`/`|` block
//! scalars — and nothing else (no flow collections, anchors or tags, which the files do not use
//! there).

use std::path::PathBuf;

/// A parsed YAML node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn usize(&self, key: &str) -> Option<usize> {
        self.str(key).map(|s| s.parse().expect("an integer"))
    }

    pub fn keys(&self) -> Vec<&str> {
        match self {
            Node::Map(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    pub fn strings(&self, key: &str) -> Option<Vec<&str>> {
        match self.get(key)? {
            Node::Seq(items) => Some(
                items
                    .iter()
                    .map(|i| match i {
                        Node::Scalar(s) => s.as_str(),
                        other => panic!("not a scalar: {other:?}"),
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// Path of one of the FSPIOP API definition files the tests compare with.
pub fn spec_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/spec/fspiop")
        .join(name)
}

/// The adapter's OpenAPI file.
pub const ADAPTER_OPENAPI: &str = "ml-api-adapter-transfers-openapi.yaml";
/// The FSPIOP v2.0 definition.
pub const FSPIOP_V2_OPENAPI: &str = "fspiop-rest-v2.0-openapi3-snippets.yaml";

/// `components.schemas` of the named spec file.
pub fn schemas(file: &str) -> Node {
    let path = spec_file(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse_schemas(&text)
}

/// `components.schemas` of an OpenAPI document.
pub fn parse_schemas(text: &str) -> Node {
    let mut lines = text.lines().map(str::trim_end);
    lines
        .by_ref()
        .find(|l| *l == "  schemas:")
        .expect("a components.schemas section");
    let section: Vec<&str> = lines
        .take_while(|l| l.is_empty() || indent_of(l) >= 4)
        .collect();
    let lines = preprocess(&section);
    let mut i = 0;
    let node = parse_node(&lines, &mut i, 4);
    assert_eq!(i, lines.len(), "unparsed line: {:?}", lines.get(i));
    node
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Non-blank lines as (indent, text); a `- key: value` line becomes a `-` line plus the entry two
/// columns further in, so mapping items parse like any other mapping.
fn preprocess(section: &[&str]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for line in section.iter().filter(|l| !l.trim().is_empty()) {
        let indent = indent_of(line);
        let text = line.trim_start_matches(' ');
        match text.strip_prefix("- ") {
            Some(rest) if looks_like_entry(rest) => {
                out.push((indent, "-".to_owned()));
                out.push((indent + 2, rest.to_owned()));
            }
            _ => out.push((indent, text.to_owned())),
        }
    }
    out
}

fn looks_like_entry(text: &str) -> bool {
    let key_end = if let Some(quoted) = text.strip_prefix('"') {
        quoted.find('"').map(|i| i + 2)
    } else {
        text.find(':')
            .filter(|&i| !text[..i].contains(' ') && i > 0)
    };
    key_end.is_some_and(|i| {
        let after = &text[i..];
        after == ":" || after.starts_with(": ")
    })
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

fn parse_node(lines: &[(usize, String)], i: &mut usize, indent: usize) -> Node {
    if lines.get(*i).is_some_and(|(_, t)| is_seq_item(t)) {
        parse_seq(lines, i, indent)
    } else {
        parse_map(lines, i, indent)
    }
}

fn parse_map(lines: &[(usize, String)], i: &mut usize, indent: usize) -> Node {
    let mut entries = Vec::new();
    while let Some((line_indent, text)) = lines.get(*i) {
        if *line_indent != indent || is_seq_item(text) {
            break;
        }
        let (key, rest) = split_entry(text);
        *i += 1;
        let value = if rest.is_empty() {
            match lines.get(*i) {
                Some((next, t)) if *next > indent || (*next == indent && is_seq_item(t)) => {
                    let child = *next;
                    parse_node(lines, i, child)
                }
                _ => Node::Scalar(String::new()),
            }
        } else if matches!(rest, ">-" | ">" | ">+" | "|" | "|-" | "|+") {
            let separator = if rest.starts_with('|') { "\n" } else { " " };
            Node::Scalar(take_more_indented(lines, i, indent).join(separator))
        } else {
            let mut value = unquote(rest);
            for more in take_more_indented(lines, i, indent) {
                value.push(' ');
                value.push_str(&more);
            }
            Node::Scalar(value)
        };
        entries.push((key, value));
    }
    Node::Map(entries)
}

fn parse_seq(lines: &[(usize, String)], i: &mut usize, indent: usize) -> Node {
    let mut items = Vec::new();
    while let Some((line_indent, text)) = lines.get(*i) {
        if *line_indent != indent || !is_seq_item(text) {
            break;
        }
        *i += 1;
        if text == "-" {
            let child = lines.get(*i).map_or(indent + 2, |(n, _)| *n);
            items.push(parse_node(lines, i, child));
        } else {
            let mut value = unquote(&text[2..]);
            for more in take_more_indented(lines, i, indent) {
                value.push(' ');
                value.push_str(&more);
            }
            items.push(Node::Scalar(value));
        }
    }
    Node::Seq(items)
}

fn take_more_indented(lines: &[(usize, String)], i: &mut usize, indent: usize) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((n, t)) = lines.get(*i) {
        if *n <= indent {
            break;
        }
        out.push(t.clone());
        *i += 1;
    }
    out
}

fn split_entry(text: &str) -> (String, &str) {
    let (key, rest) = if let Some(quoted) = text.strip_prefix('"') {
        let end = quoted.find('"').expect("closing quote");
        (quoted[..end].to_owned(), &quoted[end + 1..])
    } else {
        let colon = text
            .find(':')
            .unwrap_or_else(|| panic!("not an entry: {text}"));
        (text[..colon].to_owned(), &text[colon..])
    };
    let rest = rest
        .strip_prefix(':')
        .unwrap_or_else(|| panic!("not an entry: {text}"));
    (key, rest.trim())
}

fn unquote(s: &str) -> String {
    if let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    } else if let Some(inner) = s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else {
        s.to_owned()
    }
}

#[test]
fn parses_the_adapter_schemas() {
    let s = schemas(ADAPTER_OPENAPI);
    let amount = s.get("Amount").unwrap();
    assert_eq!(amount.str("type"), Some("string"));
    assert_eq!(
        amount.str("pattern"),
        Some(r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$")
    );
    assert_eq!(
        s.get("TransferState").unwrap().strings("enum").unwrap(),
        ["RECEIVED", "RESERVED", "COMMITTED", "ABORTED"]
    );
    let fx = s.get("FxTransfersIDPutResponse").unwrap();
    let Some(Node::Seq(all_of)) = fx
        .get("properties")
        .unwrap()
        .get("fulfilment")
        .unwrap()
        .get("allOf")
    else {
        panic!("allOf")
    };
    assert_eq!(
        all_of[0].str("$ref"),
        Some("#/components/schemas/IlpFulfilment")
    );
    assert!(
        all_of[1]
            .str("description")
            .unwrap()
            .starts_with("The fulfilment")
    );
    // A plain scalar continued on a more indented line that starts with "- ".
    assert_eq!(
        s.get("HealthStatusType").unwrap().str("description"),
        Some("Below are the allowed values for the enumeration HealthStatusType - OK - DOWN")
    );
}
