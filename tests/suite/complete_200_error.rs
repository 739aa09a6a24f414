//! CompleteMultipartUpload can answer HTTP 200 with an `<Error>` body; the copy
//! must treat that as a failure and abort. S3 itself cannot be told to do this,
//! so a minimal fake S3 endpoint on loopback plays that one part.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use s3_stream_lambda::copy::upload::MultipartUpload;
use s3_stream_lambda::copy::{Destination, ObjectMetadata, Part, UploadOptions};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Answers create, upload-part and abort like S3, and complete with 200 + `<Error>`.
async fn fake_s3(
    request: Request<hyper::body::Incoming>,
    calls: Arc<Mutex<Vec<String>>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = request.method().clone();
    let query = request.uri().query().unwrap_or("").to_owned();
    let _ = request.into_body().collect().await?;
    let (status, headers, body): (u16, Vec<(&str, &str)>, &str) = if method == "POST"
        && query.starts_with("uploads")
    {
        calls.lock().unwrap().push("create".into());
        (
            200,
            vec![],
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>",
        )
    } else if method == "PUT" && query.contains("partNumber") {
        calls.lock().unwrap().push("part".into());
        (200, vec![("etag", "\"part-etag\"")], "")
    } else if method == "POST" && query.contains("uploadId") {
        calls.lock().unwrap().push("complete".into());
        (
            200,
            vec![],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>r</RequestId><HostId>h</HostId></Error>",
        )
    } else if method == "DELETE" {
        calls.lock().unwrap().push("abort".into());
        (204, vec![], "")
    } else {
        (400, vec![], "<Error><Code>BadRequest</Code></Error>")
    };
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(name, value);
    }
    Ok(response.body(Full::new(Bytes::from(body))).unwrap())
}

#[tokio::test]
async fn a_200_error_from_complete_fails_the_copy_and_aborts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(Mutex::new(Vec::new()));
    {
        let calls = Arc::clone(&calls);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let calls = Arc::clone(&calls);
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |r| fake_s3(r, Arc::clone(&calls)));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    }
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let client = s3_stream_lambda::s3::client_with(&shared, true);
    let destination = Destination {
        bucket: "b".into(),
        key: "k".into(),
    };
    let mut upload = MultipartUpload::create(
        &client,
        &destination,
        &ObjectMetadata::default(),
        &UploadOptions::default(),
        Arc::default(),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("create");
    let permits = Arc::new(Semaphore::new(1));
    upload.spawn_part(
        Part {
            number: 1,
            data: Bytes::from_static(b"hello"),
        },
        permits.acquire_owned().await.unwrap(),
    );
    let error = upload
        .complete(
            &tokio_util::sync::CancellationToken::new(),
            |_| Ok(()),
            None,
            s3_stream_lambda::copy::upload::condition::WriteCondition::Unconditional,
        )
        .await
        .expect_err("a 200 with <Error> is a failure");
    assert_eq!(error.error_type(), "S3.UploadFailed", "{error:?}");
    assert_eq!(
        *calls.lock().unwrap(),
        vec!["create", "part", "complete", "abort"]
    );
}
