"""Cognito post-confirmation trigger: every confirmed sign-up becomes a member of the customers group."""

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.cognito_user_pool_event import PostConfirmationTriggerEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

CUSTOMERS_GROUP = os.environ["CUSTOMERS_GROUP"]


@cache
def cognito() -> "CognitoIdentityProviderClient":
    return boto3.client("cognito-idp")


@logger.inject_lambda_context
@event_source(data_class=PostConfirmationTriggerEvent)
def lambda_handler(event: PostConfirmationTriggerEvent, context: LambdaContext) -> dict[str, Any]:
    # A forgotten-password confirmation fires this trigger too; only a sign-up adds the user.
    if event.trigger_source == "PostConfirmation_ConfirmSignUp":
        cognito().admin_add_user_to_group(
            UserPoolId=event.user_pool_id, Username=event.user_name, GroupName=CUSTOMERS_GROUP
        )
        logger.info("customer joined", extra={"user_pool_id": event.user_pool_id})
    return event.raw_event
