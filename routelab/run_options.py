"""The ``--workers`` / ``--scheduler`` options of ``simulate``, ``sweep`` and ``tune``, and
the one way those commands fail (bad input: exit 2) or stop on Ctrl-C (exit 130)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from simulator.executors import Executor, ExecutorError, SchedulerError, make_executor

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C

errors = Console(stderr=True)

WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, help="Local worker processes (default: this machine's cores)."
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="Run the replications on this Dask cluster instead (docs/dask.md).",
    ),
]


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """One line on stderr, never read as markup (it holds the user's own text)."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def interrupted(message: str) -> typer.Exit:
    """Ctrl-C: one line saying what was kept, and the shell's exit code for SIGINT."""
    errors.print(f"[bold yellow]interrupted:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_INTERRUPTED)


@contextmanager
def executor_for(
    workers: int | None, scheduler: str | None, tasks: int | None
) -> Iterator[Executor]:
    """The executor the options ask for, closed afterwards; a bad choice exits 2, an
    executor that breaks down (a worker process died) exits 1, with one line."""
    if workers is not None and scheduler is not None:
        raise fail("give --workers or --scheduler, not both")
    try:
        executor = make_executor(workers, scheduler, tasks)
    except SchedulerError as exc:
        raise fail(str(exc)) from None
    try:
        yield executor
    except SchedulerError as exc:  # a version check or the scheduler failing mid-run
        raise fail(str(exc)) from None
    except ExecutorError as exc:
        raise fail(str(exc), EXIT_RUN_FAILED) from None
    finally:
        executor.close()
