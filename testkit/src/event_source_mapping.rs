//! A stand-in for Lambda's SQS event source mapping: polls a real queue (moto's SQS) and invokes the function through the emulator.
//!
//! Each round receives up to [`MappingConfig::batch_size`] messages (a long
//! poll), hands them to one invocation as Lambda's SQS event, and then does
//! what Lambda does with the answer: a response deletes every message but
//! those its `batchItemFailures` names (with `ReportBatchItemFailures`; a
//! response that names a message outside the batch fails the whole batch);
//! an error post deletes none. Messages left alone return after their
//! visibility timeout, or when the function changed it, and the queue's own
//! redrive policy (moto applies `maxReceiveCount`) moves them to its
//! dead-letter queue. One sandbox takes one batch at a time, as one
//! concurrency slot does; several sandboxes poll side by side, as many as
//! the trigger's maximum concurrency.

use crate::emulator::{InvocationSpec, Post, PostKind, RuntimeApiEmulator};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use aws_smithy_types::error::display::DisplayErrorContext;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The most messages one batch may hold from a standard queue without a
/// batching window (Lambda's limit, and `ReceiveMessage`'s).
pub const MAX_BATCH_SIZE: i32 = 10;

/// How long one `ReceiveMessage` waits for a message (a long poll): short,
/// so a drained queue is noticed quickly.
const RECEIVE_WAIT_SECONDS: i32 = 1;

/// How the mapping polls and invokes.
#[derive(Debug, Clone)]
pub struct MappingConfig {
    /// The queue's URL.
    pub queue_url: String,
    /// The queue's ARN (`eventSourceARN` in each record).
    pub queue_arn: String,
    /// Messages per invocation, 1 to [`MAX_BATCH_SIZE`].
    pub batch_size: i32,
    /// Whether the function's `batchItemFailures` are honoured
    /// (`FunctionResponseTypes: ReportBatchItemFailures`); without it, a
    /// response deletes the whole batch.
    pub report_batch_item_failures: bool,
    /// The function's timeout: each invocation's deadline.
    pub function_timeout: Duration,
    /// The region in each record.
    pub region: String,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Messages in the batch (0: the queue had none visible).
    pub received: usize,
    /// Messages deleted after the answer.
    pub deleted: usize,
    /// The invocation's answer, when there was one.
    pub kind: Option<PostKind>,
}

/// Totals of [`EventSourceMapping::drain`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Invocations made.
    pub invocations: usize,
    /// Messages received, redeliveries included.
    pub received: usize,
    /// Messages deleted (processed).
    pub deleted: usize,
    /// Invocations answered with an error post.
    pub errors: usize,
    /// Invocations per sandbox, in the order given
    /// ([`EventSourceMapping::drain_concurrently`]; empty after
    /// [`EventSourceMapping::drain`]).
    pub per_sandbox: Vec<usize>,
}

/// The mapping's failures: an SQS call, or an invocation never answered.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// An SQS request failed.
    #[error("failed to {operation} on {queue}: {detail}")]
    Sqs {
        /// The request.
        operation: &'static str,
        /// The queue URL.
        queue: String,
        /// The SDK's error chain.
        detail: String,
    },
    /// The function posted no answer in time.
    #[error("invocation {request_id} got no answer within {waited:?}")]
    NoAnswer {
        /// The request id.
        request_id: String,
        /// How long the mapping waited.
        waited: Duration,
    },
    /// The queue still held messages when the mapping's patience ran out.
    #[error("the queue still holds {left} messages after {waited:?}")]
    NotDrained {
        /// Messages visible or in flight.
        left: u64,
        /// How long the mapping ran.
        waited: Duration,
    },
}

/// The stand-in: one queue, one function.
#[derive(Debug, Clone)]
pub struct EventSourceMapping {
    sqs: Client,
    config: MappingConfig,
}

impl EventSourceMapping {
    /// A mapping of `config.queue_url` through `sqs`.
    pub fn new(sqs: Client, config: MappingConfig) -> EventSourceMapping {
        EventSourceMapping { sqs, config }
    }

