//! The stable `errorType` strings of copy failures, as one enum.

/// Declares an enum of error types with its stable strings, `ALL` and `as_str`.
#[macro_export]
macro_rules! error_types {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[doc = $doc:literal])* $variant:ident => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable string posted as `errorType`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

error_types! {
    /// What kind of copy failure a `CopyError` is (its `errorType`).
    pub enum CopyErrorType {
        /// The source object (or version) is gone.
        NoSuchKey => "S3.NoSuchKey",
        /// The source changed since the event.
        Superseded => "Copy.Superseded",
        /// Reading the source failed.
        GetObjectFailed => "S3.GetObjectFailed",
        /// The source is archived and not restored.
        ObjectArchived => "S3.ObjectArchived",
        /// The source is encrypted with a customer-provided key.
        SourceEncryptedWithCustomerKey => "S3.SourceEncryptedWithCustomerKey",
        /// The source sent other bytes than announced.
        SourceTruncated => "S3.SourceTruncated",
        /// The destination bucket does not exist.
        NoSuchBucket => "S3.NoSuchBucket",
        /// Writing the destination failed.
        UploadFailed => "S3.UploadFailed",
        /// The store refused a server-side copy.
        CopyRefused => "S3.CopyRefused",
        /// Reading the source's tags failed.
        GetObjectTaggingFailed => "S3.GetObjectTaggingFailed",
        /// The transform failed.
        TransformFailed => "Transform.Failed",
        /// The output exceeds S3's 10,000 parts.
        ObjectTooLarge => "Copy.ObjectTooLarge",
        /// The budget cannot hold the fewest buffers at this part size.
        MemoryTooSmall => "Copy.MemoryTooSmall",
        /// A transform's output outgrew what this memory can upload.
        OutputTooLargeForMemory => "Copy.OutputTooLargeForMemory",
        /// The deadline came (and no later attempt can resume the copy).
        Timeout => "Copy.Timeout",
        /// The deadline came; the upload is kept and the next delivery resumes it.
        Continue => "Copy.Continue",
        /// Reading or writing a resumable copy's checkpoint failed.
        CheckpointFailed => "S3.CheckpointFailed",
        /// The copy's checksum is not the source's.
        ChecksumMismatch => "Copy.ChecksumMismatch",
        /// The destination kept changing under the conditional write.
        WriteConflict => "Copy.WriteConflict",
        /// A part task panicked.
        TaskFailed => "Copy.TaskFailed",
        /// A fanned-out copy's upload is gone: a segment failed, or it was cancelled.
        FanOutGone => "Copy.FanOutGone",
    }
}
