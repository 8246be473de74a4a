//! The one step from history to a replica decision (being built).
