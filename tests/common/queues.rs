//! A queue and its dead-letter queue on moto's SQS, as `deploy/` makes them, and the event-source-mapping stand-in that triggers the function from it.

use super::bucket_name;
use aws_sdk_sqs::types::QueueAttributeName;
use s3_stream_testkit::event_source_mapping::{EventSourceMapping, MappingConfig};
use s3_stream_testkit::local_s3::{LOCAL_REGION, sqs_client};
use std::time::Duration;

/// A queue with a redrive policy to its dead-letter queue.
pub struct Queues {
    /// The client both were made with.
    pub sqs: aws_sdk_sqs::Client,
    /// The queue's URL.
    pub url: String,
    /// The queue's ARN.
    pub arn: String,
    /// The dead-letter queue's URL.
    pub dlq_url: String,
}

impl Queues {
    /// A queue for `test` whose received messages stay invisible for
    /// `visibility_timeout_seconds`, moved to its dead-letter queue after
    /// `max_receive_count` receives.
    pub async fn new(
        test: &str,
        visibility_timeout_seconds: u32,
        max_receive_count: u32,
    ) -> Queues {
        let sqs = sqs_client(super::endpoint());
        let name = bucket_name(test);
        let dlq_url = create_queue(&sqs, format!("{name}-dlq"), &[]).await;
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receive_count.to_string(),
        });
        let attributes = [
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout_seconds.to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        ];
        let url = create_queue(&sqs, name, &attributes).await;
        let arn = queue_arn(&sqs, &url).await;
        Queues {
            sqs,
            url,
            arn,
            dlq_url,
        }
    }

    /// Sends `body` as one message.
    pub async fn send(&self, body: &serde_json::Value) {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body.to_string())
            .send()
            .await
            .expect("send a message");
    }

    /// The trigger: `batch_size` messages an invocation of at most
    /// `function_timeout`, partial batch responses on.
    pub fn mapping(&self, batch_size: i32, function_timeout: Duration) -> EventSourceMapping {
        EventSourceMapping::new(
            self.sqs.clone(),
            MappingConfig {
                queue_url: self.url.clone(),
                queue_arn: self.arn.clone(),
                batch_size,
                report_batch_item_failures: true,
                function_timeout,
                region: LOCAL_REGION.to_owned(),
            },
        )
    }

    /// The bodies the dead-letter queue holds (up to ten).
    pub async fn dead_letters(&self) -> Vec<serde_json::Value> {
        let dead = self
            .sqs
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive from the dead-letter queue");
        dead.messages()
            .iter()
            .filter_map(|m| serde_json::from_str(m.body()?).ok())
            .collect()
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    attributes
        .attributes()
        .and_then(|map| map.get(&QueueAttributeName::QueueArn))
        .cloned()
        .expect("a queue arn")
}

/// Creates queue `name` with `attributes`; its URL.
async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: String,
    attributes: &[(QueueAttributeName, String)],
) -> String {
    let mut request = sqs.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        request = request.attributes(attribute.clone(), value);
    }
    let created = request.send().await.expect("create a queue");
    created.queue_url().unwrap_or_default().to_owned()
}
