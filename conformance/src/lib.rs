//! Conformance helpers against real Tars peers.
