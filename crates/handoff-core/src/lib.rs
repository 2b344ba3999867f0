//! handoff-core: compile TOML transformation rules into an immutable plan and run JSON payloads
//! through it.
//!
//! The pipeline shows in the modules:
//!
//! - [`rules`]: the rule model, a literal serde mirror of a TOML rule file, and the JSON
//!   Schema of the file format derived from it ([`rules::schema`]);
//! - [`compile`](compile_paths): validate and compile rule files, collecting every
//!   [`Diagnostic`] with file, line, column, a stable [`Code`] and a hint;
//! - [`Plan`]: immutable and `Send + Sync`: parsed JSONPaths, compiled templates, the
//!   projection of what payloads it reads, the output tree it writes, the dispatch order (runs
//!   of rules keyed on one value become a table);
//! - `exec`: the hot path, [`Plan::transform`], which parses only the projected parts of a
//!   payload into a tree of its own (borrowed names and strings, no hashing) and never parses
//!   a rule.
//!
//! ```
//! use handoff_core::{compile_text, Outcome};
//!
//! let rule = r#"
//! [[rule]]
//! name = "greet"
//!
//! [rule.map]
//! "user.name"  = { path = "$.name", cast = "string", fallback = "guest" }
//! "user.score" = { path = "$.score", cast = "number" }
//! "#;
//! let plan = compile_text("greet.toml", rule).expect("the rule compiles").plan;
//!
//! let mut out = Vec::new();
//! let outcome = plan.transform(br#"{"score": "49.90", "noise": [1, 2]}"#, None, &mut out).unwrap();
//! assert_eq!(outcome, Outcome::Transformed { rule: "greet" });
//! assert_eq!(out, br#"{"user":{"name":"guest","score":49.9}}"#);
//! ```

#![deny(missing_docs)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod clock;
mod codes;
mod compile;
mod diagnostic;
mod error;
mod exec;
mod limits;
pub mod plan;
// The raw model's fields are the rule-file keys, documented in docs/rules.md.
#[allow(missing_docs)]
pub mod rules;

pub use clock::Clock;
pub use codes::Code;
pub use compile::{Compiled, compile_paths, compile_sources, compile_text};
pub use diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};
pub use error::Error;
pub use exec::{Call, Outcome};
pub use limits::Limits;
pub use plan::{Plan, PlanInfo};
