"""Progress and tables with rich: the only module that draws.

The hot path only bumps integers on a :class:`Tally`; a ticker task copies them into the
progress bar a few times a second, so drawing costs the same for ten runs or a million. When
stdout is not a terminal (a pipe, a CI log) there is no live bar: a plain line every few
seconds and one at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterable, Sequence

import attrs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["Tally", "console", "live_progress", "percentiles", "table"]

TERMINAL_REFRESH = 0.25  # seconds between redraws of the live bar
PLAIN_REFRESH = 5.0  # seconds between progress lines when stdout is not a terminal


@attrs.define
class Tally:
    """Counts the batch updates as outcomes arrive; read by the ticker, never locked."""

    total: int | None = None
    done: int = 0
    failed: int = 0
    retries: int = 0
    skipped: int = 0
    started_at: float = attrs.field(factory=time.perf_counter)
    stopped_at: float | None = None  # set by stop(): the rate holds still from then on

    def start(self) -> None:
        """Start the clock now (the tally may be made before the work can begin)."""
        self.started_at = time.perf_counter()

    def stop(self) -> None:
        """Stop the clock: the last progress line and any summary give one same rate."""
        if self.stopped_at is None:
            self.stopped_at = time.perf_counter()

    @property
    def elapsed(self) -> float:
        ended = time.perf_counter() if self.stopped_at is None else self.stopped_at
        return ended - self.started_at

    @property
    def rate(self) -> float:
        """Rows *sent* per second: rows skipped from the journal cost no time, so they
        would inflate it (a resume showed 2,215 runs/s for ~355 real)."""
        elapsed = self.elapsed
        return (self.done - self.skipped) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        skipped = f" ({self.skipped} from the journal)" if self.skipped else ""
        return (
            f"{self.done}{of} done{skipped}, {self.failed} failed, {self.retries} retries, "
            f"{self.rate:,.0f} runs/s"
        )


# Wide enough that no table of ours is ever squeezed; rich pads nothing to this width.
UNWRAPPED_WIDTH = 100_000


def console() -> Console:
    """stdout as rich draws it: wrapped to a terminal's width, never wrapped elsewhere.

    rich wraps at 80 columns (or ``$COLUMNS``) when it cannot ask a terminal, which broke
    messages naming a long path across two lines of a log, so that grepping for them
    failed. Resolved per command so that a replaced sys.stdout (tests, redirection) is
    honoured.
    """
    out = Console(file=sys.stdout, highlight=False)
    if not out.is_terminal:
        out.soft_wrap = True  # a message stays one line, however long
        out.width = UNWRAPPED_WIDTH  # and a table cell is not folded to fit 80 columns
    return out


@contextlib.asynccontextmanager
async def live_progress(out: Console, label: str, tally: Tally) -> AsyncIterator[None]:
    """Show ``tally`` while the body runs: a live bar on a terminal, else plain lines."""
    if not out.is_terminal:
        ticker = asyncio.ensure_future(_plain_ticker(out, label, tally))
        try:
            yield
        finally:
            tally.stop()
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            out.print(f"{label}: {tally.line()}")
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("[yellow]{task.fields[retries]} retries"),
        TextColumn("{task.fields[rate]:,.0f} runs/s"),
        TimeElapsedColumn(),
        console=out,
        auto_refresh=False,
    )
    task = progress.add_task(label, total=tally.total, failed=0, retries=0, rate=0.0)

    def draw() -> None:
        progress.update(
            task,
            completed=tally.done,
            total=tally.total,
            failed=tally.failed,
            retries=tally.retries,
            rate=tally.rate,
        )
        progress.refresh()

    async def tick() -> None:
        while True:
            draw()
            await asyncio.sleep(TERMINAL_REFRESH)

    with progress:
        ticker = asyncio.ensure_future(tick())
        try:
            yield
        finally:
            tally.stop()
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            draw()


async def _plain_ticker(out: Console, label: str, tally: Tally) -> None:
    while True:
        await asyncio.sleep(PLAIN_REFRESH)
        out.print(f"{label}: {tally.line()}")


def table(title: str, rows: Iterable[tuple[str, str]]) -> Table:
    """A two-column summary table."""
    grid = Table(title=title, title_justify="left", show_header=False)
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in rows:
        grid.add_row(name, value)
    return grid


def percentiles(values: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 of ``values`` (0.0 for none)."""
    if not values:
        return 0.0, 0.0
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99
