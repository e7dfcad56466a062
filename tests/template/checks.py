"""Checks on the transformed (CloudFormation) template. Each takes the template as a dict and returns the
problems it finds as sentences, so a test can assert there are none, and another can feed it a broken copy."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

Template = Mapping[str, Any]

# Services that hold or move the shop's data: a wildcard grant on any of them is a data leak waiting to happen.
DATA_SERVICES = frozenset(
    {
        "dynamodb",
        "s3",
        "sqs",
        "sns",
        "kms",
        "states",
        "events",
        "scheduler",
        "kinesis",
        "firehose",
        "secretsmanager",
        "ssm",
        "rds-data",
    }
)
# Data-service actions that IAM only ever grants on "*" (they have no resource type to scope them to).
ACTIONS_WITHOUT_RESOURCES = frozenset(
    {
        "dynamodb:liststreams",
        "dynamodb:listtables",
        "kinesis:liststreams",
        "sqs:listqueues",
        "ssm:describeparameters",
        # Answering a task token that a service-integration task issued (.waitForTaskToken): IAM cannot scope
        # these to a state machine, the token itself is the capability.
        "states:sendtasksuccess",
        "states:sendtaskfailure",
        "states:sendtaskheartbeat",
    }
)
# AWS managed policies a role may carry, each with why it is acceptable. Anything else fails the check until it
# is read and added here. Note that SAM attaches AWSLambdaDynamoDBExecutionRole, AWSLambdaSQSQueueExecutionRole
# or AWSLambdaKinesisExecutionRole to a function with a stream or queue event: those grant their reads on "*".
ACCEPTED_MANAGED_POLICIES = {
    "service-role/AWSLambdaBasicExecutionRole": "CloudWatch Logs only (SAM's default for every function)",
    "AWSXrayWriteOnlyAccess": "X-Ray trace upload only (SAM adds it for Tracing: Active)",
    "service-role/AmazonAPIGatewayPushToCloudWatchLogs": "CloudWatch Logs only (API Gateway's account role)",
}

# Routes anyone may call without signing in: the health check and browsing the catalog.
PUBLIC_ROUTES = frozenset({("/health", "get"), ("/products", "get"), ("/products/{productId}", "get")})
# Routes for partner systems: no Cognito token, but an API key (with its usage plan) instead.
API_KEY_ROUTES = frozenset({("/carrier/deliveries", "post")})
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method"})

# The identity pool's authenticated role may only read, by key, partitions named by the caller's principal tag.
# Scan is not among them: dynamodb:LeadingKeys is absent from a Scan, and ForAllValues on an absent key is true.
CUSTOMER_KEY = "customerId"
ROW_LEVEL_READS = frozenset({"dynamodb:getitem", "dynamodb:batchgetitem", "dynamodb:query"})
_PRINCIPAL_TAG = re.compile(r"^\$\{aws:PrincipalTag/([\w.:-]+)\}$")


# ---------------------------------------------------------------------------------------------------------------
# Reading CloudFormation values
# ---------------------------------------------------------------------------------------------------------------
def resources(template: Template, resource_type: str | None = None) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template.get("Resources", {})
    return {lid: res for lid, res in found.items() if resource_type is None or res.get("Type") == resource_type}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def alternatives(value: Any) -> Iterator[Any]:
    """Every value an expression can take across its conditions (both branches of each Fn::If); no AWS::NoValue."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, when_true, when_false = value["Fn::If"]
        yield from alternatives(when_true)
        yield from alternatives(when_false)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def as_text(value: Any) -> str | None:
    """A string, or the template text of Fn::Sub / Fn::Join with references written as ${Name}; None otherwise."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (function, argument), *_ = value.items()
    text: str | None = None
    if function == "Fn::Sub" and isinstance(argument, str):
        text = argument
    elif function == "Fn::Sub":
        text, variables = argument
        for name, variable in variables.items():
            text = text.replace(f"${{{name}}}", as_text(variable) or f"${{{name}}}")
    elif function == "Ref":
        text = f"${{{argument}}}"
    elif function == "Fn::GetAtt":
        text = "${" + ".".join(as_list(argument)) + "}"
    elif function == "Fn::Join":
        separator, parts = argument
        texts = [as_text(part) for part in parts]
        text = None if None in texts else separator.join(str(part) for part in texts)
    return text


def mentions(value: Any, logical_id: str) -> bool:
    """Whether an expression refers to a resource (Ref, GetAtt or inside a Sub)."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        get_att = value.get("Fn::GetAtt")
        if get_att is not None and as_list(get_att)[0].split(".")[0] == logical_id:
            return True
        return any(mentions(item, logical_id) for item in value.values())
    if isinstance(value, list):
        return any(mentions(item, logical_id) for item in value)
    if isinstance(value, str):
        return f"${{{logical_id}}}" in value or f"${{{logical_id}." in value
    return False


# Pseudo parameters a rule or condition may read, as samconfig.toml deploys (pass them in `parameters` to vary).
PSEUDO_PARAMETERS = {"AWS::Region": "us-east-1"}


def evaluate(expression: Any, parameters: Mapping[str, str], template: Template) -> Any:
    """The value of a condition, rule or parameter expression for the given parameter values (a small subset of
    the intrinsic functions: Ref, Condition, Fn::Equals/Not/And/Or)."""
    if not isinstance(expression, dict) or len(expression) != 1:
        return expression
    (function, argument), *_ = expression.items()
    if function == "Ref" and argument in PSEUDO_PARAMETERS:
        return parameters.get(argument, PSEUDO_PARAMETERS[argument])
    if function == "Ref":
        return parameters.get(argument, str(template["Parameters"][argument].get("Default")))
    if function == "Condition":
        return evaluate(template["Conditions"][argument], parameters, template)
    values = [evaluate(item, parameters, template) for item in argument]
    operators = {
        "Fn::Equals": lambda: str(values[0]) == str(values[1]),
        "Fn::Not": lambda: not values[0],
        "Fn::And": lambda: all(values),
        "Fn::Or": lambda: any(values),
    }
    if function not in operators:
        raise ValueError(f"cannot evaluate {function}")
    return operators[function]()


def resolve(value: Any, parameters: Mapping[str, str], template: Template) -> Any:
    """A property's value for the given parameters: Fn::If chosen by its condition, None for AWS::NoValue."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        chosen = when_true if evaluate({"Condition": condition}, parameters, template) else when_false
        return resolve(chosen, parameters, template)
    return None if value == {"Ref": "AWS::NoValue"} else value


# ---------------------------------------------------------------------------------------------------------------
# IAM
# ---------------------------------------------------------------------------------------------------------------
def policy_documents(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, policy document) for every inline policy of every role and every IAM policy resource."""
    for logical_id, resource in resources(template).items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policies in alternatives(properties.get("Policies", [])):
                for policy in as_list(policies):
                    for chosen in alternatives(policy):
                        yield f"{logical_id}/{chosen.get('PolicyName')}", chosen["PolicyDocument"]
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            yield logical_id, properties["PolicyDocument"]


