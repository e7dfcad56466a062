"""IAM in the local cloud: every AWS call a function makes is authorized against its execution role, as AWS does.

Each function's worker signs its calls with credentials of its own role (`access_key_for`), as Lambda gives a
function its role's session. The AWS endpoint reads the access key from the request's signature, works out the
IAM action and the resource ARN(s) the request needs (`requested`), and evaluates the role's policies from the
template (`Policies.decide`): an explicit Deny wins, then any Allow, and nothing else is allowed. A refused call
gets the service's own AccessDenied answer, so the SDK raises what it would raise in AWS.

Calls signed with any other key (the developer's aws CLI, the tests' harness, the local cloud itself) are not
checked: they stand for an administrator.

What is evaluated: Effect, Action (wildcards, case-insensitive), Resource (wildcards), and the condition
operators StringEquals, StringLike and their ForAllValues/ForAnyValue forms on the context keys this module
fills in (`ses:FromAddress`). A statement whose condition names any other key does not apply (fail closed).
NotAction, NotResource, permission boundaries, session policies and resource-based policies are not evaluated.

Why not moto's evaluator (moto.iam.access_control.IAMPolicyStatement): it turns an Allow whose condition does
not hold into an explicit Deny, matches actions case-sensitively, and reads patterns as unescaped regular
expressions; moto's own enforcement also checks every resource as "*".

Every decision is remembered per role (`Policies.usage`), so that a run can say which grants it used and which
calls were refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

# AWS managed policies the template attaches, with what matters of their documents (Lambda's logging and X-Ray
# writes; neither is an API call a function makes here). An unknown one grants nothing (fail closed).
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
}
USAGE_PATH = "/_localcloud/iam"  # GET: Policies.usage(), per role
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
_ACCESS_KEY_PREFIX = "ASIA"  # what the access key of a role's session starts with in AWS
# A transaction is authorized item by item, each as the single-item action it performs.
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_JSON_SERVICES = {"dynamodb", "sqs", "states", "cognito-idp", "events", "logs", "kinesis", "firehose"}


class PolicyError(ValueError):
    """A policy the local cloud cannot evaluate (NotAction, NotResource): refused when the stack starts."""


@dataclass(frozen=True)
class Request:
    """One authorization AWS makes for a call: an action on a resource, with the call's condition context."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]]
    managed: bool = False  # from an AWS managed policy (Lambda's logs, X-Ray): never a call of the function's code

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str, *, managed: bool = False) -> Statement:
        for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
            if unsupported in raw:
                raise PolicyError(f"{where}: {unsupported} is not evaluated by the local cloud")
        return cls(
            effect=str(raw["Effect"]),
            actions=tuple(str(action) for action in _as_list(raw.get("Action"))),
            resources=tuple(str(resource) for resource in _as_list(raw.get("Resource"))),
            condition=raw.get("Condition") or {},
            managed=managed,
        )

    def applies(self, request: Request) -> bool:
        return (
            any(_matches(pattern, request.action, case_sensitive=False) for pattern in self.actions)
            and any(_matches(pattern, request.resource, case_sensitive=True) for pattern in self.resources)
            and _conditions_hold(self.condition, request.context)
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    request: Request


@dataclass
class RoleUsage:
    """What one role's calls needed: the grants used and the calls refused."""

    allowed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (action, resource) -> calls
    denied: Counter[tuple[str, str]] = field(default_factory=Counter)


class Policies:
    """The execution roles of the stack, by ARN, with their statements; and the decisions made with them."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._roles: dict[str, tuple[Statement, ...]] = {}  # role ARN -> statements
        self._keys: dict[str, str] = {}  # access key id -> role ARN
        self._sessions: dict[str, str] = {}  # access key id -> session name (the function's name)
        self._lock = threading.Lock()
        self._usage: dict[str, RoleUsage] = {}
        self._uncounted: set[str] = set()  # access keys whose decisions are not remembered
        self._properties: dict[str, Mapping[str, Any]] = {}  # role ARN -> its CloudFormation properties

    def add_role(self, arn: str, properties: Mapping[str, Any]) -> None:
        """A role from its resolved CloudFormation properties (inline Policies and ManagedPolicyArns)."""
        statements: list[Statement] = []
        for policy in properties.get("Policies", []):
            name = policy.get("PolicyName", "?")
            for raw in _as_list(policy.get("PolicyDocument", {}).get("Statement")):
                statements.append(Statement.parse(raw, f"{arn} {name}"))
        for managed in properties.get("ManagedPolicyArns", []):
            for raw in MANAGED_POLICIES.get(str(managed).rsplit("/", 1)[-1], []):
                statements.append(Statement.parse(raw, f"{arn} {managed}", managed=True))
        self._roles[arn] = tuple(statements)
        self._properties[arn] = properties

    def credentials_for(self, role_arn: str, session_name: str, *, counted: bool = True) -> dict[str, str]:
        """The environment of a function whose execution role this is: its session's credentials. The decisions
        on an uncounted session's calls (a test probing the role) stay out of `usage`."""
        key = _ACCESS_KEY_PREFIX + hashlib.sha256(f"{role_arn}/{session_name}".encode()).hexdigest()[:16].upper()
        with self._lock:
            self._keys[key] = role_arn
            self._sessions[key] = session_name
            if not counted:
                self._uncounted.add(key)
        return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": f"local-{key}"}

    def function_roles(self) -> set[str]:
        """The roles some function runs with (credentials were issued for them)."""
        with self._lock:
            return {role for key, role in self._keys.items() if key not in self._uncounted}

    def role_of(self, access_key: str) -> str | None:
        return self._keys.get(access_key)

    def decide(self, access_key: str, request: Request) -> Decision:
        """The decision on a call signed with a function's access key (remembered in `usage`)."""
        role_arn = self._keys[access_key]
        allowed = self.allows(role_arn, request.action, request.resource, request.context)
        if access_key in self._uncounted:
            return Decision(allowed, request)
        with self._lock:
            usage = self._usage.setdefault(role_arn, RoleUsage())
            (usage.allowed if allowed else usage.denied)[(request.action, request.resource)] += 1
        return Decision(allowed, request)

    def allows(self, role_arn: str, action: str, resource: str, context: Mapping[str, str] | None = None) -> bool:
        """Whether the role may (without remembering the question: for checks, not for calls)."""
        request = Request(action, resource, context or {})
        applicable = [statement for statement in self._roles.get(role_arn, ()) if statement.applies(request)]
        return any(s.effect == "Allow" for s in applicable) and not any(s.effect == "Deny" for s in applicable)

    def statements(self, role_arn: str) -> tuple[Statement, ...]:
        return self._roles.get(role_arn, ())

    def forget_refusals(self, role_arn: str) -> None:
        """Clear the role's refused calls (after a test that provoked them on purpose)."""
        with self._lock:
            if role_arn in self._usage:
                self._usage[role_arn].denied.clear()

    def properties(self, role_arn: str) -> Mapping[str, Any]:
        """The role as the template declares it (resolved): add_role with changed properties replaces it."""
        return self._properties[role_arn]

    def unused(self, role_arn: str) -> list[tuple[str, str]]:
        """The (action, resource) pairs the role's own statements allow and no call has used so far (the managed
        policies' logging and tracing grants left out)."""
        with self._lock:
            used = list(self._usage.get(role_arn, RoleUsage()).allowed)
        return [
            (action, resource)
            for statement in self._roles.get(role_arn, ())
            if statement.effect == "Allow" and not statement.managed
            for action in statement.actions
            for resource in statement.resources
            if not any(
                _matches(action, called, case_sensitive=False) and _matches(resource, on, case_sensitive=True)
                for called, on in used
            )
        ]

    def usage(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Per function role: the (action, resource) pairs allowed and denied so far, with their counts, and the
        grants no call has used yet."""
        with self._lock:
            usage = dict(self._usage)
            roles = sorted({role for key, role in self._keys.items() if key not in self._uncounted})
        report: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for role in roles:
            calls = usage.get(role, RoleUsage())
            report[role] = {
                "allowed": [{"action": a, "resource": r, "calls": n} for (a, r), n in sorted(calls.allowed.items())],
                "denied": [{"action": a, "resource": r, "calls": n} for (a, r), n in sorted(calls.denied.items())],
                "unused": [{"action": a, "resource": r} for a, r in self.unused(role)],
            }
        return report

    def session_of(self, access_key: str) -> str:
        return self._sessions.get(access_key, "function")


class IamEnforcement:
    """WSGI middleware in front of the AWS endpoint: a call signed with a function's credentials runs only if its
    role allows every action the call needs, on every resource it touches."""

    def __init__(
        self, app: Callable[[Environ, StartResponse], Iterable[bytes]], policies: Policies, region: str
    ) -> None:
        self.app = app
        self.policies = policies
        self.region = region

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == USAGE_PATH:
            body = json.dumps(self.policies.usage()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        signed = credential_scope(str(environ.get("HTTP_AUTHORIZATION", "")))
        role = self.policies.role_of(signed[0]) if signed else None
        if signed is None or role is None:
            return self.app(environ, start_response)
        access_key, _, service = signed
        body = read_body(environ)
        try:
            requests = list(requested(service, environ, body, self.region, self.policies.account_id))
        except UnknownCall as unknown:
            requests = [Request(f"{service}:{unknown}", "*")]
        for request in requests:
            if not self.policies.decide(access_key, request).allowed:
                session = self.policies.session_of(access_key)
                message = (
                    f"User: arn:aws:sts::{self.policies.account_id}:assumed-role/{role.rsplit('/', 1)[-1]}/{session} "
                    f"is not authorized to perform: {request.action} on resource: {request.resource} because no "
                    f"identity-based policy allows the {request.action} action"
                )
                return access_denied(service, message, start_response)
        if service == "s3" and requests and requests[0].action in ("s3:GetObject", "s3:GetObjectVersion"):
            return self._s3_read(access_key, requests[0], environ, start_response)
        return self.app(environ, start_response)

    def _s3_read(
        self, access_key: str, request: Request, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        """S3 tells a caller that a key does not exist (404 NoSuchKey) only when it may list the bucket: to any other
        caller a missing key is 403 AccessDenied, as if it were there and refused."""
        answered: list[Any] = []

        def keep(status: str, headers: Any, *rest: Any) -> Any:
            answered[:] = [status, headers, rest]
            return lambda _data: None

        body = b"".join(self.app(environ, keep))
        status, headers, rest = answered
        if status.startswith("404"):
            bucket_arn = request.resource.split("/", 1)[0]
            if not self.policies.decide(access_key, Request("s3:ListBucket", bucket_arn)).allowed:
                message = f"Access Denied: {request.action} on {request.resource} of a key that does not exist"
                return access_denied("s3", message, start_response)
        start_response(status, headers, *rest)
        return [body]


class UnknownCall(Exception):
    """A call whose action or resource this module cannot work out (refused: fail closed)."""


def requested(service: str, environ: Environ, body: bytes, region: str, account: str) -> Iterator[Request]:
    """The authorizations a call needs, in the order AWS would evaluate them."""
    arn = f"arn:aws:{{service}}:{region}:{account}:"
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if service in _JSON_SERVICES and target:
        operation = target.rsplit(".", 1)[-1]
        request = json_object(body)
        if service == "dynamodb":
            yield from _dynamodb(operation, request, arn.format(service="dynamodb"))
        elif service == "sqs":
            queue = str(request.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1]
            yield Request(f"sqs:{operation}", arn.format(service="sqs") + queue)
        elif service == "states":
            resource = request.get("stateMachineArn") or request.get("executionArn") or "*"
            yield Request(f"states:{operation}", str(resource))
        elif service == "cognito-idp":
            yield Request(
                f"cognito-idp:{operation}",
                arn.format(service="cognito-idp") + f"userpool/{request.get('UserPoolId', '')}",
            )
        else:
            raise UnknownCall(operation)
        return
    yield from _rest_requested(service, environ, body, arn)


def _rest_requested(service: str, environ: Environ, body: bytes, arn: str) -> Iterator[Request]:
    """The authorizations of a call to a service whose API is not JSON with an X-Amz-Target."""
    path = unquote(str(environ.get("PATH_INFO", "")))
    method = str(environ.get("REQUEST_METHOD", "GET"))
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if service == "sns":
        form = {name: values[0] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}
        resource = form.get("TopicArn") or form.get("TargetArn") or "*"
        yield Request(f"sns:{form.get('Action', '?')}", resource)
    elif service == "lambda":
        invoked = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", path)
        if invoked is None:
            raise UnknownCall(f"{method} {path}")
        name = invoked.group(1)
        function = name if name.startswith("arn:") else arn.format(service="lambda") + f"function:{name}"
        qualifier = query.get("Qualifier", [None])[0]
        yield Request("lambda:InvokeFunction", f"{function}:{qualifier}" if qualifier else function)
    elif service == "ses" and method == "POST" and path == "/v2/email/outbound-emails":
        sender = str(json_object(body).get("FromEmailAddress", ""))
        address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
        yield Request("ses:SendEmail", arn.format(service="ses") + f"identity/{address}", {"ses:FromAddress": address})
    elif service == "s3":
        yield _s3(method, path, query)
    elif service == "apigateway":  # API Gateway's management API: apigateway:<method> on the path's ARN
        region = arn.split(":")[3]
        yield Request(f"apigateway:{method}", f"arn:aws:apigateway:{region}::{path}")
    elif service == "execute-api":  # a WebSocket API's @connections API, at /<api id>/<stage>/@connections/<id>
        managed = re.fullmatch(r"/([^/]+)/([^/]+)/@connections/([^/]+)", path)
        if managed is None:
            raise UnknownCall(f"{method} {path}")
        api_id, stage, connection_id = managed.groups()
        resource = arn.format(service="execute-api") + f"{api_id}/{stage}/{method}/@connections/{connection_id}"
        yield Request("execute-api:ManageConnections", resource)
    else:
        raise UnknownCall(f"{method} {path}")


def _dynamodb(operation: str, request: Mapping[str, Any], arn: str) -> Iterator[Request]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for item in request.get("TransactItems", []):
            for kind, inner in item.items():
                yield Request(
                    f"dynamodb:{_TRANSACT_ACTIONS.get(kind, kind)}", f"{arn}table/{inner.get('TableName', '')}"
                )
        return
    if operation == "ExportTableToPointInTime":
        # DynamoDB writes the export's objects as its caller: the caller needs these on the destination too.
        yield Request("dynamodb:ExportTableToPointInTime", str(request.get("TableArn", "")))
        prefix = str(request.get("S3Prefix") or "").strip("/")
        objects = f"arn:aws:s3:::{request.get('S3Bucket', '')}/{prefix + '/' if prefix else ''}AWSDynamoDB/*"
        yield Request("s3:PutObject", objects)
        yield Request("s3:AbortMultipartUpload", objects)
        return
    if operation == "DescribeExport":
        yield Request("dynamodb:DescribeExport", str(request.get("ExportArn", "")))
        return
    if operation == "ListExports":
        yield Request("dynamodb:ListExports", "*")
        return
    if "RequestItems" in request:  # BatchGetItem, BatchWriteItem
        for table in request["RequestItems"]:
            yield Request(f"dynamodb:{operation}", f"{arn}table/{table}")
        return
    table = f"{arn}table/{request.get('TableName', '')}"
    index = request.get("IndexName")
    yield Request(f"dynamodb:{operation}", f"{table}/index/{index}" if index else table)


# S3 calls by method and sub-resource: (method, sub-resource or "" for the object/bucket itself) -> action.
_S3_OBJECT_ACTIONS = {
    ("GET", ""): "GetObject",
    ("HEAD", ""): "GetObject",
    ("PUT", ""): "PutObject",
    ("DELETE", ""): "DeleteObject",
    ("PUT", "acl"): "PutObjectAcl",
    ("GET", "acl"): "GetObjectAcl",
}
_S3_BUCKET_ACTIONS = {
    ("GET", ""): "ListBucket",
    ("HEAD", ""): "ListBucket",
    ("GET", "lifecycle"): "GetLifecycleConfiguration",
    ("PUT", "lifecycle"): "PutLifecycleConfiguration",
}


def _s3(method: str, path: str, query: Mapping[str, list[str]]) -> Request:
    bucket, _, key = path.lstrip("/").partition("/")
    sub = next((name for name in ("acl", "lifecycle", "uploads", "tagging", "policy") if name in query), "")
    if key:
        if "uploadId" in query or sub == "uploads":  # multipart upload parts are PutObject
            return Request("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}")
        action = _S3_OBJECT_ACTIONS.get((method, sub))
        resource = f"arn:aws:s3:::{bucket}/{key}"
    else:
        action = _S3_BUCKET_ACTIONS.get((method, sub))
        resource = f"arn:aws:s3:::{bucket}"
    if action is None:
        raise UnknownCall(f"{method} {path}?{sub}")
    return Request(f"s3:{action}", resource)


def access_denied(service: str, message: str, start_response: StartResponse) -> list[bytes]:
    """AWS's refusal, in the service's own protocol (the SDK parses it into AccessDenied / AuthorizationError)."""
    request_id = str(uuid.uuid4())
    if service == "sns":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code>"
            f"<Message>{_xml(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        status, headers = "403 Forbidden", [("Content-Type", "text/xml")]
    elif service == "s3":
        body = (
            f"<Error><Code>AccessDenied</Code><Message>{_xml(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        status, headers = "403 Forbidden", [("Content-Type", "application/xml")]
    elif service == "execute-api":
        body = json.dumps({"message": message}).encode()
        status = "403 Forbidden"
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ForbiddenException")]
    elif service in ("lambda", "ses", "apigateway"):
        body = json.dumps({"Message": message}).encode()
        status = "403 Forbidden"
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")]
    else:
        version = "1.0" if service == "dynamodb" else "1.1"
        body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
        status, headers = "400 Bad Request", [("Content-Type", f"application/x-amz-json-{version}")]
    start_response(status, [*headers, ("Content-Length", str(len(body))), ("x-amzn-RequestId", request_id)])
    return [body]


def _matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """IAM's wildcards: * any run of characters, ? any one (nothing else is special)."""
    if pattern == "*":
        return True
    expression = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(expression, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, tests in condition.items():
        qualifier, _, base = operator.rpartition(":")
        if base not in ("StringEquals", "StringLike") or qualifier not in ("", "ForAllValues", "ForAnyValue"):
            return False
        for key, expected in tests.items():
            if key not in context:
                return False
            wanted = [str(value) for value in _as_list(expected)]
            actual = context[key]
            if base == "StringEquals" and actual not in wanted:
                return False
            if base == "StringLike" and not any(_matches(value, actual, case_sensitive=True) for value in wanted):
                return False
    return True


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def json_object(body: bytes) -> dict[str, Any]:
    """A request's or response's JSON object ({} when it is not one)."""
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def credential_scope(authorization: str) -> tuple[str, str, str] | None:
    """(access key, region, service) of a SigV4 Authorization header; None when the request is not signed so."""
    signed = _CREDENTIAL.search(authorization)
    return (signed[1], signed[2], signed[3]) if signed else None


def read_body(environ: Environ) -> bytes:
    """Read the request body and put it back, so that the application behind reads it too (read once per request:
    the layers in front of moto each ask for it)."""
    kept = environ.get(_BODY_KEY)
    if isinstance(kept, bytes):
        environ["wsgi.input"] = io.BytesIO(kept)
        return kept
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ[_BODY_KEY] = body
    return body


_BODY_KEY = "localcloud.body"
