//! Running compiled minijinja expressions and templates against a frame's values.

use serde_json::Value;

use super::Frame;
use super::doc::Pruned;
use crate::codes::Code;
use crate::error::Error;
use crate::plan::Jinja;

/// The variable an expression's wrapper template sets.
pub(crate) const RESULT_VAR: &str = "__value";

/// The context of one call: only the variables the template reads, each converted once with
/// only the members it reads.
fn context(frame: &Frame<'_>, j: &Jinja) -> minijinja::Value {
    minijinja::Value::from_iter(j.vars.iter().filter_map(|var| {
        let node = frame.base_value(var.base)?;
        Some((
            var.name.as_str(),
            minijinja::Value::from_serialize(Pruned {
                node,
                reads: &var.reads,
            }),
        ))
    }))
}

fn failed(code: Code, j: &Jinja, e: &minijinja::Error) -> Error {
    let mut msg = e.kind().to_string();
    if let Some(detail) = e.detail() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (line {line})"));
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        msg.push_str(&format!("; caused by: {inner}"));
        source = inner.source();
    }
    Error::new(code, msg).with_path(&j.name)
}

/// Evaluates an expression: `None` when it is undefined.
pub(crate) fn eval(frame: &Frame<'_>, j: &Jinja) -> Result<Option<Value>, Error> {
    let value = expression_value(frame, j)?;
    if value.is_undefined() {
        return Ok(None);
    }
    serde_json::to_value(&value).map(Some).map_err(|e| {
        Error::new(Code::ExprFailed, format!("the value is not JSON: {e}")).with_path(&j.name)
    })
}

/// Evaluates an expression as a condition.
pub(crate) fn truthy(frame: &Frame<'_>, j: &Jinja) -> Result<bool, Error> {
    Ok(expression_value(frame, j)?.is_true())
}

fn expression_value(frame: &Frame<'_>, j: &Jinja) -> Result<minijinja::Value, Error> {
    let captured = frame
        .plan
        .env
        .get_template(&j.name)
        .and_then(|t| t.render_captured(context(frame, j)))
        .map_err(|e| failed(Code::ExprFailed, j, &e))?;
    Ok(captured.state().lookup(RESULT_VAR).unwrap_or_default())
}

/// Renders a template and parses its output as JSON.
pub(crate) fn render(frame: &Frame<'_>, j: &Jinja) -> Result<Value, Error> {
    let text = frame
        .plan
        .env
        .get_template(&j.name)
        .and_then(|t| t.render(context(frame, j)))
        .map_err(|e| failed(Code::TemplateFailed, j, &e))?;
    let max = frame.plan.parse_limits.template_bytes;
    if text.len() > max {
        return Err(Error::new(
            Code::TemplateFailed,
            format!(
                "the rendered output is {} bytes, the limit is {max}",
                text.len()
            ),
        )
        .with_path(&j.name));
    }
    serde_json::from_str(&text).map_err(|e| {
        Error::new(
            Code::TemplateNotJson,
            format!("the rendered output is not JSON: {e}"),
        )
        .with_path(&j.name)
    })
}
