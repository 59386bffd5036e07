//! Placeholder: replaced by the property tests.
