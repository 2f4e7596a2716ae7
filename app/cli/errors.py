"""How a command reports a refused operation: the problem's detail on stderr, exit status 1, no traceback."""

from __future__ import annotations

import typer

from app.core.problems import ProblemError


def problem_exit(error: ProblemError) -> typer.Exit:
    typer.echo(f"error: {error.detail or error.title}", err=True)
    return typer.Exit(1)
