"""The shop's shared code: domain model, use cases, AWS adapters and HTTP mapping (a Lambda layer)."""