def statements(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for statement in as_list(document.get("Statement", [])):
        yield from alternatives(statement)


def _is_wildcard_resource(resource: Any) -> bool:
    text = as_text(resource)
    if text is None:
        return False  # a Ref or GetAtt names one resource
    if text == "*":
        return True
    parts = re.sub(r"\$\{[^}]*\}", "{ref}", text).split(":", 5)  # ${AWS::Partition} holds colons
    if len(parts) < 6:
        return False
    service, resource_part = parts[2], parts[5]
    if service == "s3":
        return resource_part in {"*", "*/*"}
    # "table/*", "stateMachine:*", "key/*": every resource of the type
    return resource_part == "*" or re.fullmatch(r"[A-Za-z-]+[/:]\*", resource_part) is not None


def _statement_problems(where: str, statement: Mapping[str, Any]) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    problems = [
        f"{where}: Allow with {negated} grants everything not listed"
        for negated in ("NotAction", "NotResource")
        if negated in statement
    ]
    actions = [str(action).lower() for action in as_list(statement.get("Action", []))]
    data_actions = [a for a in actions if a == "*" or a.split(":", 1)[0] in DATA_SERVICES]
    problems += [
        f"{where}: grants every action ({action})"
        for action in data_actions
        if action == "*" or action.split(":", 1)[1] == "*"
    ]
    scoped = [a for a in data_actions if a not in ACTIONS_WITHOUT_RESOURCES]
    wildcards = [r for r in as_list(statement.get("Resource", [])) if _is_wildcard_resource(r)]
    if scoped and wildcards:
        problems.append(f"{where}: grants {', '.join(scoped)} on every resource ({as_text(wildcards[0])})")
    return problems


def _managed_policy_problems(template: Template) -> list[str]:
    problems = []
    for logical_id, role in resources(template, "AWS::IAM::Role").items():
        for arns in alternatives(role.get("Properties", {}).get("ManagedPolicyArns", [])):
            for arn in as_list(arns):
                text = as_text(arn) or ""
                if ":iam::aws:policy/" not in text:
                    continue  # a customer managed policy of this template, checked as a policy document
                name = text.split(":iam::aws:policy/", 1)[1]
                if name not in ACCEPTED_MANAGED_POLICIES:
                    problems.append(f"{logical_id}: AWS managed policy {name} is not among the accepted ones")
    return problems


def wildcard_grants(template: Template) -> list[str]:
    """Allow statements that grant a data service's every action, or any of its actions on every resource, and
    AWS managed policies not known to stay clear of data services."""
    problems = [
        problem
        for where, document in policy_documents(template)
        for statement in statements(document)
        for problem in _statement_problems(where, statement)
    ]
    return problems + _managed_policy_problems(template)


# ---------------------------------------------------------------------------------------------------------------
# DynamoDB
# ---------------------------------------------------------------------------------------------------------------
# Tables whose items expire, and the attribute holding the expiry (Powertools idempotency uses "expiration").
TTL_ATTRIBUTES = {"SessionsTable": "expiresAt", "IdempotencyTable": "expiration", "ConnectionsTable": "expiresAt"}
STREAMS = {"OrdersTable": "NEW_AND_OLD_IMAGES"}


def table_problems(template: Template) -> list[str]:
    problems = []
    tables = resources(template, "AWS::DynamoDB::Table")
    for logical_id, table in tables.items():
        properties = table.get("Properties", {})
        pitr = properties.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled") is not True:
            problems.append(f"{logical_id}: point-in-time recovery is not enabled")
    for logical_id, attribute in TTL_ATTRIBUTES.items():
        ttl = tables.get(logical_id, {}).get("Properties", {}).get("TimeToLiveSpecification", {})
        if ttl != {"AttributeName": attribute, "Enabled": True}:
            problems.append(f"{logical_id}: TTL must be enabled on {attribute}, found {ttl or 'none'}")
    for logical_id, view_type in STREAMS.items():
        stream = tables.get(logical_id, {}).get("Properties", {}).get("StreamSpecification", {})
        if stream.get("StreamViewType") != view_type:
            problems.append(f"{logical_id}: stream must be {view_type}, found {stream or 'none'}")
    return problems


def _partition_key(schema: list[dict[str, str]]) -> str | None:
    return next((key["AttributeName"] for key in schema if key["KeyType"] == "HASH"), None)


# ---------------------------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------------------------
def _cognito_schemes(body: Mapping[str, Any], template: Template) -> set[str]:
    schemes = body.get("components", {}).get("securitySchemes") or body.get("securityDefinitions") or {}
    pools = resources(template, "AWS::Cognito::UserPool")
    names = set()
    for name, scheme in schemes.items():
        authorizer = scheme.get("x-amazon-apigateway-authorizer", {})
        providers = authorizer.get("providerARNs", [])
        if (
            authorizer.get("type") == "cognito_user_pools"
            and providers
            and all(any(mentions(arn, pool) for pool in pools) for arn in providers)
        ):
            names.add(name)
    return names


def api_auth_problems(template: Template) -> list[str]:
    """Every method needs a Cognito user pool token, except the public routes and CORS preflights (which a
    browser sends without credentials); public routes must not ask for one."""
    problems = []
    rest_apis = resources(template, "AWS::ApiGateway::RestApi")
    apis = {logical_id: api for logical_id, api in rest_apis.items() if "Body" in api["Properties"]}
    if not apis:
        problems.append("no REST API with an OpenAPI body")
    for api_id, api in apis.items():
        body = api["Properties"]["Body"]
        cognito = _cognito_schemes(body, template)
        if not cognito:
            problems.append(f"{api_id}: no Cognito user pool authorizer")
        for path, operations in body.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in HTTP_METHODS:
                    continue
                security = operation.get("security", body.get("security", []))
                signed_in = any(name in cognito for requirement in security for name in requirement)
                route = f"{method.upper()} {path}"
                keyed = any("api_key" in requirement for requirement in security)
                if (path, method) in API_KEY_ROUTES:
                    if signed_in or not keyed:
                        problems.append(f"{api_id}: {route} must take an API key and no Cognito token")
                elif method == "options" or (path, method) in PUBLIC_ROUTES:
                    if signed_in:
                        problems.append(f"{api_id}: {route} is public but asks for a Cognito token")
                elif not signed_in:
                    problems.append(f"{api_id}: {route} does not require a Cognito token")
    return problems


def _depends_on(template: Template, logical_id: str) -> set[str]:
    """Every resource a resource waits for, directly or through others (DependsOn and references)."""
    everything = resources(template)
    seen: set[str] = set()
    pending = [logical_id]
    while pending:
        resource = everything[pending.pop()]
        direct = set(as_list(resource.get("DependsOn", [])))
        direct |= {other for other in everything if other not in seen and mentions(resource.get("Properties"), other)}
        for other in direct - seen:
            seen.add(other)
            pending.append(other)
    return seen


def api_logging_order_problems(template: Template) -> list[str]:
    """A stage that logs must wait for the account's CloudWatch role (AWS::ApiGateway::Account): API Gateway
    rejects execution and access logging until it is set, so a first deploy in a fresh region would race."""
    accounts = set(resources(template, "AWS::ApiGateway::Account"))
    problems = []
    for stage_id, stage in resources(template, "AWS::ApiGateway::Stage").items():
        properties = stage["Properties"]
        logs = "AccessLogSetting" in properties or any(
            setting.get("LoggingLevel", "OFF") != "OFF" for setting in properties.get("MethodSettings", [])
        )
        if logs and not accounts & _depends_on(template, stage_id):
            problems.append(f"{stage_id}: logs, but is not ordered after the API Gateway account's CloudWatch role")
    return problems


def api_account_problems(template: Template) -> list[str]:
    """The API Gateway account setting is the region's, not the stack's: deleting one stack must not take away
    the role that every other stack's API logs through."""
    problems = []
    for account_id, account in resources(template, "AWS::ApiGateway::Account").items():
        role = account["Properties"].get("CloudWatchRoleArn")
        retained = [account_id, *(r for r in resources(template, "AWS::IAM::Role") if mentions(role, r))]
        problems += [
            f"{logical_id}: not retained when the stack is deleted"
            for logical_id in retained
            if template["Resources"][logical_id].get("DeletionPolicy") != "Retain"
        ]
    return problems


# Services that publish to a topic as an AWS service principal: an AWS-managed key (alias/aws/sns) refuses them.
SERVICE_PUBLISHERS = {"AWS::CloudWatch::Alarm": "cloudwatch.amazonaws.com", "AWS::Events::Rule": "events.amazonaws.com"}


def _key_policy_admits(key: Mapping[str, Any], service: str) -> bool:
    for statement in statements(key["Properties"].get("KeyPolicy", {})):
        principals = as_list(statement.get("Principal", {}).get("Service", [])) if statement.get("Principal") else []
        actions = {action.lower() for action in as_list(statement.get("Action", []))}
        encrypts = "kms:decrypt" in actions and bool({"kms:generatedatakey*", "kms:generatedatakey"} & actions)
        if statement.get("Effect") == "Allow" and service in principals and encrypts:
            return True
    return False


def ops_topic_problems(template: Template) -> list[str]:
    """Every topic an alarm (or an EventBridge rule) publishes to is readable by it: unencrypted, or under a key
    of the stack whose policy lets that service encrypt with it."""
    topics = resources(template, "AWS::SNS::Topic")
    keys = resources(template, "AWS::KMS::Key")
    problems = []
    for publisher_type, service in SERVICE_PUBLISHERS.items():
        for publisher_id, publisher in resources(template, publisher_type).items():
            for topic_id, topic in topics.items():
                if not mentions(publisher["Properties"], topic_id):
                    continue
                key = topic["Properties"].get("KmsMasterKeyId")
                if key is None:
                    continue
                own = [keys[key_id] for key_id in keys if mentions(key, key_id)]
                if not own:
                    problems.append(f"{publisher_id} publishes to {topic_id}, whose key {key} {service} cannot use")
                elif not all(_key_policy_admits(k, service) for k in own):
                    problems.append(
                        f"{publisher_id} publishes to {topic_id}, whose key policy does not admit {service}"
                    )
    return problems


def dead_letter_problems(template: Template) -> list[str]:
    """Every queue a service drops undeliverable events into lets that service send to it, for that source."""
    policies = resources(template, "AWS::SQS::QueuePolicy")

    def admitted(queue: Any, service: str, source_id: str) -> bool:
        for policy in policies.values():
            if not any(mentions(q, queue_id) for q in as_list(policy["Properties"]["Queues"]) for queue_id in queue):
                continue
            for statement in statements(policy["Properties"]["PolicyDocument"]):
                principal = statement.get("Principal", {})
                services = as_list(principal.get("Service", [])) if isinstance(principal, Mapping) else []
                if service in services and mentions(statement.get("Condition", {}), source_id):
                    return True
        return False

    problems = []
    for rule_id, rule in resources(template, "AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
            if dead_letter is None:
                continue
            queue = [q for q in resources(template, "AWS::SQS::Queue") if mentions(dead_letter, q)]
            if not admitted(queue, "events.amazonaws.com", rule_id):
                problems.append(f"{rule_id}: EventBridge may not send to its dead-letter queue {queue}")
    for subscription_id, subscription in resources(template, "AWS::SNS::Subscription").items():
        redrive = subscription["Properties"].get("RedrivePolicy", {}).get("deadLetterTargetArn")
        topic = subscription["Properties"].get("TopicArn")
        if redrive is None:
            continue
        queue = [q for q in resources(template, "AWS::SQS::Queue") if mentions(redrive, q)]
        topic_ids = [t for t in resources(template, "AWS::SNS::Topic") if mentions(topic, t)]
        if not all(admitted(queue, "sns.amazonaws.com", t) for t in topic_ids):
            problems.append(f"{subscription_id}: SNS may not send to its dead-letter queue {queue}")
    return problems


def queue_visibility_problems(template: Template) -> list[str]:
    """A queue a function consumes hides a received message for at least six times the function's timeout (what
    Lambda advises: a batch retried within the function's time is not received twice meanwhile)."""
    queues = resources(template, "AWS::SQS::Queue")
    functions = resources(template, "AWS::Lambda::Function")
    problems = []
    for mapping_id, mapping in resources(template, "AWS::Lambda::EventSourceMapping").items():
        source = mapping["Properties"].get("EventSourceArn")
        for queue_id, queue in queues.items():
            if not mentions(source, queue_id):
                continue
            target = mapping["Properties"].get("FunctionName")
            aliases = resources(template, "AWS::Lambda::Alias")
            named = [a for a in aliases if mentions(target, a)]
            function_ids = [
                f
                for f in functions
                if mentions(target, f) or any(mentions(aliases[a]["Properties"]["FunctionName"], f) for a in named)
            ]
            for function_id in function_ids:
                for parameters in _parameter_scenarios(template):
                    timeout = _number(functions[function_id]["Properties"].get("Timeout", 3), parameters, template)
                    visibility = _number(queue["Properties"].get("VisibilityTimeout", 30), parameters, template)
                    if visibility < 6 * timeout:
                        problems.append(
                            f"{mapping_id}: {queue_id} hides a message {visibility} s, "
                            f"under 6 x {function_id}'s {timeout} s ({dict(parameters)})"
                        )
    return sorted(set(problems))


def _parameter_scenarios(template: Template) -> list[dict[str, str]]:
    """One set of parameter values per allowed value of each parameter that has a list of them (the others at their
    defaults): enough to evaluate a number looked up by a parameter in a mapping, for every value it can take."""
    scenarios: list[dict[str, str]] = [{}]
    for name, declared in template.get("Parameters", {}).items():
        scenarios += [{name: str(value)} for value in declared.get("AllowedValues", []) if isinstance(value, str)]
    return scenarios


def _number(value: Any, parameters: Mapping[str, str], template: Template) -> int:
    """A number property: a literal, a Ref to a parameter, or a Fn::FindInMap keyed by one, for these parameters."""
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, top, key = value["Fn::FindInMap"]
        return int(template["Mappings"][mapping][str(evaluate(top, parameters, template))][key])
    return int(evaluate(value, parameters, template))


# ---------------------------------------------------------------------------------------------------------------
# Identity pool: row-level security
# ---------------------------------------------------------------------------------------------------------------
def identity_pool_problems(template: Template) -> list[str]:
    """The authenticated role reads only the caller's own Orders partition, keyed by a principal tag mapped from
    the user pool token's sub (the identity id would not match the table's keys)."""
    attachments = resources(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    if not attachments:
        return ["no identity pool role attachment"]
    roles = resources(template, "AWS::IAM::Role")
    problems = []
    for attachment_id, attachment in attachments.items():
        properties = attachment["Properties"]
        pool = properties["IdentityPoolId"].get("Ref")
        role_arn = properties.get("Roles", {}).get("authenticated")
        role_id = str(as_list(role_arn.get("Fn::GetAtt", [None]))[0]) if isinstance(role_arn, dict) else ""
        if role_id not in roles:
            problems.append(f"{attachment_id}: the authenticated role is not a role of this template")
            continue
        problems += _trust_problems(role_id, roles[role_id], pool)
        row_level, tags = _row_level_problems(role_id, roles[role_id], template)
        problems += row_level + _principal_tag_problems(template, pool, tags)
    return problems


def _row_level_problems(role_id: str, role: dict[str, Any], template: Template) -> tuple[list[str], set[str]]:
    """Problems with the role's DynamoDB statements, and the principal tags their LeadingKeys conditions use."""
    problems = []
    tags: set[str] = set()
    reads = 0
    for where, document in policy_documents({"Resources": {role_id: role}}):
        for statement in statements(document):
            actions = {str(action).lower() for action in as_list(statement.get("Action", []))}
            if statement.get("Effect") != "Allow" or not any(a.startswith("dynamodb:") for a in actions):
                continue
            reads += 1
            if not actions <= ROW_LEVEL_READS:
                extra = ", ".join(sorted(actions - ROW_LEVEL_READS))
                problems.append(f"{where}: {extra} is not limited by dynamodb:LeadingKeys")
            leading = statement.get("Condition", {}).get("ForAllValues:StringEquals", {})
            keys = as_list(leading.get("dynamodb:LeadingKeys", []))
            matches = [_PRINCIPAL_TAG.match(str(key)) for key in keys]
            if not keys or not all(matches):
                problems.append(f"{where}: no ForAllValues:StringEquals dynamodb:LeadingKeys on a principal tag")
            tags |= {match.group(1) for match in matches if match}
            problems += [f"{where}: {p}" for p in _customer_keyed(statement.get("Resource", []), template)]
    if not reads:
        problems.append(f"{role_id}: grants no DynamoDB reads")
    return problems, tags


def _trust_problems(role_id: str, role: Mapping[str, Any], pool: str | None) -> list[str]:
    for statement in statements(role["Properties"]["AssumeRolePolicyDocument"]):
        if statement.get("Principal", {}).get("Federated") != "cognito-identity.amazonaws.com":
            continue
        actions = set(as_list(statement.get("Action", [])))
        condition = statement.get("Condition", {})
        problems = []
        # Principal tags reach the session only if the role may be tagged.
        if not {"sts:AssumeRoleWithWebIdentity", "sts:TagSession"} <= actions:
            problems.append(f"{role_id}: trust policy must allow sts:AssumeRoleWithWebIdentity and sts:TagSession")
        if condition.get("StringEquals", {}).get("cognito-identity.amazonaws.com:aud") != {"Ref": pool}:
            problems.append(f"{role_id}: trust policy is not limited to this identity pool")
        amr = condition.get("ForAnyValue:StringLike", {}).get("cognito-identity.amazonaws.com:amr")
        if amr != "authenticated":
            problems.append(f"{role_id}: trust policy is not limited to authenticated identities")
        return problems
    return [f"{role_id}: not assumable by the Cognito identity pool"]


def _customer_keyed(resource_list: Any, template: Template) -> list[str]:
    """Every table or index a row-level statement names must be partitioned by the customer id."""
    tables = resources(template, "AWS::DynamoDB::Table")
    problems = []
    for resource in as_list(resource_list):
        text = as_text(resource) or ""
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}(?:/index/([\w.-]+))?", text)
        if not match or match.group(1) not in tables:
            problems.append(f"{text or resource} is not a table (or index) of this template")
            continue
        properties = tables[match.group(1)]["Properties"]
        schema = properties["KeySchema"]
        if match.group(2):
            indexes = properties.get("LocalSecondaryIndexes", []) + properties.get("GlobalSecondaryIndexes", [])
            index = next((i for i in indexes if i["IndexName"] == match.group(2)), None)
            schema = index["KeySchema"] if index else []
        if _partition_key(schema) != CUSTOMER_KEY:
            problems.append(f"{text} is not partitioned by {CUSTOMER_KEY}, so LeadingKeys does not isolate customers")
    return problems


def _principal_tag_problems(template: Template, pool: str | None, tags: set[str]) -> list[str]:
    mapped: dict[str, str] = {}
    for principal_tag in resources(template, "AWS::Cognito::IdentityPoolPrincipalTag").values():
        properties = principal_tag["Properties"]
        if properties["IdentityPoolId"] == {"Ref": pool}:
            mapped.update(properties.get("PrincipalTags", {}))
    unmapped = sorted(tag for tag in tags if mapped.get(tag) != "sub")
    return [f"principal tag {tag} is not mapped from the token's sub" for tag in unmapped]


# ---------------------------------------------------------------------------------------------------------------
# Lambda
# ---------------------------------------------------------------------------------------------------------------
RUNTIME = "python3.13"
ARCHITECTURES = ["arm64"]
# Lambda@Edge: a function whose role edgelambda.amazonaws.com may assume runs at CloudFront's edge, where other
# rules hold (CloudFront Developer Guide, "Restrictions on Lambda@Edge"): x86_64 only; no layers, no environment
# variables, no X-Ray, no provisioned concurrency (and no SnapStart, which this stack pairs with it).
EDGE_PRINCIPAL = "edgelambda.amazonaws.com"
EDGE_ARCHITECTURES = ["x86_64"]


def lambda_at_edge(template: Template) -> set[str]:
    """The functions replicated to CloudFront's edge: their role's trust admits edgelambda.amazonaws.com."""
    roles = resources(template, "AWS::IAM::Role")
    found = set()
    for logical_id, function in resources(template, "AWS::Lambda::Function").items():
        role = function["Properties"].get("Role")
        role_id = as_list(role.get("Fn::GetAtt", [None]))[0] if isinstance(role, dict) else None
        trust = roles.get(str(role_id), {}).get("Properties", {}).get("AssumeRolePolicyDocument", {})
        for statement in statements(trust):
            principal = statement.get("Principal")
            services = as_list(principal.get("Service", [])) if isinstance(principal, Mapping) else []
            if statement.get("Effect") == "Allow" and EDGE_PRINCIPAL in services:
                found.add(logical_id)
    return found


def _edge_function_problems(logical_id: str, properties: Mapping[str, Any]) -> list[str]:
    problems = []
    if properties.get("Architectures") != EDGE_ARCHITECTURES:
        problems.append(
            f"{logical_id}: Lambda@Edge runs {EDGE_ARCHITECTURES} only, not {properties.get('Architectures')}"
        )
    if properties.get("TracingConfig", {}).get("Mode") == "Active":
        problems.append(f"{logical_id}: Lambda@Edge does not support X-Ray tracing")
    if properties.get("Environment"):
        problems.append(f"{logical_id}: Lambda@Edge allows no environment variables")
    if properties.get("Layers"):
        problems.append(f"{logical_id}: Lambda@Edge allows no layers")
    return problems


def _retention_days(value: Any, template: Template) -> list[Any]:
    """Every value RetentionInDays can take (a Fn::FindInMap keyed by a parameter: one per mapping entry)."""
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, _, key = value["Fn::FindInMap"]
        return [entry.get(key) for entry in template["Mappings"][mapping].values()]
    return list(alternatives(value))


def function_problems(template: Template) -> list[str]:
    """Every function: the runtime and architecture the layer is built for, active tracing, a log group of its
    own with a retention (otherwise Lambda creates one that keeps logs forever), and its alarms."""
    problems = []
    log_groups = resources(template, "AWS::Logs::LogGroup")
    edge = lambda_at_edge(template)
    for logical_id, function in resources(template, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        if properties.get("Runtime") != RUNTIME:
            problems.append(f"{logical_id}: runtime {properties.get('Runtime')}, not {RUNTIME}")
        if logical_id in edge:
            problems += _edge_function_problems(logical_id, properties)
        elif properties.get("Architectures") != ARCHITECTURES:
            problems.append(f"{logical_id}: architectures {properties.get('Architectures')}, not {ARCHITECTURES}")
        if logical_id not in edge and properties.get("TracingConfig", {}).get("Mode") != "Active":
            problems.append(f"{logical_id}: tracing is not Active")
        configured = properties.get("LoggingConfig", {}).get("LogGroup")
        own = [
            group for group_id, group in log_groups.items() if configured is not None and mentions(configured, group_id)
        ]
        if not own:
            problems.append(f"{logical_id}: no log group of its own (LoggingConfig.LogGroup)")
        # A log group named after the function is made after it; publishing a version with SnapStart or
        # provisioned concurrency runs its init first, Lambda creates the group, and the stack fails "already
        # exists". The function names its group instead, which is then made first.
        problems += [
            f"{logical_id}: its log group's name depends on the function"
            for group in own
            if mentions(group["Properties"].get("LogGroupName"), logical_id)
        ]
        for group in own:
            days = _retention_days(group["Properties"].get("RetentionInDays"), template)
            if not days or not all(isinstance(day, int) and day > 0 for day in days):
                problems.append(f"{logical_id}: log group retention is not set ({days})")
        problems += _function_alarm_problems(logical_id, template)
    return problems


FUNCTION_ALARM_METRICS = ("Errors", "Throttles")


def _function_alarm_problems(logical_id: str, template: Template) -> list[str]:
    """A function's errors and throttles each raise an alarm to the ops topic."""
    watched = {
        alarm["Properties"].get("MetricName")
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/Lambda"
        and any(
            dimension.get("Name") == "FunctionName" and mentions(dimension.get("Value"), logical_id)
            for dimension in alarm["Properties"].get("Dimensions", [])
        )
        and any(mentions(action, "OpsTopic") for action in alarm["Properties"].get("AlarmActions", []))
    }
    missing = [metric for metric in FUNCTION_ALARM_METRICS if metric not in watched]
    return [f"{logical_id}: no {metric} alarm to the ops topic" for metric in missing]


def _is_table_variable(name: str) -> bool:
    return name.endswith(("_TABLE", "_TABLE_NAME"))


def table_variable_problems(template: Template) -> list[str]:
    """A variable naming a table refers to a table of this template, and the function's role mentions it."""
    tables = set(resources(template, "AWS::DynamoDB::Table"))
    roles = resources(template, "AWS::IAM::Role")
    problems = []
    for logical_id, function in resources(template, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        variables = properties.get("Environment", {}).get("Variables", {})
        role_id = as_list(properties.get("Role", {}).get("Fn::GetAtt", [None]))[0]
        role = roles.get(str(role_id), {})
        for name, value in variables.items():
            if not _is_table_variable(name):
                continue
            table = value.get("Ref") if isinstance(value, dict) else None
            if table not in tables:
                problems.append(f"{logical_id}: {name}={value!r} is not a table of this template")
            elif not mentions(role.get("Properties", {}).get("Policies", []), table):
                problems.append(f"{logical_id}: {name} names {table}, which its role grants nothing on")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# SnapStart and provisioned concurrency
# ---------------------------------------------------------------------------------------------------------------
def rule_accepts(template: Template, parameters: Mapping[str, str]) -> bool:
    """Whether CloudFormation would accept these parameter values under the template's Rules."""
    for rule in template.get("Rules", {}).values():
        condition = rule.get("RuleCondition")
        if condition is not None and not evaluate(condition, parameters, template):
            continue
        if not all(evaluate(assertion["Assert"], parameters, template) for assertion in rule["Assertions"]):
            return False
    return True


def warm_start_problems(template: Template, parameters: Mapping[str, str]) -> list[str]:
    """With these parameters, each function has SnapStart exactly when EnableSnapStart is "true", its alias has
    provisioned concurrency exactly when EnableProvisionedConcurrency is "true", and never both."""
    snap_start = evaluate({"Ref": "EnableSnapStart"}, parameters, template) == "true"
    provisioned = evaluate({"Ref": "EnableProvisionedConcurrency"}, parameters, template) == "true"
    aliases = resources(template, "AWS::Lambda::Alias")
    edge = lambda_at_edge(template)
    problems = []
    for logical_id, function in resources(template, "AWS::Lambda::Function").items():
        has_snap_start = resolve(function["Properties"].get("SnapStart"), parameters, template) is not None
        own_aliases = [a for a in aliases.values() if a["Properties"].get("FunctionName") == {"Ref": logical_id}]
        has_provisioned = any(
            resolve(alias["Properties"].get("ProvisionedConcurrencyConfig"), parameters, template) is not None
            for alias in own_aliases
        )
        if logical_id in edge:
            if has_snap_start or has_provisioned:
                problems.append(f"{logical_id}: Lambda@Edge takes neither SnapStart nor provisioned concurrency")
            continue
        if has_snap_start != snap_start:
            problems.append(f"{logical_id}: SnapStart is {'on' if has_snap_start else 'off'}")
        if has_provisioned != provisioned:
            problems.append(f"{logical_id}: provisioned concurrency is {'on' if has_provisioned else 'off'}")
        if has_snap_start and has_provisioned:
            problems.append(f"{logical_id}: SnapStart and provisioned concurrency on one version")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# The edge: WAF and the custom domain
# ---------------------------------------------------------------------------------------------------------------
MANAGED_RULE_GROUPS = {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
TLS_1_2 = {"distribution": "TLSv1.2_2021", "api": "TLS_1_2"}


def _made(resource: Mapping[str, Any], parameters: Mapping[str, str], template: Template) -> bool:
    """Whether CloudFormation makes this resource with these parameters (its Condition, if any)."""
    condition = resource.get("Condition")
    return condition is None or bool(evaluate({"Condition": condition}, parameters, template))


def _web_acl_problems(template: Template, parameters: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    wanted = evaluate({"Ref": "EnableWaf"}, parameters, template) == "true"
    given = evaluate({"Ref": "WebAclArn"}, parameters, template)
    attached = resolve(config.get("WebACLId"), parameters, template)
    if not wanted and not given:
        return [] if attached is None else ["the distribution has a web ACL although EnableWaf is false"]
    if given:
        return [] if attached == {"Ref": "WebAclArn"} else ["the distribution does not take the given WebAclArn"]
    acls = {
        logical_id: acl
        for logical_id, acl in resources(template, "AWS::WAFv2::WebACL").items()
        if _made(acl, parameters, template)
    }
    if not acls or attached not in [{"Fn::GetAtt": [logical_id, "Arn"]} for logical_id in acls]:
        return ["the distribution has no web ACL of this stack (EnableWaf is true)"]
    problems = []
    for logical_id, acl in acls.items():
        properties = acl["Properties"]
        rules = sorted(properties.get("Rules", []), key=lambda rule: rule.get("Priority", 0))
        if properties.get("Scope") != "CLOUDFRONT":
            problems.append(f"{logical_id}: scope is not CLOUDFRONT")
        first = rules[0] if rules else {}
        if "RateBasedStatement" not in first.get("Statement", {}) or "Block" not in first.get("Action", {}):
            problems.append(f"{logical_id}: the first rule is not a blocking rate limit")
        groups = {rule.get("Statement", {}).get("ManagedRuleGroupStatement", {}).get("Name") for rule in rules}
        problems += [f"{logical_id}: no {group}" for group in sorted(MANAGED_RULE_GROUPS - groups)]
        logged = [
            c
            for c in resources(template, "AWS::WAFv2::LoggingConfiguration").values()
            if c["Properties"].get("ResourceArn") == {"Fn::GetAtt": [logical_id, "Arn"]}
        ]
        if not logged:
            problems.append(f"{logical_id}: its requests are not logged")
    return problems


def _domain_problems(template: Template, parameters: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    certificate = resolve(config.get("ViewerCertificate"), parameters, template) or {}
    aliases = resolve(config.get("Aliases"), parameters, template)
    api_domains = {
        logical_id: domain
        for logical_id, domain in resources(template, "AWS::ApiGateway::DomainName").items()
        if _made(domain, parameters, template)
    }
    if not evaluate({"Ref": "DomainName"}, parameters, template):
        problems = [] if certificate == {"CloudFrontDefaultCertificate": True} else ["no domain, yet no default cert"]
        return problems + [f"{logical_id}: made without a DomainName" for logical_id in api_domains]
    problems = []
    if aliases != [{"Ref": "DomainName"}]:
        problems.append("the distribution does not answer for DomainName")
    if certificate.get("AcmCertificateArn") != {"Ref": "CertificateArn"}:
        problems.append("the distribution does not use CertificateArn")
    if certificate.get("MinimumProtocolVersion") != TLS_1_2["distribution"]:
        problems.append(f"the distribution's minimum protocol is {certificate.get('MinimumProtocolVersion')}")
    if certificate.get("SslSupportMethod") != "sni-only":
        problems.append("the distribution's certificate is not served by SNI (a dedicated IP costs 600 USD a month)")
    if not api_domains:
        problems.append("no API domain name for api.<DomainName>")
    for logical_id, domain in api_domains.items():
        properties = domain["Properties"]
        if properties.get("SecurityPolicy") != TLS_1_2["api"]:
            problems.append(f"{logical_id}: security policy {properties.get('SecurityPolicy')}, not TLS_1_2")
        mapped = [
            m
            for m in resources(template, "AWS::ApiGateway::BasePathMapping").values()
            if m["Properties"].get("DomainName") == {"Ref": logical_id}
        ]
        if not mapped:
            problems.append(f"{logical_id}: no base path mapping to the API")
    return problems


def edge_security_problems(template: Template, parameters: Mapping[str, str]) -> list[str]:
    """With these parameters: the distribution's web ACL (made here or given) blocks floods first and runs AWS's
    managed rules, and is logged; a custom domain gets TLS 1.2 at least on the distribution and the API."""
    (distribution,) = resources(template, "AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    return _web_acl_problems(template, parameters, config) + _domain_problems(template, parameters, config)


# ---------------------------------------------------------------------------------------------------------------
# The API's edge: endpoint types, the custom domain, the catalog cache (docs/api-edge.md)
# ---------------------------------------------------------------------------------------------------------------
# The public catalog's GETs, the only methods the stage caches, each keyed by exactly what changes its answer: what
# the catalog handler reads (functions/catalog_api/app.py), and Origin, on which its CORS headers depend.
CACHED_ROUTES = {
    ("/products", "get"): {
        "method.request.querystring.limit",
        "method.request.querystring.nextToken",
        "method.request.header.Origin",
    },
    ("/products/{productId}", "get"): {"method.request.path.productId", "method.request.header.Origin"},
}
_PARAMETER_LOCATIONS = {"querystring": "query", "path": "path", "header": "header"}


def resolve_deep(value: Any, parameters: Mapping[str, str], template: Template) -> Any:
    """A value with every Fn::If chosen and every AWS::NoValue left out (of dicts and lists), as CloudFormation
    reads it for these parameters. Other intrinsics are kept as written."""
    value = resolve(value, parameters, template)
    if isinstance(value, dict):
        resolved = {key: resolve_deep(item, parameters, template) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not None}
    if isinstance(value, list):
        return [item for item in (resolve_deep(v, parameters, template) for v in value) if item is not None]
    return value


def made(template: Template, parameters: Mapping[str, str], resource_type: str | None = None) -> dict[str, Any]:
    """The resources CloudFormation makes for these parameters, with their values resolved."""
    return {
        logical_id: resolve_deep(resource, parameters, template)
        for logical_id, resource in resources(template, resource_type).items()
        if _made(resource, parameters, template)
    }


def _referenced(value: Any) -> Iterator[str]:
    """The logical ids (or parameters) an expression refers to by Ref, Fn::GetAtt or ${...} in Fn::Sub."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            yield str(as_list(value["Fn::GetAtt"])[0]).split(".")[0]
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            yield from (name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
        for item in value.values():
            yield from _referenced(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced(item)


def dangling_references(template: Template, parameters: Mapping[str, str]) -> list[str]:
    """Resources and outputs made for these parameters that refer to a resource that is not made (the stack would
    fail to create): what a condition left out must take everything that serves only it along."""
    all_resources = resources(template)
    present = set(made(template, parameters))
    problems = []
    outputs = {
        f"Outputs/{name}": resolve_deep(output, parameters, template)
        for name, output in template.get("Outputs", {}).items()
        if _made(output, parameters, template)
    }
    for where, value in {**made(template, parameters), **outputs}.items():
        properties = {key: item for key, item in value.items() if key not in ("Condition", "Metadata", "DependsOn")}
        names = {*_referenced(properties), *as_list(value.get("DependsOn", []))}
        missing = sorted(name for name in names if name in all_resources and name not in present)
        problems += [f"{where} refers to {name}, which is not made" for name in missing]
    return problems


def _rest_api(template: Template, parameters: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    (logical_id, api), *_ = [
        (logical_id, api)
        for logical_id, api in made(template, parameters, "AWS::ApiGateway::RestApi").items()
        if "Body" in api["Properties"]
    ]
    return logical_id, api["Properties"]


def _private_policy_problems(policy: Any, vpc_endpoint: Any) -> list[str]:
    """A private API's resource policy: invocations are denied unless they come through the VPC endpoint, and
    every Allow is limited to it."""
    if not isinstance(policy, dict):
        return ["a PRIVATE API without a resource policy (no one, or anyone with a VPC endpoint, could invoke it)"]
    problems = []
    denies, allows = [], []
    for statement in as_list(policy.get("Statement", [])):
        actions = {str(action).lower() for action in as_list(statement.get("Action", []))}
        if not actions & {"execute-api:invoke", "execute-api:*", "*"}:
            continue
        source = statement.get("Condition", {})
        if statement.get("Effect") == "Deny":
            denies.append(source.get("StringNotEquals", {}).get("aws:SourceVpce"))
        elif statement.get("Effect") == "Allow":
            allows.append(source.get("StringEquals", {}).get("aws:SourceVpce"))
    if vpc_endpoint not in denies:
        problems.append("no Deny of execute-api:Invoke from anywhere but VpcEndpointId (aws:SourceVpce)")
    if not allows:
        problems.append("no Allow of execute-api:Invoke through VpcEndpointId")
    problems += [
        f"an Allow of execute-api:Invoke not limited to VpcEndpointId: {a}" for a in allows if a != vpc_endpoint
    ]
    return problems


def endpoint_problems(template: Template, parameters: Mapping[str, str]) -> list[str]:
    """The REST API's endpoint is EndpointType; a PRIVATE one is reachable through VpcEndpointId only and has no
    CloudFront (nor anything that serves only CloudFront) in front; the others have no resource policy."""
    endpoint_type = evaluate({"Ref": "EndpointType"}, parameters, template)
    logical_id, api = _rest_api(template, parameters)
    problems = []
    configuration = api.get("EndpointConfiguration", {})
    types = [evaluate(t, parameters, template) for t in configuration.get("Types", [])]
    if types != [endpoint_type]:
        problems.append(f"{logical_id}: endpoint types {types}, not [{endpoint_type}]")
    distributions = made(template, parameters, "AWS::CloudFront::Distribution")
    if endpoint_type == "PRIVATE":
        if configuration.get("VpcEndpointIds") != [{"Ref": "VpcEndpointId"}]:
            problems.append(f"{logical_id}: not associated with VpcEndpointId")
        problems += [
            f"{logical_id}: {p}" for p in _private_policy_problems(api.get("Policy"), {"Ref": "VpcEndpointId"})
        ]
        problems += [f"{d}: CloudFront in front of a PRIVATE API" for d in distributions]
        problems += [f"{w}: a web ACL with no distribution" for w in made(template, parameters, "AWS::WAFv2::WebACL")]
    else:
        if "Policy" in api:
            problems.append(f"{logical_id}: a resource policy on a {endpoint_type} API")
        if "VpcEndpointIds" in configuration:
            problems.append(f"{logical_id}: VPC endpoints on a {endpoint_type} API")
        if not distributions:
            problems.append(f"no distribution in front of the {endpoint_type} API")
    return problems + dangling_references(template, parameters)


def custom_domain_problems(template: Template, parameters: Mapping[str, str]) -> list[str]:
    """With a DomainName, api.<domain> has an API Gateway domain of the API's endpoint type with TLS 1.2 and the
    certificate that type takes, mapped to the stage, and (with a hosted zone) an alias record to the domain's
    own target; without one, none of it exists."""
    endpoint_type = evaluate({"Ref": "EndpointType"}, parameters, template)
    domains = made(template, parameters, "AWS::ApiGateway::DomainName")
    mappings = made(template, parameters, "AWS::ApiGateway::BasePathMapping")
    records = made(template, parameters, "AWS::Route53::RecordSet")
    if not evaluate({"Ref": "DomainName"}, parameters, template):
        return [f"{logical_id}: made without a DomainName" for logical_id in {**domains, **mappings, **records}]
    if len(domains) != 1:
        return [f"{len(domains)} API domain names, not one"]
    ((domain_id, domain),) = domains.items()
    properties = domain["Properties"]
    problems = []
    if properties.get("SecurityPolicy") != TLS_1_2["api"]:
        problems.append(f"{domain_id}: security policy {properties.get('SecurityPolicy')}")
    types = [evaluate(t, parameters, template) for t in properties.get("EndpointConfiguration", {}).get("Types", [])]
    if types != [endpoint_type]:
        problems.append(f"{domain_id}: endpoint types {types} for a {endpoint_type} API")
    regional = evaluate({"Ref": "ApiCertificateArn"}, parameters, template)
    expected = (
        {"CertificateArn": {"Ref": "CertificateArn"}}
        if endpoint_type == "EDGE"
        else {"RegionalCertificateArn": {"Ref": "ApiCertificateArn" if regional else "CertificateArn"}}
    )
    certificates = {key: properties[key] for key in ("CertificateArn", "RegionalCertificateArn") if key in properties}
    if certificates != expected:
        problems.append(f"{domain_id}: certificate {certificates} for a {endpoint_type} API, not {expected}")
    api_id, _ = _rest_api(template, parameters)
    if not any(
        m["Properties"].get("DomainName") == {"Ref": domain_id} and m["Properties"].get("RestApiId") == {"Ref": api_id}
        for m in mappings.values()
    ):
        problems.append(f"{domain_id}: no base path mapping to {api_id}")
    zone = evaluate({"Ref": "HostedZoneId"}, parameters, template)
    target = "Distribution" if endpoint_type == "EDGE" else "Regional"
    alias = {
        "DNSName": {"Fn::GetAtt": [domain_id, f"{target}DomainName"]},
        "HostedZoneId": {"Fn::GetAtt": [domain_id, f"{target}HostedZoneId"]},
    }
    aliased = [r for r in records.values() if mentions(r["Properties"].get("AliasTarget"), domain_id)]
    if zone and [r["Properties"].get("AliasTarget") for r in aliased] != [alias]:
        problems.append(f"{domain_id}: the alias record does not point at its {target} name and zone")
    if not zone and aliased:
        problems.append(f"{domain_id}: an alias record without a HostedZoneId")
    return problems


def _method_setting_route(setting: Mapping[str, Any]) -> tuple[str, str]:
    """A MethodSettings entry's (OpenAPI path, method): CloudFormation writes "/" inside the path as "~1"."""
    path = str(setting.get("ResourcePath", "")).removeprefix("/").replace("~1", "/")
    return path, str(setting.get("HttpMethod", "")).lower()


def _stage(template: Template, parameters: Mapping[str, str], api_id: str) -> dict[str, Any]:
    stages: list[dict[str, Any]] = [
        s["Properties"]
        for s in made(template, parameters, "AWS::ApiGateway::Stage").values()
        if s["Properties"].get("RestApiId") == {"Ref": api_id}
    ]
    (stage,) = stages
    return stage


def catalog_cache_problems(template: Template, parameters: Mapping[str, str]) -> list[str]:
    """The stage's cache is on exactly when CatalogCacheOn; it caches only the public catalog's GETs (never a route
    with a Cognito authorizer, never every method), encrypted, for CatalogCacheTtlSeconds, keyed on what changes the
    answer; each cached method keeps the stage's throttling; the flusher may flush only this stage's cache."""
    on = bool(evaluate({"Condition": "CatalogCacheOn"}, parameters, template))
    api_id, api = _rest_api(template, parameters)
    stage = _stage(template, parameters, api_id)
    problems = []
    if stage.get("CacheClusterEnabled") is not on:
        problems.append(f"the stage's cache cluster is {stage.get('CacheClusterEnabled')}, CatalogCacheOn is {on}")
    if on and stage.get("CacheClusterSize") != {"Ref": "ApiCacheClusterSize"}:
        problems.append(f"the cache cluster's size is {stage.get('CacheClusterSize')}")
    cached, setting_problems = _cache_setting_problems(stage.get("MethodSettings", []), on)
    return (
        problems
        + setting_problems
        + _cache_key_problems(api["Body"], template, cached)
        + _flush_problems(template, parameters, api_id, on)
    )


def _cache_setting_problems(settings: list[dict[str, Any]], on: bool) -> tuple[set[tuple[str, str]], list[str]]:
    """The routes the stage's MethodSettings cache, and what is wrong with those settings."""
    default = next((s for s in settings if _method_setting_route(s) == ("*", "*")), {})
    cached: set[tuple[str, str]] = set()
    problems = []
    for setting in settings:
        route = _method_setting_route(setting)
        if "CachingEnabled" not in setting:
            continue
        if route not in CACHED_ROUTES:
            problems.append(f"{route}: caching set on a method that is not the public catalog's")
            continue
        cached.add(route)
        if setting["CachingEnabled"] is not on:
            problems.append(f"{route}: CachingEnabled is {setting['CachingEnabled']}, CatalogCacheOn is {on}")
        if setting.get("CacheDataEncrypted") is not True:
            problems.append(f"{route}: cached data is not encrypted")
        if setting.get("CacheTtlInSeconds") != {"Ref": "CatalogCacheTtlSeconds"}:
            problems.append(f"{route}: TTL {setting.get('CacheTtlInSeconds')}, not CatalogCacheTtlSeconds")
        # A method's own settings replace the stage's: throttling, metrics and logging must be repeated.
        for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit", "MetricsEnabled", "LoggingLevel"):
            if setting.get(key) != default.get(key):
                problems.append(f"{route}: {key} {setting.get(key)} differs from the stage's {default.get(key)}")
    problems += [f"{route}: not cached" for route in sorted(set(CACHED_ROUTES) - cached)]
    return cached, problems


def _cache_key_problems(body: Mapping[str, Any], template: Template, cached: set[tuple[str, str]]) -> list[str]:
    """A cached route takes no Cognito token; the catalog's routes are keyed on exactly CACHED_ROUTES' parameters,
    each declared on the method (API Gateway keys only on declared request parameters)."""
    cognito = _cognito_schemes(body, template)
    problems = []
    for path, operations in body.get("paths", {}).items():
        for method, operation in operations.items():
            route = (path, method)
            if method not in HTTP_METHODS:
                continue
            keys = set(operation.get("x-amazon-apigateway-integration", {}).get("cacheKeyParameters", []))
            security = operation.get("security", body.get("security", []))
            if route in cached and any(name in cognito for requirement in security for name in requirement):
                problems.append(f"{route}: cached, yet it takes a Cognito token (one user's answer to another)")
            if route in CACHED_ROUTES and keys != CACHED_ROUTES[route]:
                problems.append(f"{route}: cache keys {sorted(keys)}, not {sorted(CACHED_ROUTES[route])}")
            declared = {
                f"method.request.{location}.{parameter['name']}"
                for parameter in operation.get("parameters", [])
                for location, openapi in _PARAMETER_LOCATIONS.items()
                if parameter.get("in") == openapi
            }
            problems += [f"{route}: cache key {key} is not a declared request parameter" for key in keys - declared]
    return problems


def _flush_problems(template: Template, parameters: Mapping[str, str], api_id: str, on: bool) -> list[str]:
    """The flusher reads the Catalog stream (its mapping on exactly when the cache is) and may DELETE only this
    stage's cache data, and only when there is a cache."""
    cache_arn = (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/"
        + f"${{{api_id}}}/stages/${{ApiapiStage}}/cache/data"
    )
    problems = []
    mappings = [
        m["Properties"]
        for m in made(template, parameters, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"].get("EventSourceArn") == {"Fn::GetAtt": ["CatalogTable", "StreamArn"]}
    ]
    if len(mappings) != 1:
        return [f"{len(mappings)} mappings read the Catalog stream, not one"]
    if mappings[0].get("Enabled", True) is not on:
        problems.append(f"the Catalog stream's mapping is enabled={mappings[0].get('Enabled', True)}, cache on={on}")
    grants = [
        (action, as_text(resource))
        for where, document in policy_documents({"Resources": made(template, parameters)})
        for statement in statements(document)
        if statement.get("Effect") == "Allow"
        for action in as_list(statement.get("Action", []))
        if str(action).lower().startswith("apigateway:")
        for resource in as_list(statement.get("Resource", []))
    ]
    expected = [("apigateway:DELETE", cache_arn)] if on else []
    if grants != expected:
        problems.append(f"API Gateway grants {grants}, not {expected}")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Parameters as CloudFormation checks them before the Rules
# ---------------------------------------------------------------------------------------------------------------
def parameter_problems(template: Template, parameters: Mapping[str, str]) -> list[str]:
    """Values CloudFormation refuses before any rule runs: not among AllowedValues, or not matching AllowedPattern."""
    problems = []
    for name, value in parameters.items():
        declared = template["Parameters"].get(name)
        if declared is None:
            continue  # a pseudo parameter (AWS::Region)
        allowed = declared.get("AllowedValues")
        if allowed is not None and value not in [str(v) for v in allowed]:
            problems.append(f"{name}={value!r} is not one of {allowed}")
        pattern = declared.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            problems.append(f"{name}={value!r} does not match {pattern}")
    return problems


def refusing_rules(template: Template, parameters: Mapping[str, str]) -> list[str]:
    """The names of the rules whose assertions fail for these parameters (empty: the Rules accept them)."""
    refusing = []
    for name, rule in template.get("Rules", {}).items():
        condition = rule.get("RuleCondition")
        if condition is not None and not evaluate(condition, parameters, template):
            continue
        if not all(evaluate(assertion["Assert"], parameters, template) for assertion in rule["Assertions"]):
            refusing.append(name)
    return refusing
