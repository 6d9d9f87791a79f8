"""From runs to a verdict: medians, ratios, targets, and the Markdown, JSON and PNG written to
``bench/results/`` (timestamped files plus ``latest.*``)."""

from __future__ import annotations

import json
import operator
import shutil
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .rounds import NOISY_PCT, Endpoint, Run

FAKE, CEILING = "fake", "ceiling"
RATIO_TARGETS = {Endpoint.CREATE: 0.6, Endpoint.POLL: 0.8}
P99_LIMIT_MS = 15.0
STARTUP_LIMIT_S = 1.0
RSS_PER_100K_LIMIT_MIB = 150.0
IDLE_CPU_LIMIT_PCT = 1.0
"""What "idle tasks cost no CPU" is held to: under 1% of a core over the quiet window (uvicorn's
own 10 Hz tick costs a little even with no tasks; the few-tasks reading shows that floor)."""


@dataclass(frozen=True, slots=True)
class Goal:
    name: str
    measured: float | None
    limit: float
    at_least: bool
    unit: str

    @property
    def passed(self) -> bool | None:
        if self.measured is None:
            return None
        compare: Callable[[float, float], bool] = operator.ge if self.at_least else operator.le
        return compare(self.measured, self.limit)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]

    def shown(self, value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}{self.unit}" if self.unit in ("x", " ms", "%") else f"{value:.3g}{self.unit}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "limit": (">=" if self.at_least else "<=") + f" {self.limit}{self.unit}",
            "passed": self.passed,
        }


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def measured_runs(runs: Sequence[Run], server: str, endpoint: Endpoint) -> list[Run]:
    return [r for r in runs if not r.warmup and r.server == server and r.endpoint is endpoint]


def ratios(runs: Sequence[Run], endpoint: Endpoint, quiet_only: bool = False) -> list[tuple[int, float]]:
    """(round, fake req/s / ceiling req/s) for every measured round (``quiet_only``: only rounds
    where neither run was flagged noisy)."""
    fake = {r.round: r for r in measured_runs(runs, FAKE, endpoint)}
    ceiling = {r.round: r for r in measured_runs(runs, CEILING, endpoint)}
    return [
        (n, fake[n].result.rps / ceiling[n].result.rps)
        for n in sorted(fake)
        if n in ceiling and ceiling[n].result.rps and not (quiet_only and (fake[n].noisy or ceiling[n].noisy))
    ]


def summarise(runs: Sequence[Run]) -> dict[str, Any]:
    """Medians per endpoint and server over the rounds used: the quiet ones (no run of the round
    flagged noisy) when there are any, else all rounds (and the report says so)."""
    out: dict[str, Any] = {}
    for endpoint in Endpoint:
        per_round = ratios(runs, endpoint)
        quiet = ratios(runs, endpoint, quiet_only=True)
        used = [n for n, _ in quiet] or [n for n, _ in per_round]
        entry: dict[str, Any] = {}
        for server in (FAKE, CEILING):
            every = measured_runs(runs, server, endpoint)
            chosen = [r for r in every if r.round in used]
            entry[server] = {
                "rps_median": _median([r.result.rps for r in chosen]),
                "p50_ms_median": _median([r.result.p50_ms for r in chosen]),
                "p99_ms_median": _median([r.result.p99_ms for r in chosen]),
                "p99_ms_worst": max((r.result.p99_ms for r in chosen), default=None),
                "rss_mib_last": every[-1].rss_mib if every else None,
            }
        entry["rounds_used"] = used
        entry["only_quiet_rounds"] = bool(quiet)
        entry["ratio_per_round"] = [round(v, 3) for _, v in per_round]
        entry["ratio_median"] = _median([v for n, v in per_round if n in used])
        entry["ratio_median_all_rounds"] = _median([v for _, v in per_round])
        out[endpoint.value] = entry
    return out


def invalid_runs(runs: Sequence[Run]) -> list[str]:
    """Every run, warm-up included, where a server answered errors or wrk lost connections."""
    problems = []
    for r in runs:
        if not r.result.ok:
            problems.append(
                f"round {r.round} {r.endpoint.value} {r.server}: {r.result.requests} requests, "
                f"{r.result.non_2xx} non-2xx, {r.result.socket_errors} socket errors"
            )
        if r.tasks_added is not None and r.tasks_added < r.result.requests:
            problems.append(
                f"round {r.round} create {r.server}: wrk counted {r.result.requests} answers but the "
                f"store gained only {r.tasks_added} tasks"
            )
    return problems


