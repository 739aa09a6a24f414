# ---------------------------------------------------------------- monitoring
#
# The function writes CloudWatch Embedded Metric Format records (see
# docs/operating.md#metrics); these read them. Both are off by default.

locals {
  metrics_namespace = var.metrics_namespace
  # Where failed work ends: the asynchronous invocations' on-failure queue
  # always, the events queue's dead-letter queue with trigger = sqs, the
  # work queue's with enable_work_queue.
  dead_letter_queues = concat(
    [aws_sqs_queue.failed.name],
    var.trigger == "sqs" ? [aws_sqs_queue.events_dlq[0].name] : [],
    var.enable_work_queue ? [aws_sqs_queue.work_dlq[0].name] : [],
  )
  fn = local.function_name
}

resource "aws_cloudwatch_dashboard" "copier" {
  count          = var.enable_dashboard ? 1 : 0
  dashboard_name = "${var.env_name}-copier"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Bytes per second"
          region = var.aws_region
          view   = "timeSeries"
          stat   = "Sum"
          period = 60
          metrics = [
            [{ expression = "m1 / PERIOD(m1)", label = "copied", id = "e1" }],
            [{ expression = "m2 / PERIOD(m2)", label = "through the function", id = "e2" }],
            [local.metrics_namespace, "BytesCopied", "FunctionName", local.fn, { id = "m1", visible = false }],
            [local.metrics_namespace, "BytesThroughFunction", "FunctionName", local.fn, { id = "m2", visible = false }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Failures by class"
          region = var.aws_region
          view   = "timeSeries"
          stat   = "Sum"
          period = 300
          metrics = [
            [local.metrics_namespace, "Failures", "FunctionName", local.fn, "FailureClass", "permanent", { label = "permanent" }],
            [local.metrics_namespace, "Failures", "FunctionName", local.fn, "FailureClass", "transient", { label = "transient" }],
            [local.metrics_namespace, "RecordsCopied", "FunctionName", local.fn, { label = "copied", yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Copy duration"
          region = var.aws_region
          view   = "timeSeries"
          period = 300
          metrics = [
            [local.metrics_namespace, "CopyDuration", "FunctionName", local.fn, { stat = "p50", label = "p50" }],
            [local.metrics_namespace, "CopyDuration", "FunctionName", local.fn, { stat = "p90", label = "p90" }],
            [local.metrics_namespace, "CopyDuration", "FunctionName", local.fn, { stat = "p99", label = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Dead-letter queue depth"
          region  = var.aws_region
          view    = "timeSeries"
          stat    = "Maximum"
          period  = 300
          metrics = [for q in local.dead_letter_queues : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]]
        }
      },
    ]
  })

  lifecycle {
    precondition {
      condition     = var.metrics_enabled
      error_message = "enable_dashboard needs metrics_enabled: the dashboard reads the function's metrics."
    }
  }
}

# Permanent failures only: a transient failure is retried by Lambda, SQS or
# Batch Operations and usually succeeds; a permanent one never will.
resource "aws_cloudwatch_metric_alarm" "permanent_failures" {
  count               = var.enable_alarms ? 1 : 0
  alarm_name          = "${var.env_name}-copier-permanent-failures"
  alarm_description   = "Copies failed permanently (errorType in the function's log; the event in the dead-letter queue)."
  namespace           = local.metrics_namespace
  metric_name         = "Failures"
  dimensions          = { FunctionName = local.fn, FailureClass = "permanent" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.failure_alarm_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  lifecycle {
    precondition {
      condition     = var.metrics_enabled
      error_message = "enable_alarms needs metrics_enabled: the failure alarm reads the function's metrics."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each            = var.enable_alarms ? toset(local.dead_letter_queues) : toset([])
  alarm_name          = "${each.value}-not-empty"
  alarm_description   = "Events whose copies failed after every retry are waiting in ${each.value}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}
