"""`lab serve --iam-policy FILE`: the daemon's credentials are an IAM principal limited to
that policy. Requests signed with its access key are authorized by `iam_policy` against
what `iam_ec2` says each EC2 request touches; the lab's own requests (building the world,
tests poking at it) use other keys and are not restricted.

Evaluated: EC2, IAM and DynamoDB requests (a DynamoDB call on a table is `dynamodb:<Action>`
on `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`; TransactWriteItems has no action of its
own: each item is authorized as its kind, ConditionCheck as `dynamodb:ConditionCheckItem`,
Put as `dynamodb:PutItem`, ...: DynamoDB Developer Guide, "Using IAM with DynamoDB
transactions"). Not evaluated (passed): S3, CloudWatch (the lab's daemon config keeps
backups in a directory). Signatures are not checked.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from moto.core.models import DEFAULT_ACCOUNT_ID

from vpnwatch.lab.faults import AwsRequest, InjectedError
from vpnwatch.lab.iam_ec2 import Check, checks_for, denied
from vpnwatch.lab.iam_policy import IdentityPolicy

PRINCIPAL_KEY_ID = "AKIAVPNWATCHDAEMON01"
PRINCIPAL_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:user/vpnwatch"


@dataclass(frozen=True)
class Principal:
    access_key_id: str
    secret_access_key: str

    def environ(self) -> dict[str, str]:
        """What the daemon's environment needs to act as this principal."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def credentials_file(self, path: Path) -> Path:
        """A shared credentials file (profile `default`), 0600."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (
            "[default]\n"
            f"aws_access_key_id = {self.access_key_id}\n"
            f"aws_secret_access_key = {self.secret_access_key}\n"
        )
        path.touch(mode=0o600)
        path.write_text(text, encoding="utf-8")
        return path


class IamGate:
    def __init__(self, policy_file: Path, region: str) -> None:
        self.region = region
        self.policy = IdentityPolicy.load(
            policy_file,
            {"ACCOUNT_ID": DEFAULT_ACCOUNT_ID, "REGION": region},
        )
        self.principal = Principal(PRINCIPAL_KEY_ID, secrets.token_hex(20))
        self.refusals: list[str] = []

    def checks(self, request: AwsRequest) -> list[Check]:
        region = request.region or self.region
        action = request.action or ""
        if request.service == "ec2":
            return checks_for(region, DEFAULT_ACCOUNT_ID, action, request.params)
        if request.service == "iam":
            name = request.params.get("InstanceProfileName")
            if action == "GetInstanceProfile" and name:
                arn = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:instance-profile/{name}"
                return [Check(f"iam:{action}", arn, {})]
            return [Check(f"iam:{action}", "*", {})]
        if request.service == "dynamodb":
            return _dynamodb_checks(region, action, request.params)
        return []

    def __call__(self, request: AwsRequest) -> InjectedError | None:
        if request.access_key != self.principal.access_key_id:
            return None
        why = denied(self.checks(request), self.policy.decide)
        if why is None:
            return None
        self.refusals.append(f"{request.action}: {why}")
        message = f"User: {PRINCIPAL_ARN} is {why} because no identity-based policy allows it"
        if request.service == "ec2":
            text = f"You are not authorized to perform this operation. {message}"
            return InjectedError("UnauthorizedOperation", 403, text)
        if request.service == "dynamodb":  # DynamoDB's own code and status for it
            return InjectedError("AccessDeniedException", 400, message)
        return InjectedError("AccessDenied", 403, message)


_TRANSACT_ITEM_ACTIONS = {
    "ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem",
    "Delete": "DeleteItem",
}  # fmt: skip


def _dynamodb_checks(region: str, action: str, params: Mapping[str, str]) -> list[Check]:
    def table(name: str | None) -> str:
        return f"arn:aws:dynamodb:{region}:{DEFAULT_ACCOUNT_ID}:table/{name}" if name else "*"

    if action != "TransactWriteItems":
        return [Check(f"dynamodb:{action}", table(params.get("TableName")), {})]
    checks = []
    n = 1
    while f"TransactItems.{n}.Kind" in params:
        kind = params[f"TransactItems.{n}.Kind"]
        verb = _TRANSACT_ITEM_ACTIONS.get(kind, kind)
        checks.append(Check(f"dynamodb:{verb}", table(params[f"TransactItems.{n}.TableName"]), {}))
        n += 1
    return checks