    /// One round: receive a batch, invoke, settle the messages.
    pub async fn poll_once(&self, emulator: &RuntimeApiEmulator) -> Result<Round, MappingError> {
        let config = &self.config;
        let received = self.receive().await?;
        let messages = received.messages();
        if messages.is_empty() {
            return Ok(Round::default());
        }
        let records: Vec<serde_json::Value> = messages.iter().map(|m| self.record(m)).collect();
        let event = serde_json::json!({ "Records": records });
        let spec = InvocationSpec::new(event.to_string()).with_timeout(config.function_timeout);
        let request_id = emulator.enqueue(spec);
        // The function's own timeout post arrives by the deadline; a
        // little more covers a loaded machine.
        let waited = config.function_timeout + Duration::from_secs(30);
        let post = emulator
            .wait_for_final_result(&request_id, waited)
            .await
            .ok_or(MappingError::NoAnswer { request_id, waited })?;
        let done = self.processed(messages, &post);
        let deleted = self.delete(&done).await?;
        Ok(Round {
            received: messages.len(),
            deleted,
            kind: Some(post.kind),
        })
    }

    /// One long-polled receive of a batch, with every attribute.
    async fn receive(
        &self,
    ) -> Result<aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput, MappingError> {
        self.sqs
            .receive_message()
            .queue_url(&self.config.queue_url)
            .max_number_of_messages(self.config.batch_size.clamp(1, MAX_BATCH_SIZE))
            .wait_time_seconds(RECEIVE_WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| self.sqs_error("receive messages", &e))
    }

    /// A round whose sandbox dies: receives a batch and starts its invocation
    /// on `emulator`, then walks away (nothing is deleted or answered: the
    /// messages come back after their visibility timeout, as they do when
    /// Lambda loses a sandbox mid-invocation). The request id, or `None`
    /// when the queue held nothing.
    pub async fn abandon_once(
        &self,
        emulator: &RuntimeApiEmulator,
    ) -> Result<Option<String>, MappingError> {
        let config = &self.config;
        let received = self.receive().await?;
        let messages = received.messages();
        if messages.is_empty() {
            return Ok(None);
        }
        let records: Vec<serde_json::Value> = messages.iter().map(|m| self.record(m)).collect();
        let event = serde_json::json!({ "Records": records });
        let spec = InvocationSpec::new(event.to_string()).with_timeout(config.function_timeout);
        Ok(Some(emulator.enqueue(spec)))
    }

    /// Rounds until the queue holds no message, visible or in flight, or
    /// `patience` runs out.
    pub async fn drain(
        &self,
        emulator: &RuntimeApiEmulator,
        patience: Duration,
    ) -> Result<Drained, MappingError> {
        self.drain_from(emulator, Instant::now(), patience).await
    }

    /// [`Self::drain`] with one poller a sandbox, side by side: the
    /// trigger's maximum concurrency is the number of `sandboxes`, each
    /// taking one batch at a time, as Lambda's pollers feed warm sandboxes.
    /// Totals are summed; [`Drained::per_sandbox`] says how many invocations
    /// each took.
    pub async fn drain_concurrently(
        &self,
        sandboxes: &[&RuntimeApiEmulator],
        patience: Duration,
    ) -> Result<Drained, MappingError> {
        let started = Instant::now();
        let pollers = sandboxes
            .iter()
            .map(|emulator| self.drain_from(emulator, started, patience));
        let mut total = Drained::default();
        for drained in futures_util::future::join_all(pollers).await {
            let drained = drained?;
            total.invocations += drained.invocations;
            total.received += drained.received;
            total.deleted += drained.deleted;
            total.errors += drained.errors;
            total.per_sandbox.push(drained.invocations);
        }
        Ok(total)
    }

    async fn drain_from(
        &self,
        emulator: &RuntimeApiEmulator,
        started: Instant,
        patience: Duration,
    ) -> Result<Drained, MappingError> {
        let mut drained = Drained::default();
        loop {
            let round = self.poll_once(emulator).await?;
            drained.invocations += usize::from(round.received > 0);
            drained.received += round.received;
            drained.deleted += round.deleted;
            drained.errors += usize::from(round.kind == Some(PostKind::Error));
            // A message that keeps coming back keeps every round busy: the
            // patience holds for those rounds too.
            let left = self.messages_left().await?;
            if left == 0 {
                return Ok(drained);
            }
            if started.elapsed() >= patience {
                return Err(MappingError::NotDrained {
                    left,
                    waited: started.elapsed(),
                });
            }
        }
    }

