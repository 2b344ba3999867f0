//! Criterion benches by phase: load, compile, execute (small and large payload), template
//! render, casts, and dispatch among the shipped rules.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use handoff_benches::{fixtures, generate};
use handoff_core::rules::RawFile;
use handoff_core::{Outcome, Plan, compile_paths};

/// The canonical rule file.
fn canonical_rule() -> PathBuf {
    fixtures::repo_path("rules/cxone_handoff.toml")
}

fn plan_of(paths: &[PathBuf]) -> Plan {
    compile_paths(paths).expect("the rules compile").plan
}

/// Read and parse rule files into the raw model (no validation, no compilation).
fn load(c: &mut Criterion) {
    let folder = fixtures::rule_files().expect("rules/");
    let mut group = c.benchmark_group("load");
    for (name, files) in [
        ("cxone_handoff", vec![canonical_rule()]),
        ("rules_folder", folder),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for f in &files {
                    let text = std::fs::read_to_string(black_box(f)).expect("readable");
                    let raw: RawFile = toml::from_str(&text).expect("valid TOML");
                    black_box(raw);
                }
            })
        });
    }
    group.finish();
}

/// `compile_paths`: load, validate, compile paths and templates, build the plan.
fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for (name, path) in [
        ("cxone_handoff", canonical_rule()),
        ("rules_folder", fixtures::repo_path("rules")),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| compile_paths(&[black_box(&path)]).expect("compiles"))
        });
    }
    group.finish();
}

/// The canonical rule on one payload, small and large, and on the 400 fixture payloads.
fn execute(c: &mut Criterion) {
    let plan = plan_of(&[canonical_rule()]);
    let payloads = fixtures::canonical_payloads().expect("fixture payloads");
    let small = payloads[0].clone();
    // The same payload with a `data` member of 250,000 bytes that the rule does not read (the
    // default payload_bytes limit is 262,144).
    let mut first = fixtures::canonical_value().expect("fixture payload");
    if let Some(obj) = first.as_object_mut() {
        obj.shift_remove("data");
    }
    let large = generate::padded(&first, 250_000);
    let mut out = Vec::with_capacity(1 << 12);

    let mut group = c.benchmark_group("exec");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    for (name, payload) in [("small", &small), ("large", &large)] {
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function(format!("{name}_{}_bytes", payload.len()), |b| {
            b.iter(|| {
                out.clear();
                plan.transform(black_box(payload), None, &mut out)
                    .expect("transforms")
            })
        });
    }
    group.throughput(Throughput::Bytes(large.len() as u64));
    group.bench_function("large_ignored_any_floor", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&large)).expect("json"))
    });

    let bytes: usize = payloads.iter().map(Vec::len).sum();
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("transform_400_payloads", |b| {
        b.iter(|| {
            for p in &payloads {
                out.clear();
                plan.transform(black_box(p), None, &mut out)
                    .expect("transforms");
            }
        })
    });
    group.bench_function("serde_json_value_floor_400_payloads", |b| {
        b.iter(|| {
            for p in &payloads {
                let v: serde_json::Value = serde_json::from_slice(black_box(p)).expect("json");
                black_box(v);
            }
        })
    });
    group.finish();
}

/// `rules/webhook_templates.toml` by name: each event that renders a body (a template file
/// chosen by trigger, fed by bindings).
fn template(c: &mut Criterion) {
    let plan = plan_of(&[fixtures::repo_path("rules/webhook_templates.toml")]);
    let mut out = Vec::new();
    let events: Vec<Vec<u8>> = fixtures::ndjson("fixtures/webhook-payload/events.ndjson")
        .expect("fixture events")
        .into_iter()
        .filter(|e| {
            out.clear();
            matches!(
                plan.transform_rule("webhook-payload", e, None, &mut out),
                Ok(Outcome::Transformed { .. })
            )
        })
        .collect();
    let mut group = c.benchmark_group("template");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function(format!("webhook_payload_{}_events", events.len()), |b| {
        b.iter(|| {
            for e in &events {
                out.clear();
                plan.transform_rule("webhook-payload", black_box(e), None, &mut out)
                    .expect("renders");
            }
        })
    });
    group.finish();
}

/// 40 casts (string->number, string->boolean, number->string, string/number->integer) against
/// the same 40 mappings with `cast = "keep"`.
fn casts(c: &mut Criterion) {
    let payload = generate::casts_payload();
    let mut out = Vec::with_capacity(1 << 10);
    let mut group = c.benchmark_group("casts");
    group.throughput(Throughput::Elements(40));
    for (name, cast) in [("cast_40", true), ("keep_40", false)] {
        let plan = generate::plan(generate::casts_rule(40, cast));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                plan.transform(black_box(&payload), None, &mut out)
                    .expect("transforms")
            })
        });
    }
    group.finish();
}

/// The first canonical payload through the whole `rules/` folder: every shipped rule's
/// condition is tried in order until the canonical rule applies.
fn dispatch(c: &mut Criterion) {
    let plan = plan_of(&[fixtures::repo_path("rules")]);
    let payload = fixtures::canonical_payloads()
        .expect("fixture payloads")
        .remove(0);
    let mut out = Vec::with_capacity(1 << 12);
    let outcome = plan
        .transform(&payload, None, &mut out)
        .expect("transforms");
    assert_eq!(
        outcome,
        Outcome::Transformed {
            rule: "cxone-handoff"
        }
    );
    let mut group = c.benchmark_group("dispatch");
    group.bench_function("rules_folder_to_cxone_handoff", |b| {
        b.iter(|| {
            out.clear();
            plan.transform(black_box(&payload), None, &mut out)
                .expect("transforms")
        })
    });
    group.finish();
}

criterion_group!(benches, load, compile, execute, template, casts, dispatch);
criterion_main!(benches);
