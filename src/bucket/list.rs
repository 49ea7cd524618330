//! Listing the shared bucket: ListObjectsV2 with URL-encoded keys (a key holding a control
//! character would otherwise make the XML answer unreadable and fail the whole listing), all
//! pages, with or without the `/` delimiter, and big trees listed level by level in parallel.
//! Shared by `mirror`, `backups` and `partitions`.

use aws_sdk_s3::error::SdkError;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt, stream};

/// Parallel S3 calls (listings, downloads) when the user does not say.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// What can go wrong listing, for callers that match on it.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(
        "bucket `{bucket}` does not exist (NoSuchBucket): check --metadata-path (CloneSquad's MetadataAndBackupS3Path) and --region"
    )]
    NoSuchBucket { bucket: String },
    #[error(
        "access denied listing s3://{bucket}/{prefix} ({code}): the caller needs s3:ListBucket on arn:aws:s3:::{bucket}"
    )]
    Denied {
        bucket: String,
        prefix: String,
        code: String,
    },
    #[error("cannot list s3://{bucket}/{prefix}: {message}")]
    Other {
        bucket: String,
        prefix: String,
        message: String,
    },
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: Option<DateTime<Utc>>,
}

fn classify<E, R>(err: &SdkError<E, R>, bucket: &str, prefix: &str) -> ListError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match crate::aws::error_code(err) {
        Some("NoSuchBucket") => ListError::NoSuchBucket {
            bucket: bucket.to_string(),
        },
        Some(code @ ("AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId")) => {
            ListError::Denied {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
                code: code.to_string(),
            }
        }
        _ => ListError::Other {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            message: crate::aws::describe(err),
        },
    }
}

pub fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// One delimited (`/`) listing level, all pages: the objects directly under `prefix` and the
/// sub-prefixes.
pub async fn list_level(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimiter: bool,
) -> Result<(Vec<S3Object>, Vec<String>), ListError> {
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    let mut token = None;
    loop {
        let page = one_page(client, bucket, prefix, delimiter, token.take()).await?;
        objects.extend(page.objects);
        prefixes.extend(page.prefixes);
        match page.next {
            Some(next) => token = Some(next),
            None => return Ok((objects, prefixes)),
        }
    }
}

/// One answer of ListObjectsV2.
struct Page {
    objects: Vec<S3Object>,
    prefixes: Vec<String>,
    /// The continuation token, when more pages follow.
    next: Option<String>,
}

/// One page of a listing from `token` on.
async fn one_page(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimiter: bool,
    token: Option<String>,
) -> Result<Page, ListError> {
    // URL-encoded keys: a key holding control characters would otherwise make the XML response
    // unreadable and fail the whole listing.
    let mut request = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .set_continuation_token(token.clone());
    if delimiter {
        request = request.delimiter("/");
    }
    let page = request
        .send()
        .await
        .map_err(|e| classify(&e, bucket, prefix))?;
    let next = page
        .next_continuation_token()
        .filter(|_| page.is_truncated() == Some(true))
        .map(str::to_string);
    if next.is_some() && next == token {
        return Err(ListError::Other {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            message: "the store answered the same continuation token twice".into(),
        });
    }
    Ok(Page {
        objects: page
            .contents()
            .iter()
            .filter_map(|object| {
                Some(S3Object {
                    key: url_decode(object.key()?),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                    etag: object.e_tag().unwrap_or_default().to_string(),
                    last_modified: object.last_modified().and_then(to_chrono),
                })
            })
            .collect(),
        prefixes: page
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(url_decode))
            .collect(),
        next,
    })
}

/// A key of a listing made with `encoding-type=url`: `%XX` escapes, and `+` for a space.
fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every object under `prefix`. The first `depth` levels are listed with a delimiter and their
/// sub-prefixes listed in parallel (at most `concurrency` calls at once), so a big tree lists in
/// a fraction of the time of one long sequential pagination.
pub fn list_tree<'a>(
    client: &'a aws_sdk_s3::Client,
    bucket: &'a str,
    prefix: String,
    depth: usize,
    concurrency: usize,
) -> BoxFuture<'a, Result<Vec<S3Object>, ListError>> {
    Box::pin(async move {
        if depth == 0 {
            return list_level(client, bucket, &prefix, false)
                .await
                .map(|(o, _)| o);
        }
        let (mut objects, prefixes) = list_level(client, bucket, &prefix, true).await?;
        let nested: Vec<Vec<S3Object>> = stream::iter(prefixes)
            .map(|p| list_tree(client, bucket, p, depth - 1, concurrency))
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        objects.extend(nested.into_iter().flatten());
        Ok(objects)
    })
}

/// Every object under `prefix`, page by page as the pages arrive (nothing is kept: a listing of
/// a million keys costs the memory of the pages in flight). As with [`list_tree`], the first
/// `depth` levels are listed with a delimiter and their sub-prefixes listed side by side (at most
/// `concurrency` at once); pages of different sub-prefixes come interleaved.
pub fn pages(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: String,
    depth: usize,
    concurrency: usize,
) -> BoxStream<'static, Result<Vec<S3Object>, ListError>> {
    let (client, bucket) = (client.clone(), bucket.to_string());
    if depth == 0 {
        // State: what to list, the token to go on from, whether the last page came.
        let start = (client, bucket, prefix, None::<String>, false);
        return stream::unfold(start, |(client, bucket, prefix, token, done)| async move {
            if done {
                return None;
            }
            match one_page(&client, &bucket, &prefix, false, token).await {
                Ok(page) => {
                    let done = page.next.is_none();
                    Some((Ok(page.objects), (client, bucket, prefix, page.next, done)))
                }
                Err(e) => Some((Err(e), (client, bucket, prefix, None, true))),
            }
        })
        .boxed();
    }
    stream::once(async move {
        let (objects, prefixes) = list_level(&client, &bucket, &prefix, true).await?;
        let nested = stream::iter(prefixes)
            .map(move |p| pages(&client, &bucket, p, depth - 1, concurrency))
            .flatten_unordered(concurrency.max(1));
        Ok::<_, ListError>(stream::once(async move { Ok(objects) }).chain(nested))
    })
    .try_flatten()
    .boxed()
}

/// The key, printable on one line whatever it holds.
pub fn printable(key: &str) -> String {
    key.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_keys_decode() {
        assert_eq!(
            url_decode("a/2026-11-26+09%3A00%3A01%2B00%3A00-x.yaml"),
            "a/2026-11-26 09:00:01+00:00-x.yaml"
        );
        assert_eq!(url_decode("a%01b%00c%2e%2E"), "a\u{1}b\u{0}c..");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%4"), "%zz%4");
    }
}
