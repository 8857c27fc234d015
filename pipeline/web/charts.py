"""The dashboard's figures and charts, made on the server as plain SVG shapes (no script,
no chart library, nothing from a CDN): decisions per day by status, waiting time per day,
the most frequent errors. Pure functions of the catalogue's timeline."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Iterable, Mapping, Sequence

from pipeline.check.catalogue import CATALOGUE

STATUS_COLOURS = {"accepted": "#2e7d32", "rejected": "#c62828", "duplicate": "#9e9e9e"}
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 40, 30, 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Chart:
    """Bars, labels under some of them, and the value at the top of the axis."""

    bars: list[Bar]
    labels: list[tuple[float, str]]
    top_value: float
    width: int = WIDTH
    height: int = HEIGHT


def days(until: date, count: int) -> list[date]:
    return [until - timedelta(days=count - 1 - n) for n in range(count)]


def _day(ts: float, zone: tzinfo) -> date:
    return datetime.fromtimestamp(ts, zone).date()


def _scale(values: Iterable[float]) -> float:
    top = max(values, default=0.0)
    return top if top > 0 else 1.0


def _frame(day_list: Sequence[date]) -> tuple[float, float, list[tuple[float, str]]]:
    slot = (WIDTH - LEFT) / max(len(day_list), 1)
    labels = [(LEFT + slot * (n + 0.5), f"{d:%m-%d}") for n, d in enumerate(day_list)
              if n % max(1, len(day_list) // 10) == 0]
    return slot, HEIGHT - BOTTOM - TOP, labels


def decisions_per_day(timeline: Iterable[Mapping[str, Any]], day_list: Sequence[date], zone: tzinfo,
                      status_label: Mapping[str, str]) -> Chart:
    """Stacked bars: each day's decisions by status."""
    counts: dict[date, Counter[str]] = {d: Counter() for d in day_list}
    for row in timeline:
        day = _day(row["ts"], zone)
        if day in counts:
            counts[day][row["status"]] += 1
    slot, plot, labels = _frame(day_list)
    top = _scale(sum(c.values()) for c in counts.values())
    bars = []
    for n, day in enumerate(day_list):
        y = TOP + plot
        for status, colour in STATUS_COLOURS.items():
            value = counts[day][status]
            if value:
                h = plot * value / top
                y -= h
                bars.append(Bar(LEFT + slot * n + slot * 0.1, y, slot * 0.8, h, colour,
                                f"{day:%Y-%m-%d} {status_label.get(status, status)} {value}"))
    return Chart(bars, labels, top)


def _seconds_between(row: Mapping[str, Any]) -> float | None:
    try:
        return (datetime.fromisoformat(row["decided_at"]) - datetime.fromisoformat(row["received_at"])).total_seconds()
    except (TypeError, ValueError):
        return None


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def waiting_per_day(timeline: Iterable[Mapping[str, Any]], day_list: Sequence[date], zone: tzinfo) -> Chart:
    """Each day's time from receipt to decision: the median as a bar, the 95th percentile
    in its title (seconds)."""
    waits: dict[date, list[float]] = {d: [] for d in day_list}
    for row in timeline:
        day, seconds = _day(row["ts"], zone), _seconds_between(row)
        if day in waits and seconds is not None and seconds >= 0:
            waits[day].append(seconds)
    slot, plot, labels = _frame(day_list)
    medians = {d: _percentile(w, 0.5) for d, w in waits.items() if w}
    top = _scale(medians.values())
    bars = [Bar(LEFT + slot * n + slot * 0.1, TOP + plot - plot * medians[d] / top, slot * 0.8,
                plot * medians[d] / top, "#1f4e79",
                f"{d:%Y-%m-%d} 中位 {medians[d]:.0f} 秒，95% {_percentile(waits[d], 0.95):.0f} 秒，共 {len(waits[d])} 个")
            for n, d in enumerate(day_list) if d in medians]
    return Chart(bars, labels, top)


def frequent_errors(timeline: Iterable[Mapping[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """The error codes found most often (decisions having them), with their Chinese titles."""
    counted = Counter(code for row in timeline for code in set(row["error_codes"]))
    top = counted.most_common(limit)
    most = top[0][1] if top else 1
    return [{"code": code, "title": CATALOGUE[code].title if code in CATALOGUE else code, "count": count,
             "share": count / most} for code, count in top]