def goals(summary: dict[str, Any], startup: dict[str, Any], memory: dict[str, Any] | None) -> list[Goal]:
    found = [
        Goal(
            f"POST create: fake / ceiling req/s (median of quiet rounds) >= {RATIO_TARGETS[Endpoint.CREATE]}",
            summary["create"]["ratio_median"],
            RATIO_TARGETS[Endpoint.CREATE],
            True,
            "x",
        ),
        Goal(
            f"GET poll: fake / ceiling req/s (median of quiet rounds) >= {RATIO_TARGETS[Endpoint.POLL]}",
            summary["poll"]["ratio_median"],
            RATIO_TARGETS[Endpoint.POLL],
            True,
            "x",
        ),
        Goal(
            "POST create: fake p99 at 50 connections (median of quiet rounds)",
            summary["create"][FAKE]["p99_ms_median"],
            P99_LIMIT_MS,
            False,
            " ms",
        ),
        Goal(
            "GET poll: fake p99 at 50 connections (median of quiet rounds)",
            summary["poll"][FAKE]["p99_ms_median"],
            P99_LIMIT_MS,
            False,
            " ms",
        ),
        Goal(
            "start-up: serve to first healthy answer (median)",
            startup[FAKE].get("median_s"),
            STARTUP_LIMIT_S,
            False,
            " s",
        ),
    ]
    if memory is not None and not memory.get("failed"):
        found += [
            Goal(
                "RSS growth per 100k live tasks",
                memory.get("rss_per_100k_mib"),
                RSS_PER_100K_LIMIT_MIB,
                False,
                " MiB",
            ),
            Goal(
                "idle CPU with the live tasks, no requests",
                memory.get("idle_cpu_pct_many_tasks"),
                IDLE_CPU_LIMIT_PCT,
                False,
                "%",
            ),
        ]
    return found


# -- Markdown ---------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _f(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _noise(run: Run) -> str:
    if run.noise_pct is None or run.load_noise_pct is None:
        return "-"
    text = f"{run.noise_pct:.0f}+{run.load_noise_pct:.0f}"
    return f"**{text}**" if run.noisy else text


def round_rows(runs: Sequence[Run]) -> list[list[object]]:
    rows: list[list[object]] = []
    for endpoint in Endpoint:
        fake = {r.round: r for r in measured_runs(runs, FAKE, endpoint)}
        ceiling = {r.round: r for r in measured_runs(runs, CEILING, endpoint)}
        for n in sorted(fake):
            f, c = fake[n], ceiling.get(n)
            bad = (
                f.result.non_2xx
                + f.result.socket_errors
                + (c.result.non_2xx + c.result.socket_errors if c else 0)
            )
            rows.append(
                [
                    n,
                    endpoint.value,
                    _f(f.result.rps),
                    _f(c.result.rps) if c else "-",
                    f"{f.result.rps / c.result.rps:.2f}" if c and c.result.rps else "-",
                    _f(f.result.p50_ms, 2),
                    _f(f.result.p99_ms, 2),
                    _f(c.result.p50_ms, 2) if c else "-",
                    _f(c.result.p99_ms, 2) if c else "-",
                    _f(f.rss_mib, 1),
                    _f(c.rss_mib, 1) if c else "-",
                    _noise(f) + " / " + (_noise(c) if c else "-"),
                    bad if bad == 0 else f"**{bad}**",
                ]
            )
    return rows


