"""What every settings section shares: unknown keys are refused and values never change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A settings section: a misspelt key is an error, and a loaded value is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
