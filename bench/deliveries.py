"""Callback throughput: how many deliveries per second the fake sends to a fast loopback receiver.

A fresh fake runs at ``--time-scale 0.01`` by default (a task ends 0.2-0.35 s after it is
created) with ``--allow-private-urls`` (plain http to 127.0.0.1 allowed). Not 0.001: the fake
scales the documented 10 s callback timeout with the clock, and 10 ms of wall time is less than
one loopback delivery takes through httpx when the fake is busy (even the first one, which opens
the client, takes ~25 ms), so at 0.001 nearly every attempt times out and the section would
measure timeouts, not deliveries. ``--callback-time-scale`` changes it. wrk creates tasks whose
``callback_url`` is the receiver (``bench/sink.py``, on the load CPU) for a few seconds; then the
bench waits until every created task's callback has arrived. Reported:

- ``during_create``: deliveries per second while wrk is also creating tasks (the fake's one core
  is shared between the two);
- ``drain``: deliveries per second after the creates stopped, the fake doing nothing else;
- ``overall``: all deliveries over the whole window, first create to last arrival.

Builds without the callback feature (no ``GET /_mock/callbacks``, or ``callback_url`` refused)
skip the section with a note.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .fake import FakeSetup, verify
from .load import GENERATE_PATH, Wrk, auth_headers
from .servers import Cores, Server, fake_argv, free_port, sink_argv

TIME_SCALE = 0.01
"""Default clock speed of this section (see the module docstring for why not 0.001)."""
FIRST_DELIVERY_WAIT = 15.0
"""Wall seconds to wait for the probe task's callback before calling the feature absent."""
STALL_SECONDS = 10.0
"""Stop waiting for the rest when no callback has arrived for this long."""


def _skip(note: str) -> dict[str, Any]:
    return {"skipped": True, "note": note}


def _sink_stats(client: httpx.Client, sink: Server) -> dict[str, Any]:
    stats: dict[str, Any] = client.get(sink.url + "/stats").json()
    return stats


def measure(
    setup: FakeSetup,
    wrk: Wrk,
    cores: Cores,
    log_dir: Path,
    *,
    create_seconds: int,
    drain_cap: float,
    say: Callable[[str], None],
    time_scale: float = TIME_SCALE,
) -> dict[str, Any]:
    sink_port, fake_port = free_port(), free_port()
    flags = ("--time-scale", f"{time_scale:g}", "--allow-private-urls", "--seed", "1", *setup.flags)
    sink = Server("sink", sink_argv(sink_port), sink_port, cores.load, log_dir, health_path="/stats")
    fake = Server("fake-callbacks", fake_argv(fake_port, *flags), fake_port, cores.server, log_dir)
    with sink, fake, httpx.Client(timeout=30, trust_env=False) as client:
        sink.start()
        fake.start()
        if client.get(fake.url + "/_mock/callbacks").status_code == 404:
            return _skip("GET /_mock/callbacks is missing: this build has no callback feature yet")
        check = verify(fake.url, setup)
        callback_url = f"{sink.url}/callback"
        body = setup.body(fake.url, callback_url)
        probe = client.post(fake.url + GENERATE_PATH, content=body, headers=auth_headers())
        if probe.status_code != 200:
            return _skip(f"the fake refused a loopback callback_url: {probe.status_code} {probe.text[:300]}")
        deadline = time.monotonic() + FIRST_DELIVERY_WAIT
        while _sink_stats(client, sink)["received"] < 1:
            if time.monotonic() > deadline:
                log = client.get(fake.url + "/_mock/callbacks").json().get("attempts", [])
                errors = sorted({str(a.get("detail") or a.get("error")) for a in log})
                return _skip(
                    f"no callback arrived within {FIRST_DELIVERY_WAIT:g} s at --time-scale {time_scale:g}; "
                    f"the fake logged {len(log)} attempt(s): {'; '.join(errors) or 'none'}"
                )
            time.sleep(0.05)
        client.post(sink.url + "/reset")
        tasks0 = client.get(fake.url + "/_mock/health").json()["tasks"]

        began = time.monotonic()
        result = wrk.create(fake.url, body, create_seconds)
        ended = time.monotonic()
        at_end = _sink_stats(client, sink)
        created = client.get(fake.url + "/_mock/health").json()["tasks"] - tasks0
        say(
            f"  created {created} tasks with a callback in {ended - began:.1f} s; {at_end['unique']} delivered so far"
        )

        stats, last_change, seen = at_end, time.monotonic(), at_end["received"]
        while stats["unique"] < created and time.monotonic() - ended < drain_cap:
            time.sleep(0.2)
            stats = _sink_stats(client, sink)
            if stats["received"] != seen:
                seen, last_change = stats["received"], time.monotonic()
            elif time.monotonic() - last_change > STALL_SECONDS:
                break
        created = (
            client.get(fake.url + "/_mock/health").json()["tasks"] - tasks0
        )  # wrk's last requests included
        attempts = client.get(fake.url + "/_mock/callbacks").json()
        failed = [
            a
            for a in attempts.get("attempts", [])
            if a.get("error") is not None or not 200 <= (a.get("status_code") or 0) < 300
        ]

    delivered, last = stats["unique"], stats["last"] or ended
    after_end = delivered - at_end["unique"]
    drain_window = last - ended
    out: dict[str, Any] = {
        "skipped": False,
        "image_check": check,
        "time_scale": time_scale,
        "create_seconds": create_seconds,
        "created": created,
        "create_rps": round(result.rps, 1),
        "create_non_2xx": result.non_2xx,
        "create_socket_errors": result.socket_errors,
        "delivered": delivered,
        "received": stats["received"],
        "duplicates": stats["received"] - delivered,
        "undecodable": stats["undecodable"],
        "failed_attempts_logged": len(failed),
        "attempts_logged": len(attempts.get("attempts", [])),
        "attempts_dropped_from_log": attempts.get("dropped"),
        "complete": delivered >= created,
        "during_create_per_s": round(at_end["unique"] / (ended - began), 1),
        "drain_per_s": round(after_end / drain_window, 1) if drain_window > 0 and after_end > 0 else None,
        "overall_per_s": round(delivered / (last - began), 1) if last > began else None,
        "lag_after_creates_s": round(max(drain_window, 0.0), 2),
    }
    say(
        f"  delivered {delivered}/{created}: {out['during_create_per_s']}/s while creating, "
        f"{out['drain_per_s']}/s draining, {out['overall_per_s']}/s overall"
    )
    return out
