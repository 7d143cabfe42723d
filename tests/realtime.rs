//! Real-time tests (the replay on the cpu backend), in a test binary of their
//! own: cargo runs test binaries one after the other, so these do not share
//! the two CI cores with the CPU-heavy simulation tests of `tests/tests.rs`,
//! whose load would delay the replay's wake-ups by milliseconds.

#[path = "common.rs"]
mod common;
#[path = "realtime/replay.rs"]
mod replay;
