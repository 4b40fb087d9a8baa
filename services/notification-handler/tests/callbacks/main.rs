//! The notification handler against the real broker, the real database and real HTTP servers
//! playing the DFSPs.

mod delivery;
mod endpoints;
mod harness;
mod jws;
mod matrix;
mod tls;
