//! The scaling series: payload size (1 KiB -> 1 MiB, what the rule reads fixed), number of
//! mappings (10 -> 1,000) and number of rules (1 -> 10,000, dispatched by intent name).

use std::hint::black_box;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use handoff_benches::{fixtures, generate};
use handoff_core::Outcome;
use handoff_core::rules::RawFile;

/// The canonical rule over one payload padded to 1 KiB ... 1 MiB by a `data` member it does not
/// read; the cost beyond the fixed part is the skip-scan of the padding.
fn payload_size(c: &mut Criterion) {
    let rule = std::fs::read_to_string(fixtures::repo_path("rules/cxone_handoff.toml"))
        .expect("the canonical rule");
    let plan = generate::plan(generate::with_payload_limit(&rule, 1 << 21));
    let base = generate::read_members(&fixtures::canonical_value().expect("fixture payload"));
    let mut out = Vec::with_capacity(1 << 12);
    let mut group = c.benchmark_group("scaling/payload_bytes");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    for size in [1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20] {
        let payload = generate::padded(&base, size);
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_with_input(BenchmarkId::new("transform", size), &payload, |b, p| {
            b.iter(|| {
                out.clear();
                plan.transform(black_box(p), None, &mut out)
                    .expect("transforms")
            })
        });
        if size == 1 << 20 {
            // serde_json's own scan of the same bytes, building nothing: the floor.
            group.bench_with_input(BenchmarkId::new("ignored_any", size), &payload, |b, p| {
                b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(p)))
            });
        }
    }
    group.finish();
}

/// One rule of 10, 100 and 1,000 mappings over the first canonical payload.
fn mappings(c: &mut Criterion) {
    let payload = fixtures::canonical_payloads()
        .expect("fixture payloads")
        .remove(0);
    let mut out = Vec::with_capacity(1 << 16);
    let mut group = c.benchmark_group("scaling/mappings");
    for n in [10, 100, 1000] {
        let plan = generate::plan(generate::mappings_rule(n));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("transform", n), &payload, |b, p| {
            b.iter(|| {
                out.clear();
                plan.transform(black_box(p), None, &mut out)
                    .expect("transforms")
            })
        });
    }
    group.finish();
}

/// 1, 100 and 10,000 rules keyed by `$.cognigy.intents[0].name`; the payload names the last
/// rule's intent (and, for 10,000, the middle one's).
fn dispatch(c: &mut Criterion) {
    let base = fixtures::canonical_value().expect("fixture payload");
    let mut out = Vec::with_capacity(1 << 12);
    let mut group = c.benchmark_group("scaling/dispatch");
    for n in [1, 100, 10_000] {
        let plan = generate::plan(generate::dispatch_rules(n));
        let mut cases = vec![("last", n - 1)];
        if n == 10_000 {
            cases.push(("middle", n / 2));
        }
        for (which, i) in cases {
            let payload = generate::with_intent(&base, &format!("intent_{i}"));
            let outcome = plan
                .transform(&payload, None, &mut out)
                .expect("transforms");
            assert_eq!(
                outcome,
                Outcome::Transformed {
                    rule: &format!("route-{i}")
                }
            );
            group.bench_with_input(BenchmarkId::new(which, n), &payload, |b, p| {
                b.iter(|| {
                    out.clear();
                    plan.transform(black_box(p), None, &mut out)
                        .expect("transforms")
                })
            });
        }
    }
    group.finish();
}

/// Compiling 1, 100 and 10,000 dispatch rules (text generated once, outside the timing).
fn compile_rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling/compile_rules");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for n in [1, 100, 10_000] {
        let text = generate::dispatch_rules(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, t| {
            b.iter(|| generate::plan(black_box(t.clone())))
        });
    }
    group.finish();
}

/// Compiling 1,000 to 10,000 rules with expressions (a condition and two targets each): the
/// series that must grow linearly (it was quadratic: 4,000 rules took 11.6 s, 10,000 took 80 s).
fn compile_expression_rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling/compile_expression_rules");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for n in [1_000, 2_000, 4_000, 10_000] {
        let text = generate::expression_rules(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, t| {
            b.iter(|| generate::plan(black_box(t.clone())))
        });
    }
    group.finish();
}

/// Parsing the same 1, 100 and 10,000 rules into the raw model only: the TOML part of
/// `compile_rules`.
fn load_rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling/load_rules");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for n in [1, 100, 10_000] {
        let text = generate::dispatch_rules(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, t| {
            b.iter(|| toml::from_str::<RawFile>(black_box(t)).expect("valid TOML"))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    payload_size,
    mappings,
    dispatch,
    compile_rules,
    compile_expression_rules,
    load_rules
);
criterion_main!(benches);
