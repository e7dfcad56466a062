"""HTTP edge of the API functions: who is calling, request limits, and exceptions as problem details."""
