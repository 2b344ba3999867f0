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
    /// Most filter selectors (`[?…]`) nested inside one another in a JSONPath, checked before
    /// parsing. serde_json_path parses a nested query once for each alternative it tries, so
    /// parse time doubles with every level (measured in release: 0.1 ms at 4 levels, 14 ms at
    /// 12, 4 s at 20); the RFC 9535 suite needs 2.
    pub const MAX_FILTER_NESTING: usize = 4;
    /// Longest regular expression literal of `match()` / `search()` in a JSONPath, in bytes as
    /// written, checked before parsing. (Each expression is compiled once per thread, with a
    /// 1 MiB limit on its compiled size.)
    pub const MAX_REGEX_BYTES: usize = 256;
    /// Most descendant segments (`..`) in a JSONPath, counting those of the queries inside its
    /// filters, checked at compile time. One `..` can multiply the nodes a path selects (and
    /// what `select = "all"` copies) by the depth of the payload; each further one by the depth
    /// again. Measured in release: `$..a..a..a..a..a` selects 7.6 million nodes from a 400-byte
    /// payload nested 64 deep, and with two, `$..*..*` and `select = "all"` turn a 120 KB
    /// payload nested 62 deep into 227 MB of output in 19 s (one `..`: 7 MB in 0.2 s).
    ///
    /// Also checked at compile time: an absolute query inside a filter (`$[?@.x == $.y]`) must
    /// be singular (names and indices only), since the filter evaluates it again for every node
    /// it tests (`$[?$[?@ == 3]]` is quadratic: 14 s on a 20,000-element array); and the
    /// pattern of `match()` / `search()` must not be read from the node tested (`@`), since
    /// each node's pattern would be compiled (1000 items with `\w{20}`-like patterns: 6 s).
    pub const MAX_DESCENDANT_SEGMENTS: usize = 1;
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
