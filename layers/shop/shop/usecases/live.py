"""Live updates: an Orders stream record becomes a message on the WebSocket connections of those it concerns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shop.adapters.connections_api import ConnectionsApi
from shop.adapters.connections_table import ConnectionsTable
from shop.adapters.deliveries import Deliveries
from shop.domain.live import ConnectionGone, DeliveryRefused, DeliveryUncertain, live_update


@dataclass
class PushOutcome:
    """What one record did, connection by connection (for the logs, the metrics and the tests)."""

    message: str | None = None  # the message's type; None when the record concerns no client
    sent: list[str] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)  # claimed by an earlier delivery of the record
    gone: list[str] = field(default_factory=list)  # answered 410: removed from the table
    uncertain: list[str] = field(default_factory=list)  # no answer: not sent again (at most once)


def push_change(
    *,
    event_id: str,
    event_name: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    connections: ConnectionsTable,
    api: ConnectionsApi,
    deliveries: Deliveries,
    now: datetime,
) -> PushOutcome:
    """Send the record's update, if any, to each connection it concerns that has not had it yet.

    Raises DeliveryRefused once every connection was tried if API Gateway refused any of them: the record then
    fails, Lambda delivers it again, and only the refused connections are sent to.
    """
    update = live_update(event_name, old, new)
    if update is None:
        return PushOutcome()
    outcome = PushOutcome(message=update.message.type)
    if update.customer_id is None:
        targets = connections.of_approvers(now)
    else:
        targets = connections.of_customer(update.customer_id, now)
    if not targets:
        return outcome
    data = update.message.model_dump_json().encode()
    refused: list[str] = []
    for connection_id in targets:
        if not deliveries.claim(connection_id, event_id, now):
            outcome.already_sent.append(connection_id)
            continue
        try:
            api.post(connection_id, data)
        except ConnectionGone:
            connections.remove(connection_id)
            outcome.gone.append(connection_id)
        except DeliveryUncertain:
            outcome.uncertain.append(connection_id)
        except DeliveryRefused:
            # Nothing was delivered: the claim goes back, and the record's next delivery sends it.
            deliveries.release(connection_id, event_id)
            refused.append(connection_id)
        except Exception:
            # A fault (a missing grant, a bug): nothing was delivered either; the record fails with it.
            deliveries.release(connection_id, event_id)
            raise
        else:
            outcome.sent.append(connection_id)
    if refused:
        raise DeliveryRefused(f"API Gateway refused {len(refused)} of {len(targets)} connections; retried")
    return outcome
