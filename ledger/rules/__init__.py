"""The regulation as pure functions: one home per rule, each citing its ID."""