def markdown(data: dict[str, Any], runs: Sequence[Run], found: Sequence[Goal], plot_name: str | None) -> str:
    meta, summary = data["meta"], data["summary"]
    lines = [f"# evolink-mock bench, {meta['started']}", ""]
    if data["invalid"]:
        lines += [
            "**INVALID RUN: a server answered errors or dropped connections; numbers below are not comparable.**",
            "",
        ]
        lines += [f"- {p}" for p in data["invalid"]] + [""]
    if data.get("failed_sections"):
        lines += [f"**INCOMPLETE: {'; '.join(data['failed_sections'])}.**", ""]
    passed = sum(1 for g in found if g.passed)
    lines += [
        f"{meta['mode']} run: {meta['rounds']} interleaved rounds of {meta['duration_s']} s per server and "
        f"endpoint (warm-up of {meta['warmup_s']} s excluded), {meta['connections']} connections, "
        f"{meta['threads']} wrk thread(s). {meta['cores']}. Targets met: {passed}/{len(found)}.",
        "",
        "## Targets",
        "",
        *_table(
            ["target", "measured", "limit", "result"],
            [[g.name, g.shown(g.measured), g.shown(g.limit), g.verdict] for g in found],
        ),
        "",
        "## Throughput and latency (median of the quiet rounds)",
        "",
    ]
    rows = []
    for endpoint in Endpoint:
        entry = summary[endpoint.value]
        for server in (FAKE, CEILING):
            s = entry[server]
            rows.append(
                [
                    endpoint.value,
                    server,
                    _f(s["rps_median"]),
                    _f(s["p50_ms_median"], 2),
                    _f(s["p99_ms_median"], 2),
                    _f(s["p99_ms_worst"], 2),
                    _f(s["rss_mib_last"], 1),
                    f"{entry['ratio_median']:.2f}" if server == FAKE and entry["ratio_median"] else "",
                    ", ".join(f"{v:.2f}" for v in entry["ratio_per_round"]) if server == FAKE else "",
                ]
            )
    lines += _table(
        [
            "endpoint",
            "server",
            "req/s",
            "p50 ms",
            "p99 ms",
            "worst p99 ms",
            "RSS MiB (last)",
            "ratio (median)",
            "ratio per round",
        ],
        rows,
    )
    for endpoint in Endpoint:
        entry = summary[endpoint.value]
        total = len(entry["ratio_per_round"])
        if not entry["only_quiet_rounds"] and total:
            lines += [
                "",
                f"**{endpoint.value}: every round was noisy** (other processes took over {NOISY_PCT:g}% of a "
                "CPU); the medians are of all rounds. Rerun on a quieter machine, or with more rounds.",
            ]
        elif len(entry["rounds_used"]) < total:
            lines += [
                "",
                f"{endpoint.value}: medians of the {len(entry['rounds_used'])} quiet round(s) "
                f"{entry['rounds_used']} of {total}; other processes took over {NOISY_PCT:g}% of a CPU in the "
                f"rest. Median ratio of all {total} rounds: {entry['ratio_median_all_rounds']:.2f}.",
            ]
    lines += ["", "## Per round", ""]
    lines += _table(
        [
            "round",
            "endpoint",
            "fake req/s",
            "ceiling req/s",
            "ratio",
            "fake p50",
            "fake p99",
            "ceiling p50",
            "ceiling p99",
            "fake RSS MiB",
            "ceiling RSS MiB",
            "others' CPU % fake / ceiling",
            "errors",
        ],
        round_rows(runs),
    )
    polls = [r.poll_status for r in measured_runs(runs, FAKE, Endpoint.POLL) if r.poll_status]
    lines += [
        "",
        "Latencies in ms. Others' CPU: the share of the server's CPU + of wrk's CPU that other processes "
        f"of the machine took during the run; **bold** (a noisy run) when over {NOISY_PCT:g}% of the server's "
        f"CPU or of wrk's (wrk delayed by a few ms starves a fast server: the ceiling loses more than the fake). "
        "Errors: non-2xx answers plus socket errors, both servers (any makes the run invalid). "
        f"The fake's polled task was created just before each poll run and was {polls[0].split(' ')[0] if polls else '?'} "
        f"when it started (at the end: {', '.join(p.split('-> ')[-1] for p in polls) or '?'}).",
    ]
    if plot_name:
        lines += ["", f"![throughput and p99 per round]({plot_name})"]
    lines += ["", *startup_section(data["startup"])]
    lines += ["", *memory_section(data.get("memory"))]
    lines += ["", *callback_section(data.get("callbacks"))]
    lines += ["", *setup_section(meta)]
    return "\n".join(lines) + "\n"


def startup_section(startup: dict[str, Any]) -> list[str]:
    rows = [
        [
            name,
            _f(s["median_s"] * 1000),
            _f(s["max_s"] * 1000),
            ", ".join(f"{v * 1000:.0f}" for v in s["samples_s"]),
        ]
        if not s.get("failed")
        else [name, "-", "-", f"failed: {s['note']}"]
        for name, s in startup.items()
    ]
    return [
        "## Start-up (spawn to first healthy GET /_mock/health)",
        "",
        *_table(["server", "median ms", "max ms", "samples ms"], rows),
    ]


def memory_section(memory: dict[str, Any] | None) -> list[str]:
    lines = ["## Memory per live task and idle CPU", ""]
    if memory is None:
        return [*lines, "Skipped (--skip-memory)."]
    if memory.get("failed"):
        return [*lines, f"**Failed**: {memory['note']} (server logs in bench/results/raw/)."]
    per = memory["rss_per_100k_mib"]
    lines += [
        f"A fresh fake went from {memory['tasks_before']} to {memory['tasks_after']} live tasks "
        f"({memory['tasks_added']} created by wrk in {memory['create_seconds']} s) and from "
        f"{memory['rss_before_mib']} to {memory['rss_after_mib']} MiB RSS: **{_f(per, 1)} MiB per 100k tasks**"
        + (" (extrapolated)" if memory["extrapolated"] else "")
        + ".",
        "",
        f"Idle CPU over {memory['idle_seconds']} s with no requests: {memory['idle_cpu_pct_few_tasks']}% of a core "
        f"with {memory['tasks_before']} task(s), {memory['idle_cpu_pct_many_tasks']}% with {memory['tasks_after']}; "
        f"pending clock events: {memory['pending_clock_events']} (none expected: no per-task timers).",
    ]
    if memory["non_2xx"] or memory["socket_errors"]:
        lines += [
            "",
            f"**{memory['non_2xx']} non-2xx and {memory['socket_errors']} socket errors while creating.**",
        ]
    return lines


