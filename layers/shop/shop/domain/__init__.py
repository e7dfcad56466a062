"""Pure domain code: models, the order status table, pricing. No boto3, no HTTP."""
