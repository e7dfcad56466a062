"""The one Logger, Tracer and Metrics of a function (service name and namespace come from POWERTOOLS_* vars)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# Only AWS SDK calls become trace segments; patching every supported library imports them all at cold start.
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