def callback_section(callbacks: dict[str, Any] | None) -> list[str]:
    lines = ["## Callback throughput (loopback receiver)", ""]
    if callbacks is None:
        return [*lines, "Skipped (--skip-callbacks)."]
    if callbacks.get("skipped"):
        return [*lines, f"Skipped: {callbacks['note']}"]
    if callbacks.get("failed"):
        return [*lines, f"**Failed**: {callbacks['note']} (server logs in bench/results/raw/)."]
    c = callbacks
    lines += [
        f"`--time-scale {c['time_scale']:g}`: wrk created {c['created']} tasks with a `callback_url` in "
        f"{c['create_seconds']} s ({_f(c['create_rps'])} req/s); {c['delivered']} distinct callbacks arrived "
        f"({c['duplicates']} duplicates, {c['failed_attempts_logged']} failed attempts in the log"
        + (
            f", {c['attempts_dropped_from_log']} attempts dropped from it"
            if c.get("attempts_dropped_from_log")
            else ""
        )
        + ").",
        "",
        *_table(
            ["phase", "deliveries/s"],
            [
                ["while wrk also creates tasks", _f(c["during_create_per_s"])],
                ["draining, after the creates", _f(c["drain_per_s"])],
                ["overall (first create to last arrival)", _f(c["overall_per_s"])],
            ],
        ),
        "",
        f"Last callback {c['lag_after_creates_s']} s after the creates stopped."
        + ("" if c["complete"] else " **Not every task's callback arrived.**"),
    ]
    return lines


def setup_section(meta: dict[str, Any]) -> list[str]:
    rows = [
        [k, f"`{v}`" if k.endswith("command") else v]
        for k, v in meta.items()
        if not isinstance(v, dict | list)
    ]
    return ["## Setup", "", *_table(["what", "value"], rows)]


# -- plot and files ---------------------------------------------------------------------------


def plot(runs: Sequence[Run], path: Path) -> bool:
    """Throughput, p99 and ratio per round; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (rps_ax, p99_ax, ratio_ax) = plt.subplots(1, 3, figsize=(15, 4.2))
    styles = {FAKE: "-o", CEILING: "--s"}
    for endpoint in Endpoint:
        for server in (FAKE, CEILING):
            chosen = measured_runs(runs, server, endpoint)
            label = f"{server} {endpoint.value}"
            rounds = [r.round for r in chosen]
            rps_ax.plot(rounds, [r.result.rps for r in chosen], styles[server], label=label)
            p99_ax.plot(rounds, [r.result.p99_ms for r in chosen], styles[server], label=label)
        per_round = ratios(runs, endpoint)
        line = ratio_ax.plot([n for n, _ in per_round], [v for _, v in per_round], "-o", label=endpoint.value)
        ratio_ax.axhline(RATIO_TARGETS[endpoint], color=line[0].get_color(), linestyle=":", linewidth=1)
    p99_ax.axhline(P99_LIMIT_MS, color="grey", linestyle=":", linewidth=1, label="target")
    noisy = sorted({r.round for r in runs if not r.warmup and r.noisy})
    all_rounds = sorted({r.round for r in runs if not r.warmup})
    for ax, title in (
        (rps_ax, "throughput (req/s)"),
        (p99_ax, "p99 latency (ms)"),
        (ratio_ax, "fake / ceiling req/s (dotted: target)"),
    ):
        for n in noisy:  # a round where some run lost CPU to other processes
            ax.axvspan(n - 0.4, n + 0.4, color="grey", alpha=0.15, linewidth=0)
        ax.set_title(title)
        ax.set_xticks(all_rounds)
        ax.set_xlabel("round" + (" (grey: noisy)" if noisy else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    rps_ax.set_ylim(bottom=0)
    p99_ax.set_ylim(bottom=0)
    ratio_ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(
    data: dict[str, Any], runs: Sequence[Run], found: Sequence[Goal], out_dir: Path, stamp: str
) -> list[Path]:
    """Timestamped Markdown, JSON and PNG, and the same as ``latest.*``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamped_png = out_dir / f"bench-{stamp}.png"
    has_plot = plot(runs, stamped_png)
    written = [stamped_png] if has_plot else []
    for stem in (f"bench-{stamp}", "latest"):
        png = out_dir / f"{stem}.png"
        if has_plot and png != stamped_png:
            shutil.copyfile(stamped_png, png)
            written.append(png)
        md = out_dir / f"{stem}.md"
        md.write_text(markdown(data, runs, found, png.name if has_plot else None))
        js = out_dir / f"{stem}.json"
        js.write_text(json.dumps({**data, "plot": png.name if has_plot else None}, indent=2) + "\n")
        written += [md, js]
    return written
