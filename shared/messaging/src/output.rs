//! Building a handler's output messages: where each kind of message goes and with which key.

use ferroloop_core::ledger_id::AccountId;

use crate::config::Topics;
use crate::consumer::ReceivedMessage;
use crate::envelope::Envelope;
use crate::producer::OutboundMessage;

/// Addresses output messages to the flow's topics.
#[derive(Debug, Clone)]
pub struct Outputs {
    topics: Topics,
    handler: &'static str,
}

impl Outputs {
    pub fn new(topics: Topics, handler: &'static str) -> Self {
        Self { topics, handler }
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// To the notification handler (no key, as Mojaloop produces it).
    pub fn notification(&self, envelope: &Envelope) -> OutboundMessage {
        OutboundMessage {
            topic: self.topics.notification.clone(),
            key: None,
            payload: envelope.to_json_bytes(),
        }
    }

    /// To the position handler, keyed by the position account the message changes.
    pub fn position(&self, envelope: &Envelope, account_id: AccountId) -> OutboundMessage {
        OutboundMessage {
            topic: self.topics.position.clone(),
            key: Some(account_id.to_string()),
            payload: envelope.to_json_bytes(),
        }
    }

    /// A consumed message nobody can be answered about, parked with the reason.
    pub fn dead_letter(&self, message: &ReceivedMessage, reason: &str) -> OutboundMessage {
        tracing::error!(handler = self.handler, reason, topic = %message.topic,
            partition = message.partition, offset = message.offset, "message cannot be processed");
        metrics::counter!("ferroloop_dead_letters_total", "handler" => self.handler).increment(1);
        OutboundMessage {
            topic: self.topics.dead_letter.clone(),
            key: message.key_str().map(str::to_owned),
            payload: serde_json::json!({
                "handler": self.handler,
                "error": reason,
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "payload": String::from_utf8_lossy(&message.payload),
            })
            .to_string()
            .into_bytes(),
        }
    }
}
