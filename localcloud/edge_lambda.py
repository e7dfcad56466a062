"""Lambda@Edge at the local distribution: a cache behaviour's origin-request function, run in its worker with the
event CloudFront sends, and the distribution's cache of what it answers.

From the template's AWS::CloudFront::Distribution, each cache behaviour with an `origin-request`
LambdaFunctionAssociation becomes an `OriginRequest`: a GET or HEAD whose path matches its PathPattern (CloudFront's
`*` and `?`, case-sensitive) is first looked up in the cache (the behaviour's cache policy keys on the path alone, as
the shop's does; a 200 is kept, nothing else); on a miss the function gets CloudFront's origin-request event (the
S3 origin's domain name and region, the viewer's headers in CloudFront's lower-case lists) and its answer is
translated back: a generated response (`status`, `headers`, `body` with `bodyEncoding`), or the request it
returns, then fetched from the S3 origin. `X-Cache` says `Hit from cloudfront` or `Miss from cloudfront`, as
CloudFront's does. A function error is CloudFront's 502; a refused invoke, its 503.
"""

from __future__ import annotations

import base64
import fnmatch
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from localcloud.gateway import Reply, Request

logger = logging.getLogger(__name__)

_INVALID_FUNCTION = (  # CloudFront's 502 when the function fails or answers what it cannot use
    "The Lambda function associated with the CloudFront distribution is invalid or doesn't have the required "
    "permissions."
)

# (function, event) -> (errored, its answer's JSON); raises when Lambda refused the invoke.
Invoke = Callable[[str, dict[str, Any]], tuple[bool, Any]]
# (bucket, key) -> (content type, body), or None when there is no such object.
FetchObject = Callable[[str, str], "tuple[str, bytes] | None"]


@dataclass(frozen=True)
class OriginRequest:
    """One cache behaviour's origin-request function and the S3 origin behind it."""

    path_pattern: str
    function: str  # the associated version's ARN
    origin_domain: str  # <bucket>.s3.<region>.amazonaws.com
    origin_region: str

    def matches(self, path: str) -> bool:
        return fnmatch.fnmatchcase(path, self.path_pattern)

    @property
    def bucket(self) -> str:
        return self.origin_domain.split(".s3", 1)[0]


def origin_requests(config: Mapping[str, Any], region: str) -> list[OriginRequest]:
    """The origin-request functions of a resolved DistributionConfig's cache behaviours on S3 origins."""
    origins = {str(origin.get("Id")): origin for origin in config.get("Origins", []) if isinstance(origin, dict)}
    found = []
    for behaviour in config.get("CacheBehaviors", []):
        if not isinstance(behaviour, dict):
            continue
        origin = origins.get(str(behaviour.get("TargetOriginId")), {})
        for association in behaviour.get("LambdaFunctionAssociations", []):
            if association.get("EventType") != "origin-request" or "S3OriginConfig" not in origin:
                continue
            found.append(
                OriginRequest(
                    path_pattern=str(behaviour["PathPattern"]),
                    function=str(association["LambdaFunctionARN"]),
                    origin_domain=str(origin["DomainName"]),
                    origin_region=region,
                )
            )
    return found


