//! The TM/RM client library (being written).
