//! handoff-runner: feeds payloads through a compiled plan without losing any, and measures it.
//!
//! - [`batch`]: NDJSON / JSON inputs -> outputs in input order on one or N threads, failures
//!   to a dead-letter sink with their raw bytes, an audit record per input, a reconciled
//!   [`Summary`];
//! - [`audit`]: the audit record of an input or a webhook, one shape for the CLI and the gateway;
//! - [`summary`]: counts and latency percentiles of a run;
//! - [`ruletest`]: the tests that live with the rules (`[[rule.test]]`);
//! - [`runner`]: the embeddable [`Runner`]: thread-safe, hot-reloaded, with per-rule metrics.
//!
//! ```
//! use handoff_core::compile_text;
//! use handoff_runner::batch::{run_batch, Input};
//!
//! let rule = "[[rule]]\nname = \"r\"\n[rule.map]\nid = { path = \"$.id\", required = true }\n";
//! let plan = compile_text("r.toml", rule).unwrap().plan;
//! let input = Input::ndjson("stdin", &b"{\"id\": 1}\nnot json\n{\"x\": 2}\n"[..]);
//! let (mut out, mut dead) = (Vec::new(), Vec::new());
//! let summary = run_batch(&plan, vec![input], &mut out, Some(&mut dead)).unwrap();
//! assert_eq!((summary.read, summary.ok, summary.failed), (3, 1, 2));
//! assert_eq!(out, b"{\"id\":1}\n");
//! assert_eq!(dead.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 2);
//! ```

#![deny(missing_docs)]

pub mod audit;
pub mod batch;
pub mod ruletest;
pub mod runner;
pub mod summary;
pub mod watch;

pub use runner::{Guard, Runner};
pub use summary::Summary;
