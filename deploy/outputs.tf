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
