//! The adapter over real HTTP on an ephemeral port, against isolated topics on the real broker
//! (`make up`). One test binary; the modules group the tables.

mod admission;
mod bodies;
mod common;
mod headers;
mod routes;
mod sender;
mod signatures;
mod tls;
