//! The shared bucket CloneSquad deployments write to (`MetadataAndBackupS3Path`, an
//! [`S3Path`]): its layout, its listing, its lifecycle rules; nothing of it spelled anywhere
//! else.

use std::fmt;

use anyhow::bail;

pub mod layout;
pub mod lifecycle;
pub mod list;
pub mod manifest;

/// An `s3://bucket/prefix` location, normalised without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Path {
    pub bucket: String,
    /// Key prefix without leading or trailing slash; may be empty.
    pub prefix: String,
}

impl S3Path {
    /// The key prefix of `<path>/<child>/`, e.g. `prefix/metadata/`.
    pub fn child_prefix(&self, child: &str) -> String {
        if self.prefix.is_empty() {
            format!("{child}/")
        } else {
            format!("{}/{child}/", self.prefix)
        }
    }
}

impl std::str::FromStr for S3Path {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some(rest) = text.strip_prefix("s3://") else {
            bail!("expected s3://bucket/prefix");
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid_bucket {
            bail!(
                "`{bucket}` is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)"
            );
        }
        if let Some(bad) = prefix.chars().find(|c| c.is_control()) {
            bail!(
                "the prefix of `{}` holds the control character {}: give a prefix of printable characters",
                crate::text::escape(text),
                bad.escape_default()
            );
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }
}

impl fmt::Display for S3Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_a_prefix_are_refused() {
        let err = "s3://my-bucket/a\nb".parse::<S3Path>().unwrap_err();
        assert!(err.to_string().contains("control character \\n"), "{err}");
    }

    #[test]
    fn s3_paths_normalise() {
        let p: S3Path = "s3://my-bucket/some/prefix/".parse().unwrap();
        assert_eq!(p.bucket, "my-bucket");
        assert_eq!(p.prefix, "some/prefix");
        assert_eq!(p.to_string(), "s3://my-bucket/some/prefix");
        assert_eq!(p.child_prefix("metadata"), "some/prefix/metadata/");
        let root: S3Path = "s3://my-bucket".parse().unwrap();
        assert_eq!(root.child_prefix("metadata"), "metadata/");
        assert!("my-bucket/x".parse::<S3Path>().is_err());
        assert!("s3://My_Bucket/x".parse::<S3Path>().is_err());
    }
}
