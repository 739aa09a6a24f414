variable "aws_region" {
  description = "AWS region of the buckets and the function."
  type        = string
  default     = "us-west-2"
}

variable "env_name" {
  description = "Environment name; prefixes every resource name (lowercase, digits, hyphens)."
  type        = string
  default     = "s3-stream-lambda"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$", var.env_name))
    error_message = "env_name must be 3-42 characters of a-z, 0-9 and hyphens."
  }
}

variable "producer_bucket_name" {
  description = "Name of the producer (source) bucket; defaults to \"<env_name>-producer\"."
  type        = string
  default     = null
}

variable "consumer_bucket_name" {
  description = "Name of the consumer (destination) bucket; defaults to \"<env_name>-consumer\"."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let terraform destroy delete buckets that still hold objects. Off: never delete data by accident."
  type        = bool
  default     = false
}

variable "enable_versioning" {
  description = "Enable versioning on both buckets (copies then read the exact version announced)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for bucket encryption, the function's environment, logs and the failure queue; null uses AWS-managed encryption (SSE-S3)."
  type        = string
  default     = null
}

variable "lambda_zip" {
  description = "Path of the package built by ./build.sh."
  type        = string
  default     = "../lambda.zip"
}

variable "architecture" {
  description = "x86_64, or arm64 for Graviton (build with ARCHS=arm64 ./build.sh and point lambda_zip at lambda-arm64.zip)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_size" {
  description = "Function memory in MB; copy buffers take at most one eighth, and network bandwidth grows with it."
  type        = number
  default     = 1024
}

variable "timeout" {
  description = "Function timeout in seconds (at most 900); a copy that cannot finish in time is aborted and reported as Copy.Timeout."
  type        = number
  default     = 900
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (caps S3 request rate and cost); -1 for unreserved."
  type        = number
  default     = 50
}

variable "dst_prefix" {
  description = "DST_PREFIX: prepended to every destination key."
  type        = string
  default     = ""
}

variable "transform" {
  description = "TRANSFORM: the transform applied to every object."
  type        = string
  default     = "identity"
}

variable "part_size_mib" {
  description = "PART_SIZE_MIB: multipart part size (5-5120); null keeps the function's default (8)."
  type        = number
  default     = null
}

variable "upload_concurrency" {
  description = "UPLOAD_CONCURRENCY: parts in flight per copy; null derives it from memory_size."
  type        = number
  default     = null
}

variable "read_ahead" {
  description = "READ_AHEAD: ranged reads in flight per copy; null derives it from memory_size."
  type        = number
  default     = null
}

variable "max_record_concurrency" {
  description = "MAX_RECORD_CONCURRENCY: records of one event copied at once; null keeps the default (4)."
  type        = number
  default     = null
}

variable "deadline_margin_ms" {
  description = "DEADLINE_MARGIN_MS: copies are cancelled and aborted this long before the timeout; null keeps 2000 (3000 with enable_work_queue)."
  type        = number
  default     = null

  validation {
    # What a cancelled copy needs: 300 ms for a create in flight, 1500 ms for
    # the abort, 200 ms to post (the function refuses less at start-up).
    condition     = var.deadline_margin_ms == null || try(var.deadline_margin_ms >= 2000, false)
    error_message = "deadline_margin_ms must be at least 2000."
  }
}

variable "storage_class" {
  description = "STORAGE_CLASS of the copies (e.g. STANDARD_IA); null keeps the bucket default."
  type        = string
  default     = null
}

variable "filter_prefix" {
  description = "Only objects whose key starts with this trigger the function."
  type        = string
  default     = null
}

variable "filter_suffix" {
  description = "Only objects whose key ends with this trigger the function."
  type        = string
  default     = null
}

variable "retry_attempts" {
  description = "Lambda's retries of a failed asynchronous invocation (0-2)."
  type        = number
  default     = 2
}

variable "maximum_event_age_seconds" {
  description = "How long Lambda keeps retrying an event before sending it to the failure queue (60-21600)."
  type        = number
  default     = 21600
}

variable "incomplete_upload_days" {
  description = "Days after which the lifecycle rule aborts a multipart upload left open (a killed process, a resumable copy no one delivers again) and expires the checkpoints of resumable copies. One day can abort a copy that is still resuming."
  type        = number
  default     = 7
  validation {
    condition     = var.incomplete_upload_days >= 1
    error_message = "incomplete_upload_days must be at least 1."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's CloudWatch logs."
  type        = number
  default     = 365
}

variable "log_level" {
  description = "Application log level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)."
  type        = string
  default     = "INFO"
}

variable "copy_mode" {
  description = "COPY_MODE: auto (server-side for identity, streaming otherwise or when S3 refuses), server or stream. Null keeps the function's default (auto)."
  type        = string
  default     = null
  validation {
    condition     = var.copy_mode == null || contains(["auto", "server", "stream"], coalesce(var.copy_mode, "auto"))
    error_message = "copy_mode must be auto, server or stream."
  }
}

variable "part_copy_size_mib" {
  description = "PART_COPY_SIZE_MIB: part size of server-side copies (5-5120); objects up to it use one CopyObject. Null keeps the default (64)."
  type        = number
  default     = null
}

variable "part_copy_concurrency" {
  description = "PART_COPY_CONCURRENCY: UploadPartCopy requests in flight per copy (1-256). Null keeps the default (16)."
  type        = number
  default     = null
}

variable "trigger" {
  description = "How new objects reach the function: s3 (the bucket notifies the function) or sqs (the bucket notifies a queue the function polls, with partial-batch responses, a redrive policy and a dead-letter queue)."
  type        = string
  default     = "s3"
  validation {
    condition     = contains(["s3", "sqs"], var.trigger)
    error_message = "trigger must be s3 or sqs."
  }
}

variable "sqs_batch_size" {
  description = "With trigger = sqs: messages per invocation (1-10000; above 10 needs a batching window)."
  type        = number
  default     = 10
}

variable "sqs_max_receive_count" {
  description = "With trigger = sqs: deliveries of a message before it moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "enable_work_queue" {
  description = "Create the work queue (and its dead-letter queue and trigger) where copies longer than one invocation go on: a copy stopped at its deadline hands itself over and comes back within seconds, as often as work_queue_max_attempts allows (WORK_QUEUE_URL)."
  type        = bool
  default     = false
}

variable "work_queue_max_attempts" {
  description = "With enable_work_queue: invocations one copy may take (RESUME_MAX_ATTEMPTS, also the most hops through the queue; 2-1000). At the function's timeout, attempts x timeout bounds how long one object may copy."
  type        = number
  default     = 100
  validation {
    condition     = var.work_queue_max_attempts >= 2 && var.work_queue_max_attempts <= 1000
    error_message = "work_queue_max_attempts must be 2-1000."
  }
}

variable "work_queue_max_receive_count" {
  description = "With enable_work_queue: receives of one hop's message (its failures, throttled invocations) before it moves to the work dead-letter queue."
  type        = number
  default     = 5
}

variable "work_queue_max_concurrency" {
  description = "With enable_work_queue: the most invocations the work queue's trigger runs at once (2-1000), for every copy on the queue together: hand-offs and fan-out segments. At most reserved_concurrency (when reserved): invocations it throttles count toward work_queue_max_receive_count and reach the dead-letter queue."
  type        = number
  default     = 10
  validation {
    condition     = var.work_queue_max_concurrency >= 2 && var.work_queue_max_concurrency <= 1000
    error_message = "work_queue_max_concurrency must be 2-1000 (Lambda's range for an SQS trigger)."
  }
}

variable "fan_out_threshold_mib" {
  description = "With enable_work_queue: identity copies larger than this (MiB) fan out, their parts split into segments copied by up to work_queue_max_concurrency invocations at once (FAN_OUT_THRESHOLD_MIB); null: never."
  type        = number
  default     = null
  validation {
    condition     = var.fan_out_threshold_mib == null || try(var.fan_out_threshold_mib >= 1, false)
    error_message = "fan_out_threshold_mib must be at least 1, or null."
  }
}

variable "fan_out_segment_parts" {
  description = "With fan_out_threshold_mib: parts per segment (FAN_OUT_SEGMENT_PARTS); null sizes a segment to a third of the function's timeout at the copy's pace."
  type        = number
  default     = null
  validation {
    condition     = var.fan_out_segment_parts == null || try(var.fan_out_segment_parts >= 1 && var.fan_out_segment_parts <= 10000, false)
    error_message = "fan_out_segment_parts must be 1-10000, or null."
  }
}

variable "enable_batch_operations" {
  description = "Create the role S3 Batch Operations assumes to invoke the function over a manifest (copying existing objects)."
  type        = bool
  default     = false
}

variable "batch_manifest_bucket_arn" {
  description = "With enable_batch_operations: the bucket holding manifests and receiving completion reports (null: the consumer bucket)."
  type        = string
  default     = null
}

variable "copy_tags" {
  description = "COPY_TAGS: carry the source's tags to the copy. Null keeps the default (true)."
  type        = bool
  default     = null
}

variable "acl" {
  description = "ACL: a canned ACL for every copy (e.g. bucket-owner-full-control for another account's bucket that uses ACLs). Null sets none."
  type        = string
  default     = null
}

variable "expected_bucket_owner" {
  description = "EXPECTED_BUCKET_OWNER: the account that must own the destination bucket. Null checks nothing."
  type        = string
  default     = null
}

variable "request_payer" {
  description = "REQUEST_PAYER: requester, to read requester-pays sources. Null sends no header."
  type        = string
  default     = null
}

variable "allowed_dst_buckets" {
  description = "ALLOWED_DST_BUCKETS: buckets a Batch Operations job may choose with userArguments.dstBucket (the function may write to them: they are added to its policy)."
  type        = list(string)
  default     = []
}

variable "allowed_dst_prefixes" {
  description = "ALLOWED_DST_PREFIXES: prefixes a Batch Operations job may choose with userArguments.dstPrefix."
  type        = list(string)
  default     = []
}

variable "allowed_transforms" {
  description = "ALLOWED_TRANSFORMS: transforms a Batch Operations job may choose with userArguments.transform."
  type        = list(string)
  default     = []
}

variable "allowed_storage_classes" {
  description = "ALLOWED_STORAGE_CLASSES: storage classes a Batch Operations job may choose with userArguments.storageClass."
  type        = list(string)
  default     = []
}

variable "bench_prefix" {
  description = "BENCH_PREFIX: the prefix of the consumer bucket that bench events ({\"bench\": {...}}) may measure in, e.g. \"bench/\"; the function may write, read, list and delete objects there (its bench permissions cover that prefix only). Empty: off, bench events are refused."
  type        = string
  default     = ""
  validation {
    # The prefix ends up in IAM resource ARNs and conditions, where * and ?
    # are wildcards and ${...} a policy variable: either would widen the grant.
    condition     = var.bench_prefix == "" || can(regex("^[^/*?$][^*?$]*/$", var.bench_prefix))
    error_message = "bench_prefix must be empty, or a prefix that does not start with / and ends with / (without *, ? or $)."
  }
}

variable "metrics_enabled" {
  description = "Write CloudWatch Embedded Metric Format records (the function's METRICS). The dashboard and alarms need them."
  type        = bool
  default     = true
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the function's metrics (METRICS_NAMESPACE)."
  type        = string
  default     = "S3StreamLambda"
}

variable "enable_dashboard" {
  description = "Create a CloudWatch dashboard: bytes per second, failures by class, copy duration percentiles, dead-letter queue depth."
  type        = bool
  default     = false
}

variable "enable_alarms" {
  description = "Create CloudWatch alarms: permanent failures, and a dead-letter queue that is not empty."
  type        = bool
  default     = false
}

variable "failure_alarm_threshold" {
  description = "Permanent failures in 5 minutes that set off the failure alarm."
  type        = number
  default     = 1

  validation {
    condition     = var.failure_alarm_threshold >= 1
    error_message = "failure_alarm_threshold must be at least 1."
  }
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm changes state (an SNS topic, say); empty: the alarms only show in the console."
  type        = list(string)
  default     = []
}
