"""A DynamoDB client for the stock ledger that, like DynamoDB under load, cancels the next transactions for
contention (their CancellationReasons as DynamoDB sends them), then lets transactions through to moto."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class ContendedClient:
    def __init__(self, client: Any, reasons: list[list[str]]) -> None:
        self._client = client
        self._reasons = list(reasons)
        self.refused = 0

    def transact_write_items(self, **params: Any) -> Any:
        if self._reasons:
            codes = self._reasons.pop(0)
            assert len(codes) == len(params["TransactItems"]), "one reason per item, as DynamoDB sends them"
            self.refused += 1
            raise ClientError(
                {
                    "Error": {
                        "Code": "TransactionCanceledException",
                        "Message": f"Transaction cancelled, please refer cancellation reasons [{', '.join(codes)}]",
                    },
                    "CancellationReasons": [{"Code": code} for code in codes],
                },
                "TransactWriteItems",
            )
        return self._client.transact_write_items(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
