//! Nothing lost: for any sequence of input lines, good or bad, read in any pieces on any
//! number of jobs, every input is an output (in input order), a no-rule outcome, or a
//! dead-letter record with its raw bytes; and the summary and the audit agree.

use std::io::{self, Read};

use base64::Engine;
use handoff_core::{Plan, SourceFile, compile_sources};
use handoff_runner::batch::{Hooks, Input, Options, Sinks, run};
use proptest::prelude::*;
use serde_json::Value;

/// The rule's `payload_bytes`: a payload over it is E400, and one over it plus the reader's
/// 4 KiB of room is not even kept whole.
const LIMIT: usize = 1024;
const KEPT: usize = 4096;

/// A rule that transforms `{"id": …}`, applies to nothing with `"kind": "skip"`, and fails
/// (E500) when `id` is missing; payloads are at most [`LIMIT`] bytes.
fn plan() -> Plan {
    let rule = r#"
[limits]
payload_bytes = 1024

[[rule]]
name = "keep"
when = { path = "$.kind", ne = "skip" }
[rule.map]
id = { path = "$.id", required = true }
"#;
    let file = SourceFile::new("keep.toml", rule);
    compile_sources(vec![file], None).expect("compiles").plan
}

/// One payload and what must become of it.
#[derive(Debug, Clone)]
enum Line {
    /// Transformed to exactly this output line.
    Ok(Vec<u8>, String),
    /// No rule applies.
    NoRule(Vec<u8>),
    /// Dead-lettered with this code.
    Failed(Vec<u8>, &'static str),
    /// Blank: not an input at all as an NDJSON line; E406 as a whole file.
    Blank(Vec<u8>),
    /// Too long to be read whole: E400 with its first [`KEPT`] bytes and its length.
    Cut(Vec<u8>),
}

impl Line {
    fn bytes(&self) -> &[u8] {
        match self {
            Line::Ok(b, _)
            | Line::NoRule(b)
            | Line::Failed(b, _)
            | Line::Blank(b)
            | Line::Cut(b) => b,
        }
    }
}

fn line() -> impl Strategy<Value = Line> {
    let id = "[a-z0-9]{1,6}";
    let padding = "[ \t]{0,2}";
    prop_oneof![
        // A number beyond f64 in a member the rule skips does not matter.
        6 => (id, padding, padding).prop_map(|(id, pre, post)| {
            let text = format!(r#"{pre}{{"id":"{id}","kind":"x","n":1e400}}{post}"#);
            Line::Ok(text.into_bytes(), format!(r#"{{"id":"{id}"}}"#))
        }),
        1 => Just(Line::Ok(
            br#"{"id":123456789012345678901234567890}"#.to_vec(),
            r#"{"id":1.2345678901234568e+29}"#.into(),
        )),
        1 => id.prop_map(|id| {
            let text = format!("\u{feff}{{\"id\":\"{id}\"}}\r");
            Line::Ok(text.into_bytes(), format!(r#"{{"id":"{id}"}}"#))
        }),
        1 => id.prop_map(|id| Line::NoRule(format!(r#"{{"id":"{id}","kind":"skip"}}"#).into_bytes())),
        // Truncated JSON: every proper prefix of an object is invalid.
        2 => (id, any::<prop::sample::Index>()).prop_map(|(id, cut)| {
            let full = format!(r#"{{"id":"{id}","kind":"x"}}"#);
            let at = 1 + cut.index(full.len() - 1);
            Line::Failed(full.as_bytes()[..at].to_vec(), "E402")
        }),
        // Arbitrary bytes with an 0xFF, which is never UTF-8, so never JSON.
        2 => (
            prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..24),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(mut bytes, at)| {
                bytes.insert(at.index(bytes.len() + 1), 0xFF);
                Line::Failed(bytes, "E402")
            }),
        1 => Just(Line::Failed(br#"{"id":1e400}"#.to_vec(), "E402")),
        1 => Just(Line::Failed(br#"{"kind":"x"}"#.to_vec(), "E500")),
        1 => Just(Line::Failed(b"[1,2] 3".to_vec(), "E402")),
        1 => "[ \t\r]{0,3}".prop_map(|s| Line::Blank(s.into_bytes())),
        // Over the limit but kept whole, or so long that only its first bytes are kept.
        1 => (LIMIT + 1..LIMIT + KEPT).prop_map(|len| Line::Failed(padded(len), "E400")),
        1 => (LIMIT + KEPT + 1..4 * KEPT).prop_map(|len| Line::Cut(padded(len))),
    ]
}

/// A valid payload of exactly `len` bytes.
fn padded(len: usize) -> Vec<u8> {
    let mut p = br#"{"id":"big","pad":""#.to_vec();
    p.resize(len - 2, b'x');
    p.extend_from_slice(b"\"}");
    p
}

/// An input: NDJSON lines (with or without a final newline), or one whole-file payload.
#[derive(Debug, Clone)]
enum File {
    Ndjson(Vec<Line>, bool),
    Whole(Line),
}

impl File {
    fn text(&self) -> Vec<u8> {
        match self {
            File::Ndjson(lines, newline) => {
                let mut text = lines
                    .iter()
                    .map(|l| l.bytes().to_vec())
                    .collect::<Vec<_>>()
                    .join(&b'\n');
                if *newline {
                    text.push(b'\n');
                }
                text
            }
            File::Whole(line) => line.bytes().to_vec(),
        }
    }

    /// `(line number, payload)` of each line; a whole file has no line number.
    fn lines(&self) -> Vec<(Option<u64>, &Line)> {
        match self {
            File::Ndjson(lines, _) => lines
                .iter()
                .enumerate()
                .map(|(n, l)| (Some(n as u64 + 1), l))
                .collect(),
            File::Whole(line) => vec![(None, line)],
        }
    }
}

fn files() -> impl Strategy<Value = Vec<File>> {
    let file = prop_oneof![
        // Up to 600 lines: more than one chunk of 256 payloads.
        4 => (prop::collection::vec(line(), 0..600), any::<bool>())
            .prop_map(|(lines, newline)| File::Ndjson(lines, newline)),
        1 => line().prop_map(File::Whole),
    ];
    prop::collection::vec(file, 1..4)
}

/// A reader that hands out its bytes a few at a time, so chunks end wherever a read does.
struct Trickle<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    reads: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes[self.reads % self.sizes.len()];
        self.reads += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn raw(record: &Value) -> Vec<u8> {
    match (&record["raw"], &record["raw_base64"]) {
        (Value::String(s), Value::Null) => s.as_bytes().to_vec(),
        (Value::Null, Value::String(b)) => {
            base64::engine::general_purpose::STANDARD.decode(b).unwrap()
        }
        _ => panic!("a record has exactly one of raw and raw_base64: {record}"),
    }
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A dead-letter record as `(file, line, code, raw bytes, length when cut)`.
type Dead = (String, Option<u64>, String, Vec<u8>, Option<u64>);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_input_is_an_output_a_no_rule_or_a_dead_letter(
        files in files(),
        jobs in 1usize..9,
        sizes in prop::collection::vec(prop_oneof![1usize..8, 8usize..4096], 1..6),
    ) {
        let plan = plan();
        let texts: Vec<Vec<u8>> = files.iter().map(File::text).collect();
        let inputs: Vec<Input<'_>> = files
            .iter()
            .zip(&texts)
            .enumerate()
            .map(|(i, (file, text))| {
                let reader = Trickle { data: text, sizes: sizes.clone(), reads: 0 };
                match file {
                    File::Ndjson(..) => Input::ndjson(&format!("in{i}"), reader),
                    File::Whole(_) => Input::whole(&format!("in{i}"), reader),
                }
            })
            .collect();
        let (mut out, mut dead, mut audit) = (Vec::new(), Vec::new(), Vec::new());
        let sinks = Sinks { out: Some(&mut out), dead_letter: Some(&mut dead), audit: Some(&mut audit) };
        let options = Options { jobs, ..Options::default() };
        let summary = run(&plan, inputs, sinks, &options, &mut Hooks::default()).unwrap();

        let mut want_out = Vec::new();
        let mut want_dead: Vec<Dead> = Vec::new();
        let mut want_audit = Vec::new();
        let mut no_rule = 0u64;
        for (i, file) in files.iter().enumerate() {
            for (n, line) in file.lines() {
                let outcome = match line {
                    Line::Ok(_, output) => {
                        want_out.push(output.clone());
                        "ok"
                    }
                    Line::NoRule(_) => {
                        no_rule += 1;
                        "no_rule"
                    }
                    Line::Failed(bytes, code) => {
                        let raw = bytes.trim_ascii().to_vec();
                        want_dead.push((format!("in{i}"), n, (*code).to_owned(), raw, None));
                        "failed"
                    }
                    Line::Cut(bytes) => {
                        let (first, len) = (bytes[..KEPT].to_vec(), Some(bytes.len() as u64));
                        want_dead.push((format!("in{i}"), n, "E400".to_owned(), first, len));
                        "failed"
                    }
                    // A blank `.json` file is a failure of its own; a blank line is no input.
                    Line::Blank(_) if n.is_none() => {
                        want_dead.push((format!("in{i}"), n, "E406".to_owned(), Vec::new(), None));
                        "failed"
                    }
                    Line::Blank(_) => continue,
                };
                want_audit.push((format!("in{i}"), n, outcome.to_owned()));
            }
        }

        let got_out: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
        prop_assert_eq!(got_out, want_out.iter().map(String::as_str).collect::<Vec<_>>());
        let records = json_lines(&dead);
        let got_dead: Vec<Dead> = records
            .iter()
            .map(|r| {
                (
                    r["source"]["file"].as_str().unwrap().to_owned(),
                    r["source"]["line"].as_u64(),
                    r["code"].as_str().unwrap().to_owned(),
                    raw(r),
                    r["length"].as_u64().filter(|_| r["truncated"] == true),
                )
            })
            .collect();
        prop_assert_eq!(got_dead, want_dead);
        let got_audit: Vec<(String, Option<u64>, String)> = json_lines(&audit)
            .iter()
            .map(|r| {
                (
                    r["source"]["file"].as_str().unwrap().to_owned(),
                    r["source"]["line"].as_u64(),
                    r["outcome"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        prop_assert_eq!(got_audit, want_audit.clone());

        prop_assert_eq!(summary.read, want_audit.len() as u64);
        prop_assert_eq!(summary.ok, want_out.len() as u64);
        prop_assert_eq!(summary.no_rule, no_rule);
        prop_assert_eq!(summary.failed, records.len() as u64);
        prop_assert_eq!(summary.ok + summary.no_rule + summary.failed, summary.read);
        prop_assert_eq!(summary.bytes_read, texts.iter().map(|t| t.len() as u64).sum::<u64>());
        prop_assert!(!summary.interrupted);
    }
}

/// A stop is looked at before each read: asked for before the first, the run reads nothing
/// and says so; asked for after the first chunk, what that chunk read is all written and the
/// rest is never read. On one job and several.
#[test]
fn a_stop_ends_the_run_before_its_next_read_and_keeps_what_was_read() {
    let plan = plan();
    for jobs in [1, 2] {
        for stop_after in [0, 1] {
            let text = b"{\"id\": 1}\n".to_vec();
            let inputs = vec![Input::ndjson("pipe", io::Cursor::new(text))];
            let mut out = Vec::new();
            let sinks = Sinks {
                out: Some(&mut out),
                ..Sinks::default()
            };
            let options = Options {
                jobs,
                ..Options::default()
            };
            let mut asked = 0;
            let mut stop = || {
                asked += 1;
                asked > stop_after
            };
            let mut hooks = Hooks {
                stop: Some(&mut stop),
                progress: None,
            };
            let summary = run(&plan, inputs, sinks, &options, &mut hooks).unwrap();
            let what = format!("jobs {jobs}, stop after {stop_after} polls");
            let want = if stop_after == 0 { "" } else { "{\"id\":1}\n" };
            assert_eq!(String::from_utf8(out).unwrap(), want, "{what}");
            assert_eq!(
                (summary.read, summary.ok),
                (stop_after, stop_after),
                "{what}"
            );
            assert!(summary.interrupted, "{what}");
        }
    }
}
