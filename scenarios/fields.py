"""Field types and validators the sections of the scenario format share."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Delta = Annotated[float, Field(ge=-1.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_\-]*$", max_length=64)]
ResponseCode = Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")]
Weights = dict[str, Annotated[float, Field(ge=0.0)]]


def above(lower_field: str, word: str = "above") -> Any:
    """A field validator: the value must exceed the (already validated) ``lower_field``."""

    def check(cls: type, value: float, info: ValidationInfo) -> float:
        lower = info.data.get(lower_field)
        if lower is not None and value <= lower:
            raise ValueError(f"must be {word} {lower_field} ({lower:g})")
        return value

    return check


def below(upper_field: str) -> Any:
    """A field validator: the value must be under the (already validated) ``upper_field``."""

    def check(cls: type, value: float, info: ValidationInfo) -> float:
        upper = info.data.get(upper_field)
        if upper is not None and value >= upper:
            raise ValueError(f"must be below {upper_field} ({upper:g})")
        return value

    return check
