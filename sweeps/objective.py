"""Objectives: a safe arithmetic expression of run figures (``auth_rate - 0.0005 * cost_bps``).

The expression is parsed with :mod:`ast` and only numbers, the names in :data:`FIGURES`,
``+ - * /``, unary minus and parentheses are accepted; nothing is ever passed to
``eval``. An expression is evaluated on pooled figures (a point's whole run) or on one
replication's figures (for paired differences); a division by zero or an undefined
figure gives NaN.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from results.contract import ReplicationFigures, RunSummary

# name -> what it is (rates are fractions: 0.9132 is 91.32 %)
FIGURES: dict[str, str] = {
    "auth_rate": "approved payments / payments",
    "first_attempt_auth_rate": "payments approved at the first attempt / payments",
    "cost_bps": "acquirer fees in basis points of the approved amount",
    "cost_per_approved": "acquirer fees per approved payment (minor units)",
    "latency_p95_ms": "95th percentile of end-to-end latency, ms",
    "attempts_per_payment": "attempts / payments",
}

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_SIGNS: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


class ObjectiveError(ValueError):
    """An expression that is not a valid objective; ``str()`` says why in one line."""


def allowed_names() -> str:
    return ", ".join(FIGURES)


@dataclass(frozen=True)
class Objective:
    """A parsed objective: ``objective(figures)`` is its value."""

    text: str
    names: frozenset[str]
    _tree: ast.expr

    def __call__(self, figures: Mapping[str, float | None]) -> float:
        try:
            return _evaluate(self._tree, figures)
        except ZeroDivisionError:
            return math.nan

    def of_summary(self, summary: RunSummary) -> float:
        return self(summary_figures(summary))

    def of_replication(self, figures: ReplicationFigures) -> float:
        return self(replication_figures(figures))


def parse_objective(text: str) -> Objective:
    """Parse ``text``; raises :class:`ObjectiveError` naming what is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ObjectiveError(f"{text!r} is not an expression: {exc.msg}") from None
    names: set[str] = set()
    _check(tree, text, names)
    return Objective(text.strip(), frozenset(names), tree)


def _check(node: ast.expr, text: str, names: set[str]) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, text, names)
        _check(node.right, text, names)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _SIGNS:
        _check(node.operand, text, names)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        pass
    elif isinstance(node, ast.Name):
        if node.id not in FIGURES:
            raise ObjectiveError(
                f"unknown name {node.id!r} in objective {text!r}; allowed: {allowed_names()}"
            )
        names.add(node.id)
    else:
        shown = ast.get_source_segment(text.strip(), node) or type(node).__name__
        raise ObjectiveError(
            f"{shown!r} is not allowed in objective {text!r}: use numbers, the names "
            f"{allowed_names()}, + - * / and parentheses"
        )


def _evaluate(node: ast.expr, figures: Mapping[str, float | None]) -> float:
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, figures), _evaluate(node.right, figures))
    if isinstance(node, ast.UnaryOp):
        return _SIGNS[type(node.op)](_evaluate(node.operand, figures))
    if isinstance(node, ast.Constant):
        value = node.value
        assert isinstance(value, int | float)  # _check let nothing else through
        return float(value)
    assert isinstance(node, ast.Name)  # _check let nothing else through
    value = figures.get(node.id)
    return math.nan if value is None else float(value)


def summary_figures(summary: RunSummary) -> dict[str, float | None]:
    """A run's pooled figures under the names objectives use."""
    return {
        "auth_rate": summary.auth_rate,
        "first_attempt_auth_rate": summary.first_attempt_auth_rate,
        "cost_bps": summary.cost.bps,
        "cost_per_approved": summary.cost.per_approved,
        "latency_p95_ms": summary.latency_ms.p95,
        "attempts_per_payment": summary.attempts_per_payment,
    }


def replication_figures(figures: ReplicationFigures) -> dict[str, float | None]:
    """One replication's figures under the same names."""
    return {
        "auth_rate": figures.auth_rate,
        "first_attempt_auth_rate": figures.first_attempt_auth_rate,
        "cost_bps": figures.cost_bps,
        "cost_per_approved": figures.cost_per_approved,
        "latency_p95_ms": figures.latency_p95_ms,
        "attempts_per_payment": figures.attempts_per_payment,
    }
