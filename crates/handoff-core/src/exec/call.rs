//! What one transform reads besides the plan and the payload: the rule, the context, the clock.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::clock::Clock;
use crate::plan::NowFormat;

/// The inputs of one transform besides the payload: which rule runs (`None`: dispatch), the
/// gateway context the `$context` paths read, and the clock the `now` sources read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call<'a> {
    /// The rule to run by name; `None` runs the first rule whose condition holds.
    pub rule: Option<&'a str>,
    /// The context (`$context` paths and the `context` template variable).
    pub context: Option<&'a Value>,
    /// Where `now` reads the time.
    pub clock: Clock,
}

impl<'a> Call<'a> {
    /// Dispatch with this context, on the system clock.
    pub fn new(context: Option<&'a Value>) -> Self {
        Call {
            context,
            ..Call::default()
        }
    }

    /// The same call, for the named rule (or dispatch, with `None`).
    pub fn rule(self, rule: Option<&'a str>) -> Self {
        Call { rule, ..self }
    }

    /// The same call, with this clock.
    pub fn clock(self, clock: Clock) -> Self {
        Call { clock, ..self }
    }
}

/// The clock of one rule run: the system clock is read on the first `now` and kept.
#[derive(Debug)]
pub(crate) struct Now {
    clock: Clock,
    read: Cell<Option<SystemTime>>,
}

impl Now {
    pub(crate) fn new(clock: Clock) -> Self {
        Now {
            clock,
            read: Cell::new(None),
        }
    }

    /// The instant of this run, written in `format`.
    pub(crate) fn value(&self, format: NowFormat) -> Value {
        let at = match (self.clock, self.read.get()) {
            (Clock::Fixed(at), _) | (Clock::System, Some(at)) => at,
            (Clock::System, None) => {
                let at = SystemTime::now();
                self.read.set(Some(at));
                at
            }
        };
        format_time(at, format)
    }
}

fn format_time(at: SystemTime, format: NowFormat) -> Value {
    // A pinned time before 1970 writes the epoch (the formats are unsigned).
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    match format {
        NowFormat::UnixMs => Value::from(u64::try_from(since.as_millis()).unwrap_or(u64::MAX)),
        NowFormat::Unix => Value::from(since.as_secs()),
        NowFormat::Rfc3339 => {
            Value::String(humantime::format_rfc3339_millis(UNIX_EPOCH + since).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_system_clock_writes_the_three_formats() {
        let now = Now::new(Clock::System);
        let text = now.value(NowFormat::Rfc3339);
        let text = text.as_str().unwrap();
        assert_eq!(
            (text.len(), &text[10..11], &text[19..20], &text[23..]),
            (24, "T", ".", "Z"),
            "{text}"
        );
        let ms = now.value(NowFormat::UnixMs).as_u64().unwrap();
        let s = now.value(NowFormat::Unix).as_u64().unwrap();
        assert_eq!(ms / 1000, s, "one run reads the clock once");
        assert!(s > 1_700_000_000, "{s}");
    }

    #[test]
    fn a_pinned_clock_writes_exactly_its_instant() {
        let clock = Clock::parse_rfc3339("2026-11-11T06:25:16.250Z").unwrap();
        let now = Now::new(clock);
        assert_eq!(now.value(NowFormat::Rfc3339), "2026-11-11T06:25:16.250Z");
        assert_eq!(now.value(NowFormat::UnixMs), 1_794_378_316_250_u64);
        assert_eq!(now.value(NowFormat::Unix), 1_794_378_316_u64);
        let offset = Clock::parse_rfc3339("2026-11-11T07:25:16+01:00").unwrap();
        assert_eq!(
            Now::new(offset).value(NowFormat::Unix),
            1_794_378_316_u64,
            "an offset is taken into account"
        );
    }

    #[test]
    fn a_time_before_the_epoch_writes_the_epoch() {
        let now = Now::new(Clock::Fixed(UNIX_EPOCH - Duration::from_secs(5)));
        assert_eq!(now.value(NowFormat::Unix), 0);
        assert_eq!(now.value(NowFormat::Rfc3339), "1970-01-01T00:00:00.000Z");
    }
}
