"""The one error a strategy's construction raises, with the scenario field it is about."""

from __future__ import annotations


class StrategyError(ValueError):
    """A strategy could not be built; ``field`` is its path in the scenario."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")
