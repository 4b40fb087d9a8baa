//! Kafka for ferroloop.
//!
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

pub mod admin;
pub mod batch_loop;
pub mod boundary;
pub mod config;
pub mod consumer;
pub mod envelope;
pub mod events;
pub mod failpoint;
pub mod output;
pub mod probe;
pub mod producer;

pub use batch_loop::{BatchHandler, HandlerError, LoopParts, RetryPolicy};
pub use boundary::BoundaryArgs;
pub use config::{KafkaArgs, Topics};
pub use consumer::{BatchConsumer, ReceivedMessage};
pub use envelope::{Authentication, Envelope, EventState, Payload, Principal};
pub use output::Outputs;
pub use producer::{BatchProducer, OutboundMessage};
pub use rdkafka::error::KafkaError;
