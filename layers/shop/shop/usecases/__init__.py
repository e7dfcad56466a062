"""Use cases: one function per thing a caller can do, composed of domain rules and adapters."""
