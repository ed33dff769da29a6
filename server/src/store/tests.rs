//! Unit tests of the state model.
