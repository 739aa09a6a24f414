output "producer_bucket" {
  description = "Upload here; every new object is copied."
  value       = aws_s3_bucket.this["producer"].id
}

output "consumer_bucket" {
  description = "Copies land here."
  value       = aws_s3_bucket.this["consumer"].id
}

output "function_name" {
  description = "The copier function."
  value       = aws_lambda_function.copier.function_name
}

output "function_arn" {
  description = "The copier function's ARN."
  value       = aws_lambda_function.copier.arn
}

output "failed_copies_queue_url" {
  description = "Events whose copies failed after every retry (the on-failure destination and DLQ)."
  value       = aws_sqs_queue.failed.url
}

output "partition" {
  description = "The AWS partition deployed to."
  value       = data.aws_partition.current.partition
}

output "events_queue_url" {
  description = "With trigger = sqs: the queue the producer bucket notifies and the function polls."
  value       = var.trigger == "sqs" ? aws_sqs_queue.events[0].url : null
}

output "events_dead_letter_queue_url" {
  description = "With trigger = sqs: messages whose copies failed sqs_max_receive_count times."
  value       = var.trigger == "sqs" ? aws_sqs_queue.events_dlq[0].url : null
}

output "batch_operations_role_arn" {
  description = "With enable_batch_operations: the role to pass to `aws s3control create-job --role-arn`."
  value       = var.enable_batch_operations ? aws_iam_role.batch_operations[0].arn : null
}

output "dashboard_name" {
  description = "With enable_dashboard: the CloudWatch dashboard."
  value       = var.enable_dashboard ? aws_cloudwatch_dashboard.copier[0].dashboard_name : null
}

output "work_queue_url" {
  description = "With enable_work_queue: where copies longer than one invocation go on."
  value       = var.enable_work_queue ? aws_sqs_queue.work[0].url : null
}

output "work_dead_letter_queue_url" {
  description = "With enable_work_queue: hand-offs whose invocations failed work_queue_max_receive_count times (an upload they kept is aborted by the lifecycle rule)."
  value       = var.enable_work_queue ? aws_sqs_queue.work_dlq[0].url : null
}

output "bench_prefix" {
  description = "With bench_prefix: where bench events measure (BENCH_PREFIX); null: bench events are refused."
  value       = local.bench_prefix
}
