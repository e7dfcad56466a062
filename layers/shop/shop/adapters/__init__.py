"""Adapters between the domain and AWS. Each takes an injectable client and speaks only domain types."""
