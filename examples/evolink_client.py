"""A small Evolink client, written the way an application would: submit an edit, poll with
backoff, handle failed tasks, retry 429s after ``Retry-After``, and take callbacks.

Its tests (``test_client.py``) run it against the fake with the pytest plugin. What makes it
testable without sleeping: the client never reads a clock. It waits only through ``sleep``
(``time.sleep`` by default) and counts the seconds it asked for, so a test passes the fake's
``clock.advance`` and a 60 s ``Retry-After`` or a 30 s task costs no wall time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

API_URL = "https://api.evolink.ai"
MODEL = "qwen-image-edit"
RETRYABLE = frozenset({429, 500, 502, 503})
"""Statuses worth another try: rate limited, or the gateway having a bad moment."""
FAILED = frozenset({"failed", "cancelled"})


class EvolinkError(Exception):
    """Base of this client's errors."""


class ApiError(EvolinkError):
    """An HTTP error answer, after retries when it was retryable."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class TaskFailed(EvolinkError):
    def __init__(self, task_id: str, code: str | None, message: str | None) -> None:
        super().__init__(f"task {task_id} failed: {code}: {message}")
        self.task_id, self.code, self.message = task_id, code, message


class TaskTimeout(EvolinkError):
    def __init__(self, task_id: str, waited: float) -> None:
        super().__init__(f"task {task_id} still running after {waited:g} s")
        self.task_id, self.waited = task_id, waited


@dataclass(frozen=True)
class Task:
    id: str
    status: str
    progress: int
    results: list[str] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Task:
        error = body.get("error") or {}
        return cls(
            id=body["id"],
            status=body["status"],
            progress=int(body.get("progress", 0)),
            results=list(body.get("results") or []),
            error_code=error.get("code"),
            error_message=error.get("message"),
        )

    @property
    def done(self) -> bool:
        return self.status == "completed" or self.status in FAILED


@dataclass(frozen=True)
class Backoff:
    """Poll delays: ``initial``, growing by ``factor`` up to ``maximum``; give up after ``timeout``
    seconds of waiting in all."""

    initial: float = 2.0
    factor: float = 1.5
    maximum: float = 15.0
    timeout: float = 600.0

    def delays(self) -> Iterator[float]:
        delay, waited = self.initial, 0.0
        while waited + delay <= self.timeout:
            yield delay
            waited += delay
            delay = min(delay * self.factor, self.maximum)


class EvolinkClient:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = API_URL,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], object] = time.sleep,
        backoff: Backoff | None = None,
        max_retries: int = 3,
        timeout: float = 30.0,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
            timeout=timeout,
        )
        self._sleep = sleep
        self.backoff = backoff or Backoff()
        self.max_retries = max_retries

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EvolinkClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, prompt: str, image_urls: Sequence[str], *, callback_url: str | None = None) -> Task:
        """Create a task. Retries 429 and 5xx answers and network errors; an ``Idempotency-Key``
        makes a retry after a lost answer return the same task instead of a second one."""
        body: dict[str, Any] = {"model": MODEL, "prompt": prompt, "image_urls": list(image_urls)}
        if callback_url is not None:
            body["callback_url"] = callback_url
        headers = {"Idempotency-Key": f"evolink-example-{uuid.uuid4().hex}"}
        return Task.from_json(self._request("POST", "/v1/images/generations", json=body, headers=headers))

    def get(self, task_id: str) -> Task:
        return Task.from_json(self._request("GET", f"/v1/tasks/{task_id}"))

    def wait(self, task_id: str) -> Task:
        """Poll until the task ends; its result when completed, else ``TaskFailed``."""
        waited = 0.0
        for delay in self.backoff.delays():
            self._sleep(delay)
            waited += delay
            task = self.get(task_id)
            if task.status in FAILED:
                raise TaskFailed(task.id, task.error_code, task.error_message)
            if task.done:
                return task
        raise TaskTimeout(task_id, waited)

    def generate(self, prompt: str, image_urls: Sequence[str]) -> Task:
        return self.wait(self.submit(prompt, image_urls).id)

    def handle_callback(self, body: bytes) -> Task:
        """What a webhook endpoint calls with the request body. Evolink does not sign callbacks,
        so the body only says which task to look at: the task is read back from the API, and
        its status there is what counts. Deliveries may repeat (retries): handle them idempotently."""
        try:
            task_id = Task.from_json(json.loads(body)).id
        except (ValueError, KeyError, TypeError) as exc:
            raise EvolinkError(f"not a task callback: {exc}") from None
        return self.get(task_id)

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if last:
                    raise
                self._sleep(self._retry_delay(attempt, None))
                continue
            if response.status_code in RETRYABLE and not last:
                self._sleep(self._retry_delay(attempt, response))
                continue
            if response.is_error:
                error = _error_of(response)
                raise ApiError(response.status_code, error.get("code"), str(error.get("message", "")))
            data: dict[str, Any] = response.json()
            return data
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(self, attempt: int, response: httpx.Response | None) -> float:
        """``Retry-After`` (seconds) when the answer has one, else 1, 2, 4... seconds."""
        if response is not None:
            value = response.headers.get("Retry-After", "")
            if value.isdigit():
                return float(value)
        return float(2**attempt)


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    return error if isinstance(error, dict) else {"message": response.text[:200]}
