data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  producer_bucket = coalesce(var.producer_bucket_name, "${var.env_name}-producer")
  consumer_bucket = coalesce(var.consumer_bucket_name, "${var.env_name}-consumer")
  function_name   = "${var.env_name}-copier"
  buckets = {
    producer = local.producer_bucket
    consumer = local.consumer_bucket
  }
  sse = var.kms_key_arn == null ? {} : { SSE = "aws:kms", SSE_KMS_KEY_ID = var.kms_key_arn }
  # Destinations the function writes: the consumer, and what Batch Operations jobs may choose.
  destination_arns = concat(
    [aws_s3_bucket.this["consumer"].arn],
    [for b in var.allowed_dst_buckets : "arn:${data.aws_partition.current.partition}:s3:::${b}"],
  )
  manifest_bucket_arn = coalesce(var.batch_manifest_bucket_arn, aws_s3_bucket.this["consumer"].arn)
  # Where bench events may measure (BENCH_PREFIX); null: bench events are refused.
  bench_prefix = var.bench_prefix == "" ? null : "s3://${aws_s3_bucket.this["consumer"].id}/${var.bench_prefix}"
  lists = { for k, v in {
    ALLOWED_DST_BUCKETS     = var.allowed_dst_buckets
    ALLOWED_DST_PREFIXES    = var.allowed_dst_prefixes
    ALLOWED_TRANSFORMS      = var.allowed_transforms
    ALLOWED_STORAGE_CLASSES = var.allowed_storage_classes
  } : k => join(",", v) if length(v) > 0 }
  # Only the variables the user set reach the function; the rest keep its documented defaults.
  function_environment = merge(
    {
      DST_BUCKET = aws_s3_bucket.this["consumer"].id
      DST_PREFIX = var.dst_prefix
      TRANSFORM  = var.transform
      # The consumer bucket is created in this provider's region: the
      # function never has to ask S3 where it is.
      DST_REGION = var.aws_region
      # Events naming any other bucket are refused without a request.
      SOURCE_BUCKETS = aws_s3_bucket.this["producer"].id
    },
    { for k, v in {
      PART_SIZE_MIB          = var.part_size_mib
      UPLOAD_CONCURRENCY     = var.upload_concurrency
      READ_AHEAD             = var.read_ahead
      MAX_RECORD_CONCURRENCY = var.max_record_concurrency
      DEADLINE_MARGIN_MS     = var.deadline_margin_ms
      STORAGE_CLASS          = var.storage_class
      COPY_MODE              = var.copy_mode
      PART_COPY_SIZE_MIB     = var.part_copy_size_mib
      PART_COPY_CONCURRENCY  = var.part_copy_concurrency
      COPY_TAGS              = var.copy_tags
      ACL                    = var.acl
      EXPECTED_BUCKET_OWNER  = var.expected_bucket_owner
      REQUEST_PAYER          = var.request_payer
      METRICS                = var.metrics_enabled ? null : "false"
      METRICS_NAMESPACE      = var.metrics_namespace
      # A copy resumes once per delivery its trigger makes: Lambda's
      # asynchronous invocation and its retries, or the queue's receives;
      # with the work queue, as often as work_queue_max_attempts allows.
      RESUME_MAX_ATTEMPTS = (
        var.enable_work_queue ? var.work_queue_max_attempts :
        var.trigger == "sqs" ? var.sqs_max_receive_count : var.retry_attempts + 1
      )
      WORK_QUEUE_URL        = var.enable_work_queue ? aws_sqs_queue.work[0].url : null
      FAN_OUT_THRESHOLD_MIB = var.fan_out_threshold_mib
      FAN_OUT_SEGMENT_PARTS = var.fan_out_segment_parts
      BENCH_PREFIX          = local.bench_prefix
    } : k => tostring(v) if v != null },
    local.lists,
    local.sse,
  )
}

# ---------------------------------------------------------------- buckets

resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_18:Access logging needs a third, log-receiving bucket; add one with server access logging where audits require it.
  # checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice for the user, not a default of a copier.
  # checkov:skip=CKV2_AWS_62:The consumer bucket sends no notifications by design (a notification there could loop); the producer's is aws_s3_bucket_notification below.
  # checkov:skip=CKV_AWS_21:Versioning is optional (var.enable_versioning); copies are reproducible from the producer.
  # checkov:skip=CKV_AWS_145:KMS is optional (var.kms_key_arn); without it SSE-S3 encrypts every object.
  for_each      = local.buckets
  bucket        = each.value
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id

  versioning_configuration {
    status = var.enable_versioning ? "Enabled" : "Suspended"
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.tls_only[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    # The function aborts every failed upload itself, and a resumable copy's
    # last attempt aborts what earlier attempts kept; this catches a process
    # killed mid-copy (e.g. out of memory). Not sooner than a resumable copy
    # may still be running (its deliveries can span hours).
    abort_incomplete_multipart_upload {
      days_after_initiation = var.incomplete_upload_days
    }
  }

  rule {
    id     = "expire-copy-checkpoints"
    status = "Enabled"

    # The checkpoints of resumable copies: removed when a copy ends; one a
    # killed process left names an upload the rule above aborts.
    filter {
      prefix = ".s3-stream-lambda/checkpoints/"
    }

    expiration {
      days = var.incomplete_upload_days
    }
  }
}

# ---------------------------------------------------------------- failures

resource "aws_sqs_queue" "failed" {
  name                      = "${var.env_name}-failed-copies"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
}

# ---------------------------------------------------------------- function

