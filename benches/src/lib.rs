//! Set-up shared by the handoff benches: fixture payloads, and rules and payloads generated in
//! memory for the scaling series (nothing large is committed).

pub mod fixtures;
pub mod generate;
