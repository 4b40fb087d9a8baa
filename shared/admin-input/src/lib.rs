//! The admin API's input side, without I/O: [`input`] reads request bodies with central-ledger's
//! error contract, [`requests`] validates each request body the admin API accepts. The service
//! (services/admin-api) runs these before touching the database; the fuzz targets (shared/fuzz/) run
//! them on arbitrary bytes.

pub mod input;
pub mod requests;
