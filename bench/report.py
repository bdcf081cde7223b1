"""Rows of the suite's summary table, and the table itself.

Every benchmark returns `Row`s: a measured value, the baseline measured in the same run,
their ratio and, where PERFORMANCE.md or the issue names one, a target for that ratio.
Absolute numbers drift between runs and machines; the ratio is what a row is judged on.
A row measured over rounds keeps each round's figure (`samples`), and the table prints
their min / median / max beside the median it judges: a ratio whose spread crosses the
target is not a pass to rely on.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """A bound on a row's ratio: `ratio <= bound` (`at_most`) or `ratio >= bound`."""

    bound: float
    at_most: bool

    def met(self, ratio: float) -> bool:
        return ratio <= self.bound if self.at_most else ratio >= self.bound

    def __str__(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.bound:g}"


def at_most(bound: float) -> Target:
    return Target(bound, at_most=True)


def at_least(bound: float) -> Target:
    return Target(bound, at_most=False)


@dataclass(frozen=True)
class Row:
    """One line of the table. `baseline` is None for a row that only reports a value."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: Target | None = None
    samples: tuple[float, ...] = ()  # each round's value, when measured over rounds

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        ratio = self.ratio
        if self.target is None or ratio is None:
            return "-"
        return "pass" if self.target.met(ratio) else "MISS"

    @property
    def spread(self) -> str:
        """min / median / max of the rounds (n), or "-" for a single figure."""
        if len(self.samples) < 2:
            return "-"
        low, middle, high = min(self.samples), statistics.median(self.samples), max(self.samples)
        numbers = "/".join(_number(x, "") for x in (low, middle, high))
        return f"{numbers} ({len(self.samples)})"


def over_rounds(
    name: str,
    values: Sequence[float],
    unit: str,
    baselines: Sequence[float] | None = None,
    baseline_name: str = "",
    target: Target | None = None,
) -> Row:
    """A row judged on the median of its rounds (and of its baseline's rounds)."""
    return Row(
        name,
        statistics.median(values),
        unit,
        None if baselines is None else statistics.median(baselines),
        baseline_name,
        target,
        tuple(values),
    )


def _number(value: float, unit: str) -> str:
    if float(value).is_integer():
        return f"{int(value):,d} {unit}".strip()
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}".strip()


def table(rows: list[Row]) -> str:
    """A plain-text table (it goes into the README as printed)."""
    header = (
        "benchmark",
        "measured",
        "min/median/max (rounds)",
        "same-run baseline",
        "ratio",
        "target",
        "result",
    )
    lines = [header]
    for row in rows:
        baseline = "-"
        if row.baseline is not None:
            baseline = f"{_number(row.baseline, row.unit)} ({row.baseline_name})"
        ratio = row.ratio
        lines.append(
            (
                row.name,
                _number(row.value, row.unit),
                row.spread,
                baseline,
                "-" if ratio is None else f"{ratio:.2f}",
                "-" if row.target is None else str(row.target),
                row.verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        cells = [
            cell.ljust(width) if i in (0, 3) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def machine() -> str:
    """One line on where the numbers came from: they mean little without it."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {os.cpu_count()} cores ({model or 'unknown CPU'}), "
        f"load average {load} at the end; Python {platform.python_version()}"
    )
