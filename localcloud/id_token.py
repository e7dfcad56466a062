"""`make token`: an ID token of the demo customer or approver, from a running local cloud (`make run`).

python -m localcloud.id_token [--role customer|approver] [--aws-endpoint http://127.0.0.1:4566]

Prints the token alone, so that a shell can keep it:
    TOKEN=$(make -s token)
    curl http://127.0.0.1:3000/api/orders -H "Authorization: Bearer $TOKEN"
"""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError

from localcloud import demo_users, running
from localcloud.users import id_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=sorted(demo_users.USERS), default="customer")
    parser.add_argument("--aws-endpoint", default=running.DEFAULT_AWS_ENDPOINT, help="the local cloud's AWS endpoint")
    args = parser.parse_args(argv)
    email, _ = demo_users.USERS[args.role]
    try:
        client_id = running.outputs(args.aws_endpoint)["UserPoolClientId"]
        token = id_token(running.client(args.aws_endpoint, "cognito-idp"), client_id, email, demo_users.PASSWORD)
    except running.NotRunningError as exc:
        print(f"{exc}: start one with `make run` (or name its endpoint: --aws-endpoint)", file=sys.stderr)
        return 1
    except KeyError:
        print(f"the local cloud at {args.aws_endpoint} has no user pool client (UserPoolClientId)", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:  # the demo user is missing: not a cloud `make run` started
        print(f"{email} could not sign in at {args.aws_endpoint}: {exc}", file=sys.stderr)
        return 1
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