class EdgeFunctions:
    """The distribution's origin-request functions, with its cache of their answers."""

    def __init__(
        self,
        behaviours: list[OriginRequest],
        *,
        invoke: Invoke,
        fetch_object: FetchObject,
        distribution_domain: str = "d111111abcdef8.cloudfront.net",
        distribution_id: str = "ELOCALDISTRIBUTION",
    ) -> None:
        self._behaviours = behaviours
        self._invoke = invoke
        self._fetch_object = fetch_object
        self._domain = distribution_domain
        self._id = distribution_id
        self._cache: dict[str, Reply] = {}
        self._lock = threading.Lock()

    def behaviour_for(self, request: Request) -> OriginRequest | None:
        if request.method not in ("GET", "HEAD"):
            return None
        return next((behaviour for behaviour in self._behaviours if behaviour.matches(request.path)), None)

    def answer(self, behaviour: OriginRequest, request: Request) -> Reply:
        with self._lock:
            kept = self._cache.get(request.path)
        if kept is not None:
            return Reply(kept.status, [*kept.headers, ("X-Cache", "Hit from cloudfront")], kept.body)
        reply = self._miss(behaviour, request)
        if reply.status == 200:
            with self._lock:
                self._cache[request.path] = reply
        return Reply(reply.status, [*reply.headers, ("X-Cache", "Miss from cloudfront")], reply.body)

    def cached_paths(self) -> list[str]:
        with self._lock:
            return sorted(self._cache)

    def _miss(self, behaviour: OriginRequest, request: Request) -> Reply:
        event = self._event(behaviour, request)
        try:
            errored, answer = self._invoke(behaviour.function, event)
        except Exception:  # Lambda refused the invoke (throttled, its own failure)
            logger.exception("the origin-request function could not be invoked")
            return _error(503, "The Lambda function associated with the CloudFront distribution was throttled.")
        if errored or not isinstance(answer, dict):
            return _error(502, _INVALID_FUNCTION)
        if "status" in answer:
            return _generated(answer)
        uri = str(answer.get("uri", request.path))  # the request, possibly changed: CloudFront asks the origin
        found = self._fetch_object(behaviour.bucket, uri.lstrip("/"))
        if found is None:
            return Reply(403, [("Content-Type", "application/xml")], b"<Error><Code>AccessDenied</Code></Error>")
        content_type, body = found
        return Reply(200, [("Content-Type", content_type)], body)

    def _event(self, behaviour: OriginRequest, request: Request) -> dict[str, Any]:
        headers: dict[str, list[dict[str, str]]] = {}
        for name, value in request.headers:
            if name.lower() in ("host", "connection", "keep-alive", "transfer-encoding"):
                continue
            headers.setdefault(name.lower(), []).append({"key": name, "value": value})
        headers["x-forwarded-for"] = [{"key": "X-Forwarded-For", "value": request.source_ip}]
        headers["via"] = [{"key": "Via", "value": f"2.0 {secrets.token_hex(16)}.cloudfront.net (CloudFront)"}]
        headers["host"] = [{"key": "Host", "value": behaviour.origin_domain}]
        return {
            "Records": [
                {
                    "cf": {
                        "config": {
                            "distributionDomainName": self._domain,
                            "distributionId": self._id,
                            "eventType": "origin-request",
                            "requestId": base64.urlsafe_b64encode(secrets.token_bytes(42)).decode(),
                        },
                        "request": {
                            "clientIp": request.source_ip,
                            "headers": headers,
                            "method": request.method,
                            "origin": {
                                "s3": {
                                    "authMethod": "none",
                                    "customHeaders": {},
                                    "domainName": behaviour.origin_domain,
                                    "path": "",
                                    "region": behaviour.origin_region,
                                }
                            },
                            "querystring": request.query,
                            "uri": request.path,
                        },
                    }
                }
            ]
        }


def _generated(answer: Mapping[str, Any]) -> Reply:
    """A response the function generated, in CloudFront's shape, as the viewer gets it."""
    try:
        status = int(str(answer["status"]))
    except ValueError:
        return _error(502, "The Lambda function returned an invalid status.")
    headers = [
        (str(entry.get("key", name)), str(entry.get("value", "")))
        for name, entries in (answer.get("headers") or {}).items()
        for entry in entries
        if isinstance(entry, dict)
    ]
    body = str(answer.get("body") or "")
    content = base64.b64decode(body) if answer.get("bodyEncoding") == "base64" else body.encode()
    return Reply(status, headers, content)


def _error(status: int, message: str) -> Reply:
    return Reply(status, [("Content-Type", "text/plain")], message.encode())
