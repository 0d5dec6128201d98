"""The base of every config model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # Unknown keys are typos; .inf/.nan are never a duration or a count.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
