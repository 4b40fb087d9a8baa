//! The notification handler against the real broker, the real database and real HTTP servers
//! playing the DFSPs.

mod addresses;
mod delivery;
mod destination;
mod endpoints;
mod harness;
mod isolation;
mod jws;
mod matrix;
mod restart;
mod tls;
