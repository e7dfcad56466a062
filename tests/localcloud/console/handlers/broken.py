"""A handler whose module cannot be imported: the dependency was never packaged."""

import parcel_tracking_sdk  # type: ignore[import-not-found]  # noqa: F401


def handler(event: object, context: object) -> None:
    return None
