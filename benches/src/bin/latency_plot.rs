//! Per-transform latency of the canonical rule over the fixture payloads, in process: an HDR
//! histogram, its percentiles on stdout and a histogram plot as SVG.
//!
//! `cargo run --release -p handoff-benches --bin latency_plot -- [--transforms N] [--out FILE]`
//! (defaults: 100,000 transforms, `docs/latency.svg`).

use std::error::Error;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use handoff_benches::fixtures;
use handoff_core::compile_paths;
use hdrhistogram::Histogram;
use plotters::prelude::*;

type Res<T> = Result<T, Box<dyn Error>>;

/// The bottom of the log-scale count axis: a bin of one transform still shows.
const FLOOR: f64 = 0.5;

struct Args {
    transforms: usize,
    out: PathBuf,
}

fn args() -> Res<Args> {
    let mut a = Args {
        transforms: 100_000,
        out: fixtures::repo_path("docs/latency.svg"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--transforms" => a.transforms = value.parse()?,
            "--out" => a.out = value.into(),
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    if a.transforms == 0 {
        return Err("--transforms must be at least 1".into());
    }
    Ok(a)
}

/// Transforms the fixture payloads round-robin, recording each transform's wall time in ns.
fn measure(transforms: usize) -> Res<Histogram<u64>> {
    let rule = fixtures::repo_path("rules/cxone_handoff.toml");
    let plan = compile_paths(&[rule]).map_err(|d| d.render(false))?.plan;
    let payloads = fixtures::canonical_payloads()?;
    if payloads.is_empty() {
        return Err("no fixture payloads".into());
    }
    let mut out = Vec::with_capacity(1 << 12);
    for p in payloads.iter().cycle().take(payloads.len() * 5) {
        out.clear();
        plan.transform(p, None, &mut out)?;
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for p in payloads.iter().cycle().take(transforms) {
        out.clear();
        let start = Instant::now();
        plan.transform(p, None, &mut out)?;
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        hist.saturating_record(ns.max(1));
    }
    Ok(hist)
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Bars of the distribution up to a little past p99.9 (counts on a log scale, so the tail
/// shows), and lines at p50, p99 and p99.9.
fn plot(hist: &Histogram<u64>, out: &PathBuf) -> Res<()> {
    let (p50, p99, p999) = (
        hist.value_at_quantile(0.50),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
    );
    let x_max = us(p999) * 1.25;
    let bins = 120u64;
    let step_ns = ((x_max * 1000.0) as u64 / bins).max(1);
    let mut bars = Vec::new();
    let mut shown = 0;
    for v in hist.iter_linear(step_ns) {
        let hi = v.value_iterated_to() + 1;
        if us(hi) > x_max {
            break;
        }
        let n = v.count_since_last_iteration();
        shown += n;
        bars.push((us(hi.saturating_sub(step_ns)), us(hi), n));
    }
    let y_max = bars.iter().map(|b| b.2).max().unwrap_or(1) as f64 * 2.0;
    let hidden = hist.len() - shown;

    let root = SVGBackend::new(out, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "cxone_handoff: {} in-process transforms over the 400 fixture payloads",
        hist.len()
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, (FLOOR..y_max).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(format!(
            "latency per transform, µs ({hidden} above {x_max:.1} µs not drawn; max {:.1} µs)",
            us(hist.max())
        ))
        .y_desc("transforms per bin (log scale)")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    chart.draw_series(
        bars.iter().map(|&(lo, hi, n)| {
            Rectangle::new([(lo, 0.0), (hi, n as f64)], BLUE.mix(0.6).filled())
        }),
    )?;
    for (name, ns, color) in [
        ("p50", p50, GREEN),
        ("p99", p99, RED),
        ("p99.9", p999, BLACK),
    ] {
        let x = us(ns);
        chart
            .draw_series(LineSeries::new(
                [(x, FLOOR), (x, y_max)],
                color.stroke_width(2),
            ))?
            .label(format!("{name} {x:.2} µs"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn run() -> Res<()> {
    let a = args()?;
    let hist = measure(a.transforms)?;
    plot(&hist, &a.out)?;
    let q = |x: f64| us(hist.value_at_quantile(x));
    // Written, not printed: a closed pipe is an error to report, not a panic.
    let mut o = std::io::stdout().lock();
    writeln!(o, "transforms {}", hist.len())?;
    writeln!(
        o,
        "p50 {:.2} µs  p90 {:.2} µs  p99 {:.2} µs  p99.9 {:.2} µs  max {:.2} µs  mean {:.2} µs",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        us(hist.max()),
        hist.mean() / 1000.0
    )?;
    writeln!(o, "p99/p50 {:.2}", q(0.99) / q(0.5))?;
    writeln!(o, "wrote {}", a.out.display())?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latency_plot: {e}");
            ExitCode::FAILURE
        }
    }
}
