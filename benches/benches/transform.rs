//! Criterion benches of the canonical rule, by phase: compile, execute, and the projection.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use handoff_core::compile_paths;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn payloads() -> Vec<Vec<u8>> {
    let text = std::fs::read(root().join("fixtures/cxone_handoff/payloads.ndjson"))
        .expect("fixture payloads");
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn compile(c: &mut Criterion) {
    let rule = root().join("rules/cxone_handoff.toml");
    c.bench_function("compile/cxone_handoff", |b| {
        b.iter(|| compile_paths(&[black_box(&rule)]).expect("compiles"))
    });
}

fn execute(c: &mut Criterion) {
    let plan = compile_paths(&[root().join("rules/cxone_handoff.toml")])
        .expect("compiles")
        .plan;
    let payloads = payloads();
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("exec/cxone_handoff");
    group.throughput(Throughput::Bytes(bytes as u64));
    let mut out = Vec::with_capacity(1 << 12);
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

criterion_group!(benches, compile, execute);
criterion_main!(benches);
