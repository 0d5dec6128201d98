"""IAM policy evaluation for the lab's restricted principal (`lab serve --iam-policy FILE`).

Why not moto's own access control: moto 5.2.5 (`moto/core/responses.py` `call_action`,
`moto/iam/access_control.py`) authorizes every EC2 request against the resource `*`, so a
statement scoped to resource ARNs never matches and the request is denied; and it evaluates
conditions only with `StringEquals` against values it supplies (none for EC2), so
`aws:RequestTag`, `aws:ResourceTag`, `aws:TagKeys`, `ec2:CreateAction` and
`iam:PassedToService` are never checked, nor is `iam:PassRole` on RunInstances.

This module evaluates an identity policy as IAM does ("Policy evaluation logic"): an explicit
Deny wins, then any Allow, else implicit deny; `Action`/`NotAction`, `Resource`/`NotResource`
with `*`/`?` wildcards; condition operators `StringEquals`, `StringNotEquals`, `StringLike`,
`StringNotLike`, `ArnEquals`, `ArnLike`, `Bool`, with `ForAllValues:`/`ForAnyValue:` and the
`IfExists` suffix. Any other operator fails closed (the statement does not apply). Policy
variables (`${aws:username}`) are not substituted.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpnwatch.lab.safety import LabError

Context = Mapping[str, Sequence[str]]  # condition key (lower case) → values
_MULTI_VALUE_KEYS = ("aws:tagkeys",)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _like(pattern: str, value: str, *, case: bool = True) -> bool:
    translated = fnmatch.translate(pattern.replace("[", "[[]"))
    return re.match(translated, value, 0 if case else re.IGNORECASE) is not None


def _compare(op: str, expected: str, actual: str) -> bool:
    if op == "StringEquals":
        return actual == expected
    if op == "StringLike":
        return _like(expected, actual)
    if op == "ArnEquals":
        return actual == expected
    if op == "ArnLike":
        return _like(expected, actual)
    if op == "Bool":
        return actual.lower() == expected.lower()
    raise LabError(f"unsupported condition operator {op}")


_NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike"}
_SUPPORTED = {"StringEquals", "StringLike", "ArnEquals", "ArnLike", "Bool", *_NEGATED}


def condition_holds(operator: str, block: Mapping[str, Any], context: Context) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    if op not in _SUPPORTED or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        return False  # fail closed: the lab cannot evaluate it
    negated = op in _NEGATED
    base = _NEGATED.get(op, op)
    for key, expected_raw in block.items():
        expected = _as_list(expected_raw)
        actual = list(context.get(key.lower(), ()))
        if not actual:
            if if_exists or qualifier == "ForAllValues":
                continue
            if negated and qualifier == "":
                continue  # StringNotEquals on an absent key matches
            return False
        matches = [any(_compare(base, e, a) for e in expected) for a in actual]
        if qualifier == "ForAllValues":
            ok = all(matches)
        elif qualifier == "ForAnyValue" or key.lower() in _MULTI_VALUE_KEYS:
            ok = any(matches)
        else:
            ok = all(matches)
        if negated:
            ok = not any(matches)
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, Any]]

    def covers(self, action: str, resource: str) -> bool:
        if self.actions and not any(_like(p, action, case=False) for p in self.actions):
            return False
        if self.not_actions and any(_like(p, action, case=False) for p in self.not_actions):
            return False
        if self.resources and not any(_like(p, resource) for p in self.resources):
            return False
        return not (self.not_resources and any(_like(p, resource) for p in self.not_resources))

    def applies(self, action: str, resource: str, context: Context) -> bool:
        return self.covers(action, resource) and all(
            condition_holds(op, block, context) for op, block in self.conditions.items()
        )


class IdentityPolicy:
    """One identity-based policy (the principal's only one)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        statements = document.get("Statement")
        if isinstance(statements, dict):
            statements = [statements]
        if not isinstance(statements, list):
            raise LabError("the IAM policy has no Statement list")
        self.statements = tuple(self._statement(i, s) for i, s in enumerate(statements))

    @staticmethod
    def _statement(index: int, raw: Any) -> Statement:
        if not isinstance(raw, dict) or raw.get("Effect") not in ("Allow", "Deny"):
            raise LabError(f"IAM policy statement #{index + 1} is not a valid statement")
        return Statement(
            sid=str(raw.get("Sid", f"#{index + 1}")),
            effect=raw["Effect"],
            actions=tuple(_as_list(raw.get("Action"))),
            not_actions=tuple(_as_list(raw.get("NotAction"))),
            resources=tuple(_as_list(raw.get("Resource"))),
            not_resources=tuple(_as_list(raw.get("NotResource"))),
            conditions=dict(raw.get("Condition", {})),
        )

    @classmethod
    def load(cls, path: Path, substitutions: Mapping[str, str]) -> IdentityPolicy:
        """Read a policy file, replacing placeholders such as ACCOUNT_ID and REGION."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise LabError(f"{path}: cannot read the IAM policy ({exc.strerror})") from None
        for placeholder, value in substitutions.items():
            text = text.replace(placeholder, value)
        try:
            document = json.loads(text)
        except ValueError:
            raise LabError(f"{path}: the IAM policy is not JSON") from None
        if not isinstance(document, dict):
            raise LabError(f"{path}: the IAM policy is not a JSON object")
        return cls(document)

    def decide(self, action: str, resource: str, context: Context) -> tuple[bool, str]:
        """(allowed, why) for one action on one resource."""
        allowed_by = None
        for statement in self.statements:
            if not statement.applies(action, resource, context):
                continue
            if statement.effect == "Deny":
                return False, f"explicitly denied by {statement.sid}"
            allowed_by = allowed_by or statement.sid
        if allowed_by is not None:
            return True, f"allowed by {allowed_by}"
        return False, "no identity-based policy allows it"