resource "aws_cloudwatch_log_group" "function" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  name               = "${local.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "function" {
  statement {
    sid = "ReadProducer"
    # Tagging: server-side copies carry the source's tags.
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"]
    resources = ["${aws_s3_bucket.this["producer"].arn}/*"]
  }

  statement {
    sid = "ListProducer"
    # So a missing source key is NoSuchKey (a permanent failure), not AccessDenied.
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [aws_s3_bucket.this["producer"].arn]
  }

  statement {
    sid = "WriteConsumer"
    # GetObject: the HeadObject of the destination that newest-wins reads
    # before its conditional write (which version a copy came from).
    # PutObjectTagging: copies carry the source's tags.
    actions   = ["s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = [for arn in local.destination_arns : "${arn}/*"]
  }

  statement {
    sid = "Checkpoints"
    # A resumable copy removes its checkpoint when it ends; nothing else a
    # copy writes is ever deleted (BenchObjects: what a bench wrote).
    actions   = ["s3:DeleteObject"]
    resources = [for arn in local.destination_arns : "${arn}/.s3-stream-lambda/*"]
  }

  statement {
    sid = "ListConsumer"
    # ListBucket: a destination key that does not exist yet is a 404, not a
    # 403. ListBucketMultipartUploads: after an ambiguous create (a 500 S3
    # may have answered after creating the upload) the copy finds and
    # aborts the upload it never learnt of.
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = local.destination_arns
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function.arn}:*"]
  }

  statement {
    sid       = "FailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed.arn]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.trigger == "sqs" ? [aws_sqs_queue.events[0].arn] : []
    content {
      sid       = "PollEvents"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.enable_work_queue ? [aws_sqs_queue.work[0].arn] : []
    content {
      # SendMessage: a copy stopped at its deadline hands itself over.
      sid       = "WorkQueue"
      actions   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.bench_prefix == "" ? [] : [var.bench_prefix]
    content {
      # Bench events (BENCH_PREFIX): PutObject, multipart uploads,
      # UploadPartCopy (GetObject of its source, PutObject of the copy),
      # GetObject and HeadObject, and DeleteObject(s) of what the bench
      # wrote, under the bench prefix only; DeleteObjectVersion removes what
      # a versioned bucket keeps of it. The copies read their source's tags
      # (COPY_TAGS) and, in a versioned bucket, pin its version.
      # WriteConsumer grants the writes bucket-wide already; Checkpoints
      # keeps every other delete to the copies' checkpoints.
      sid = "BenchObjects"
      actions = [
        "s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging", "s3:DeleteObject", "s3:DeleteObjectVersion",
        "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
      ]
      resources = ["${aws_s3_bucket.this["consumer"].arn}/${statement.value}*"]
    }
  }

  dynamic "statement" {
    for_each = var.bench_prefix == "" ? [] : [var.bench_prefix]
    content {
      # ListObjectsV2 and ListObjectVersions of the bench prefix (or one
      # under it) only; ListConsumer already lists the whole bucket for the
      # copies.
      sid       = "BenchList"
      actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
      resources = [aws_s3_bucket.this["consumer"].arn]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${statement.value}*"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.bench_prefix == "" ? [] : [var.bench_prefix]
    content {
      # ListMultipartUploads of the bench prefix (the open uploads of earlier
      # runs, aborted before a run). s3:ListBucketMultipartUploads has no
      # s3:prefix condition key, so it cannot be kept to the prefix: it is
      # granted on the bucket, as ListConsumer already does for the copies.
      sid       = "BenchListUploads"
      actions   = ["s3:ListBucketMultipartUploads"]
      resources = [aws_s3_bucket.this["consumer"].arn]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      # Also the bench's SSE-KMS writes (GenerateDataKey) and reads (Decrypt).
      sid       = "Kms"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  name   = "${local.function_name}-policy"
  role   = aws_iam_role.function.id
  policy = data.aws_iam_policy_document.function.json
}

resource "aws_lambda_function" "copier" {
  # checkov:skip=CKV_AWS_117:The function only talks to S3 and SQS over AWS endpoints; a VPC would need NAT or endpoints and adds cold-start cost for no isolation gain.
  # checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; build.sh makes a reproducible zip whose sha256 can be verified instead.
  # checkov:skip=CKV_AWS_173:The environment holds no secrets (bucket names and tunables); with var.kms_key_arn it is encrypted with that key.
  function_name                  = local.function_name
  role                           = aws_iam_role.function.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = var.lambda_zip
  source_code_hash               = filebase64sha256(var.lambda_zip)
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.function_environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function.name
    application_log_level = var.log_level
    system_log_level      = "INFO"
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.failed.arn
  }

  lifecycle {
    precondition {
      # The function refuses less at start-up: a stop must also leave time
      # for the hand-off to the work queue (1 s).
      condition     = !var.enable_work_queue || var.deadline_margin_ms == null || try(var.deadline_margin_ms >= 3000, false)
      error_message = "with enable_work_queue, deadline_margin_ms must be at least 3000."
    }
    precondition {
      # Segments are messages on the work queue.
      condition     = var.fan_out_threshold_mib == null || var.enable_work_queue
      error_message = "fan_out_threshold_mib needs enable_work_queue."
    }
    precondition {
      # Invocations the function's reserved concurrency throttles return
      # to the queue and count toward its redrive limit: fanned-out
      # segments would reach the dead-letter queue unfinished.
      condition     = !var.enable_work_queue || var.reserved_concurrency < 0 || var.work_queue_max_concurrency <= var.reserved_concurrency
      error_message = "work_queue_max_concurrency must not exceed reserved_concurrency (throttled messages count toward the redrive limit)."
    }
  }

  depends_on = [aws_iam_role_policy.function]
}

resource "aws_lambda_function_event_invoke_config" "copier" {
  function_name                = aws_lambda_function.copier.function_name
  maximum_retry_attempts       = var.retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failed.arn
    }
  }
}

# ---------------------------------------------------------------- trigger

resource "aws_lambda_permission" "from_producer" {
  count          = var.trigger == "s3" ? 1 : 0
  statement_id   = "AllowProducerBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.copier.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.this["producer"].arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_s3_bucket_notification" "producer" {
  bucket = aws_s3_bucket.this["producer"].id

  dynamic "lambda_function" {
    for_each = var.trigger == "s3" ? [aws_lambda_function.copier.arn] : []
    content {
      lambda_function_arn = lambda_function.value
      events              = ["s3:ObjectCreated:*"]
      filter_prefix       = var.filter_prefix
      filter_suffix       = var.filter_suffix
    }
  }

  dynamic "queue" {
    for_each = var.trigger == "sqs" ? [aws_sqs_queue.events[0].arn] : []
    content {
      queue_arn     = queue.value
      events        = ["s3:ObjectCreated:*"]
      filter_prefix = var.filter_prefix
      filter_suffix = var.filter_suffix
    }
  }

  depends_on = [aws_lambda_permission.from_producer, aws_sqs_queue_policy.events]
}

# ---------------------------------------------------------------- sqs trigger (var.trigger = "sqs")

resource "aws_sqs_queue" "events_dlq" {
  count                     = var.trigger == "sqs" ? 1 : 0
  name                      = "${var.env_name}-events-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
}

resource "aws_sqs_queue" "events" {
  count = var.trigger == "sqs" ? 1 : 0
  name  = "${var.env_name}-events"
  # AWS's advice for a Lambda-polled queue: six times the function's timeout,
  # so a message is not delivered again while its copy still runs.
  visibility_timeout_seconds = 6 * var.timeout
  message_retention_seconds  = 1209600
  sqs_managed_sse_enabled    = var.kms_key_arn == null ? true : null
  kms_master_key_id          = var.kms_key_arn
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.events_dlq[0].arn
    maxReceiveCount     = var.sqs_max_receive_count
  })
}

data "aws_iam_policy_document" "events_queue" {
  count = var.trigger == "sqs" ? 1 : 0

  statement {
    sid       = "ProducerNotifies"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events[0].arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.this["producer"].arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  count     = var.trigger == "sqs" ? 1 : 0
  queue_url = aws_sqs_queue.events[0].id
  policy    = data.aws_iam_policy_document.events_queue[0].json
}

resource "aws_lambda_event_source_mapping" "events" {
  count            = var.trigger == "sqs" ? 1 : 0
  event_source_arn = aws_sqs_queue.events[0].arn
  function_name    = aws_lambda_function.copier.arn
  batch_size       = var.sqs_batch_size
  # Only the messages whose copies failed return to the queue.
  function_response_types            = ["ReportBatchItemFailures"]
  maximum_batching_window_in_seconds = var.sqs_batch_size > 10 ? 1 : null
}

# ---------------------------------------------------------------- s3 batch operations (var.enable_batch_operations)

data "aws_iam_policy_document" "batch_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["batchoperations.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "batch_operations" {
  count              = var.enable_batch_operations ? 1 : 0
  name               = "${local.function_name}-batch-operations"
  assume_role_policy = data.aws_iam_policy_document.batch_assume.json
}

data "aws_iam_policy_document" "batch_operations" {
  statement {
    sid       = "InvokeCopier"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.copier.arn]
  }

  statement {
    sid       = "ReadManifest"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.manifest_bucket_arn}/*"]
  }

  statement {
    sid       = "WriteReport"
    actions   = ["s3:PutObject"]
    resources = ["${local.manifest_bucket_arn}/*"]
  }

  statement {
    sid       = "LocateManifestBucket"
    actions   = ["s3:GetBucketLocation"]
    resources = [local.manifest_bucket_arn]
  }
}

resource "aws_iam_role_policy" "batch_operations" {
  count  = var.enable_batch_operations ? 1 : 0
  name   = "${local.function_name}-batch-operations"
  role   = aws_iam_role.batch_operations[0].id
  policy = data.aws_iam_policy_document.batch_operations.json
}

# ---------------------------------------------------------------- work queue (var.enable_work_queue)
#
# Where copies longer than one invocation go on (docs/operating.md#copies-longer-than-one-invocation):
# a record whose copy stopped at its deadline sends itself here, one hop per
# invocation, and succeeds.

resource "aws_sqs_queue" "work_dlq" {
  count                     = var.enable_work_queue ? 1 : 0
  name                      = "${var.env_name}-work-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
}

resource "aws_sqs_queue" "work" {
  count = var.enable_work_queue ? 1 : 0
  name  = "${var.env_name}-work"
  # A message being copied must never reach a second sandbox: beyond the
  # function's timeout, as for the events queue.
  visibility_timeout_seconds = 6 * var.timeout
  message_retention_seconds  = 1209600
  sqs_managed_sse_enabled    = var.kms_key_arn == null ? true : null
  kms_master_key_id          = var.kms_key_arn
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.work_dlq[0].arn
    # Each hop is a new message: this counts the receives of one hop (its
    # failures and throttled invocations), as on the events queue.
    maxReceiveCount = var.work_queue_max_receive_count
  })
}

resource "aws_lambda_event_source_mapping" "work" {
  count            = var.enable_work_queue ? 1 : 0
  event_source_arn = aws_sqs_queue.work[0].arn
  function_name    = aws_lambda_function.copier.arn
  # One copy an invocation: each gets the whole memory and deadline.
  batch_size              = 1
  function_response_types = ["ReportBatchItemFailures"]
  # The blast radius of the whole queue (every copy's hops and segments):
  # at most this many invocations at once.
  scaling_config {
    maximum_concurrency = var.work_queue_max_concurrency
  }
}

# Each hop is a send from an invocation the work queue made: Lambda's
# recursive loop detection would stop the chain after about 16 rounds. The
# function caps hops itself (RESUME_MAX_ATTEMPTS, the hop attribute), so the
# guard is turned off for it, for every trigger: nothing else it writes
# reaches one (its recursion guard skips its own output).
resource "aws_lambda_function_recursion_config" "copier" {
  count          = var.enable_work_queue ? 1 : 0
  function_name  = aws_lambda_function.copier.function_name
  recursive_loop = "Allow"
}
