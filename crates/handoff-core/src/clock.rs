//! The clock a transform's `now` sources read: the system's, or one pinned by a test.

use std::time::SystemTime;

/// Where a `now` source reads the time. Production reads the system clock; a test pins it,
/// so that a rule that writes the time can be compared exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock, read once per rule run (every `now` of one output is the same instant).
    #[default]
    System,
    /// This instant, always.
    Fixed(SystemTime),
}

impl Clock {
    /// A clock pinned to an RFC 3339 time (`2026-11-11T06:25:16Z`, `2026-11-11T06:25:16.250Z`).
    pub fn parse_rfc3339(text: &str) -> Result<Clock, String> {
        text.parse::<jiff::Timestamp>()
            .map(|t| Clock::Fixed(t.into()))
            .map_err(|e| format!("`{text}` is not an RFC 3339 time with an offset ({e})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_that_cannot_be_pinned_are_refused() {
        assert!(Clock::parse_rfc3339("yesterday").is_err());
        assert!(Clock::parse_rfc3339("2026-13-01T00:00:00Z").is_err());
        assert!(
            Clock::parse_rfc3339("2026-11-11T06:25:16").is_err(),
            "a time without an offset names no instant"
        );
    }
}