    /// Messages visible, in flight or delayed.
    pub async fn messages_left(&self) -> Result<u64, MappingError> {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.config.queue_url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(Name::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| self.sqs_error("get queue attributes", &e))?;
        Ok(attributes
            .attributes()
            .map(|map| {
                map.values()
                    .filter_map(|value| value.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0))
    }

    /// The messages the answer lets Lambda delete.
    fn processed<'a>(&self, messages: &'a [Message], post: &Post) -> Vec<&'a Message> {
        if post.kind != PostKind::Response {
            return Vec::new();
        }
        if !self.config.report_batch_item_failures {
            return messages.iter().collect();
        }
        let ids: HashSet<&str> = messages.iter().filter_map(|m| m.message_id()).collect();
        // An empty or null response is a success; one that is not JSON fails
        // the whole batch, as Lambda treats it.
        let answer = if post.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            match serde_json::from_slice::<serde_json::Value>(&post.body) {
                Ok(answer) => answer,
                Err(_) => return Vec::new(),
            }
        };
        let failed: Option<HashSet<&str>> = match answer.get("batchItemFailures") {
            None | Some(serde_json::Value::Null) => Some(HashSet::new()),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.get("itemIdentifier")
                        .and_then(|id| id.as_str())
                        .filter(|id| ids.contains(id))
                })
                .collect(),
            Some(_) => None,
        };
        // An identifier that is missing, empty or not in the batch fails
        // the whole batch, as Lambda treats it.
        let Some(failed) = failed else {
            return Vec::new();
        };
        messages
            .iter()
            .filter(|m| !m.message_id().is_some_and(|id| failed.contains(id)))
            .collect()
    }

    async fn delete(&self, messages: &[&Message]) -> Result<usize, MappingError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter_map(|(index, message)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(message.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        let answer = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.config.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.sqs_error("delete messages", &e))?;
        Ok(answer.successful().len())
    }

    /// One record of Lambda's SQS event.
    fn record(&self, message: &Message) -> serde_json::Value {
        let attributes: serde_json::Map<String, serde_json::Value> = message
            .attributes()
            .map(|map| {
                map.iter()
                    .map(|(name, value)| (name.as_str().to_owned(), value.clone().into()))
                    .collect()
            })
            .unwrap_or_default();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let mut attributes = serde_json::Value::Object(attributes);
        if attributes.get("ApproximateReceiveCount").is_none() {
            attributes["ApproximateReceiveCount"] = "1".into();
        }
        if attributes.get("SentTimestamp").is_none() {
            attributes["SentTimestamp"] = now_ms.to_string().into();
        }
        // Lambda's shape: {"name": {"stringValue", "dataType", ...}}.
        let message_attributes: serde_json::Map<String, serde_json::Value> = message
            .message_attributes()
            .map(|map| {
                map.iter()
                    .map(|(name, value)| {
                        let mut attribute = serde_json::json!({
                            "dataType": value.data_type(),
                            "stringListValues": [],
                            "binaryListValues": [],
                        });
                        if let Some(text) = value.string_value() {
                            attribute["stringValue"] = text.into();
                        }
                        if let Some(blob) = value.binary_value() {
                            attribute["binaryValue"] =
                                aws_smithy_types::base64::encode(blob.as_ref()).into();
                        }
                        (name.clone(), attribute)
                    })
                    .collect()
            })
            .unwrap_or_default();
        serde_json::json!({
            "messageId": message.message_id().unwrap_or_default(),
            "receiptHandle": message.receipt_handle().unwrap_or_default(),
            "body": message.body().unwrap_or_default(),
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.md5_of_body().unwrap_or_default(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.config.queue_arn,
            "awsRegion": self.config.region,
        })
    }

    fn sqs_error<E: std::error::Error + 'static>(
        &self,
        operation: &'static str,
        error: &E,
    ) -> MappingError {
        MappingError::Sqs {
            operation,
            queue: self.config.queue_url.clone(),
            detail: DisplayErrorContext(error).to_string(),
        }
    }
}
