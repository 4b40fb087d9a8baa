//! Kafka for ferroloop.
//!
//! - [`action`]: `metadata.event.action`, parsed once when an envelope is decoded.
//! - [`envelope`]: Mojaloop's message envelope on the boundary topics (original body bytes as a
//!   data URI, event type/action/state vocabulary).
//! - [`config`]: broker settings ([`KafkaArgs`]) and topic names ([`Topics`]).
//! - [`consumer`]: an at-least-once batch consumer (offsets stored only after a batch is done).
//! - [`producer`]: a producer that puts a whole batch in flight before awaiting acknowledgements.
//! - [`batch_loop`]: the consume → handle → produce → store-offsets loop with bounded retries and
//!   a dead-letter topic.
//! - [`failpoint`]: the chaos campaign's crash points in the batch loop (inert unless armed).
//! - [`events`]: the event vocabulary and builders for forwarded and hub-originated messages.
//! - [`boundary`]: who sent a request, as handlers may believe it (the authenticated principal).
//! - [`admin`]: topic creation.
//! - [`probe`]: the broker probe behind health and readiness.
//!
//! Everything but [`envelope`], [`events`] and [`boundary`] is behind the default feature `kafka`; without it
//! the crate is pure (no rdkafka, no tokio), for the fuzz targets of the envelope decoding.

pub mod action;
#[cfg(feature = "kafka")]
pub mod admin;
#[cfg(feature = "kafka")]
pub mod batch_loop;
pub mod boundary;
#[cfg(feature = "kafka")]
pub mod config;
#[cfg(feature = "kafka")]
pub mod consumer;
pub mod envelope;
pub mod events;
#[cfg(feature = "kafka")]
pub mod failpoint;
#[cfg(feature = "kafka")]
pub mod output;
#[cfg(feature = "kafka")]
pub mod probe;
#[cfg(feature = "kafka")]
pub mod producer;

pub use action::Action;
#[cfg(feature = "kafka")]
pub use batch_loop::{BatchHandler, HandlerError, LoopParts, RetryPolicy};
pub use boundary::BoundaryArgs;
#[cfg(feature = "kafka")]
pub use config::{KafkaArgs, Topics};
#[cfg(feature = "kafka")]
pub use consumer::{BatchConsumer, ReceivedMessage};
pub use envelope::{Authentication, Envelope, EventState, Payload, Principal};
#[cfg(feature = "kafka")]
pub use output::Outputs;
#[cfg(feature = "kafka")]
pub use producer::{BatchProducer, OutboundMessage};
#[cfg(feature = "kafka")]
pub use rdkafka::error::KafkaError;
