//! Object tagging: GetObjectTagging, PutObjectTagging and DeleteObjectTagging on the
//! tag set kept with the object.

use super::super::body::read_small;
use super::super::config::MAX_XML_BODY_BYTES;
use super::super::error::S3Error;
use super::super::response::{ResponseBody, empty, full, set_header};
use super::super::xml::{XmlWriter, child_text, children};
use super::Ctx;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

/// Most tags S3 allows on one object.
const MAX_TAGS: usize = 10;

/// GetObjectTagging: the tag set as `<Tagging><TagSet><Tag>…`.
pub fn get(ctx: &Ctx) -> Result<Response<ResponseBody>, S3Error> {
    let object = ctx.shared.store.object(&ctx.target.bucket, &ctx.key)?;
    let mut xml = XmlWriter::new("Tagging", true);
    xml.open("TagSet");
    for (key, value) in &object.headers.tags {
        xml.open("Tag")
            .element("Key", key)
            .element("Value", value)
            .close();
    }
    let mut response = Response::new(full(xml.finish()));
    set_header(response.headers_mut(), "content-type", "application/xml");
    set_header(response.headers_mut(), "x-amz-version-id", object.version());
    Ok(response)
}

/// PutObjectTagging: replaces the tag set with the document's.
pub async fn put(ctx: &Ctx, request: Request<Incoming>) -> Result<Response<ResponseBody>, S3Error> {
    let body = read_small(
        request.into_body(),
        MAX_XML_BODY_BYTES,
        &ctx.shared.counters,
    )
    .await?;
    let text = std::str::from_utf8(&body).map_err(|_| S3Error::MalformedXml {
        detail: "the body is not utf-8".to_owned(),
    })?;
    let tags = children(text, "Tag")
        .into_iter()
        .map(|tag| {
            let key = child_text(tag, "Key").ok_or_else(|| S3Error::MalformedXml {
                detail: "a tag has no key".to_owned(),
            })?;
            Ok((key, child_text(tag, "Value").unwrap_or_default()))
        })
        .collect::<Result<Vec<_>, S3Error>>()?;
    if tags.len() > MAX_TAGS {
        return Err(S3Error::InvalidArgument {
            name: "tagging",
            detail: format!("{} tags exceed the maximum of {MAX_TAGS}", tags.len()),
        });
    }
    ctx.shared
        .store
        .update(&ctx.target.bucket, &ctx.key, |object| {
            object.headers.tags = tags
        })?;
    Ok(Response::new(empty()))
}

/// DeleteObjectTagging: clears the tag set; 204.
pub fn delete(ctx: &Ctx) -> Result<Response<ResponseBody>, S3Error> {
    ctx.shared
        .store
        .update(&ctx.target.bucket, &ctx.key, |object| {
            object.headers.tags.clear()
        })?;
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
