//! The limits that protect the engine, with their defaults.

/// Limits of a rule; each can be set in a rule file's `[limits]` table (for all its rules) or in
/// a rule's own `limits` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most segments a JSONPath may have (checked at compile time). Default 5.
    pub path_depth: usize,
    /// Largest payload in bytes (checked before parsing). Default 256 KiB.
    pub payload_bytes: usize,
    /// Deepest nesting of arrays and objects in the parts of a payload a rule reads.
    /// Default 64, at most 128.
    pub payload_depth: usize,
    /// Fuel of one template or expression evaluation (minijinja instructions). Default 50,000.
    pub template_fuel: u64,
    /// Largest rendered template output in bytes. Default 256 KiB.
    pub template_bytes: usize,
}

impl Limits {
    /// The hard ceiling of `payload_depth`: deeper values would risk the parser's stack.
    pub const MAX_PAYLOAD_DEPTH: usize = 128;
    /// The hard ceiling of a JSONPath's length in bytes, checked before it is parsed.
    pub const MAX_PATH_BYTES: usize = 4096;
    /// The hard ceiling of bracket and parenthesis nesting in a JSONPath, checked before parsing.
    pub const MAX_PATH_NESTING: usize = 32;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            path_depth: 5,
            payload_bytes: 256 * 1024,
            payload_depth: 64,
            template_fuel: 50_000,
            template_bytes: 256 * 1024,
        }
    }
}
