"""Tasks: a plan fixed at creation, and state derived from (plan, now).

No timers and no loops: reading a task computes its status and progress from the plan and the
clock, so 100 000 idle tasks cost memory only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class Completed:
    result_count: int
    status: TaskStatus = TaskStatus.COMPLETED


@dataclass(frozen=True, slots=True)
class Failed:
    code: str
    message: str
    status: TaskStatus = TaskStatus.FAILED


Outcome = Completed | Failed


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """When the task starts, when it ends and how, in clock seconds.

    ``final_progress`` is the progress the task shows once it has ended: 100 when it completed,
    the progress it had reached when it failed. A stuck task has ``ends_at`` infinite and holds
    ``final_progress`` while processing forever.
    """

    created_at: float
    starts_at: float
    ends_at: float
    outcome: Outcome
    final_progress: int = 100

    def status_at(self, now: float) -> TaskStatus:
        if now < self.starts_at:
            return TaskStatus.PENDING
        if now < self.ends_at:
            return TaskStatus.PROCESSING
        return self.outcome.status

    def progress_at(self, now: float) -> int:
        """0 while pending, rising monotonically while processing, final once ended."""
        if now < self.starts_at:
            return 0
        if now >= self.ends_at or math.isinf(self.ends_at):  # a stuck task holds its progress
            return self.final_progress
        span = self.ends_at - self.starts_at
        fraction = (now - self.starts_at) / span if span > 0 else 1.0
        ceiling = self.final_progress if isinstance(self.outcome, Failed) else 99
        return min(ceiling, math.floor(fraction * self.final_progress))

    def cancelled_at(self, now: float, outcome: Failed) -> TaskPlan:
        """This plan cut short at ``now``: it ends there with ``outcome``, keeping its progress."""
        return TaskPlan(
            created_at=self.created_at,
            starts_at=min(self.starts_at, now),
            ends_at=now,
            outcome=outcome,
            final_progress=self.progress_at(now),
        )

    def timeline(self) -> list[tuple[TaskStatus, float]]:
        return [
            (TaskStatus.PENDING, self.created_at),
            (TaskStatus.PROCESSING, self.starts_at),
            (self.outcome.status, self.ends_at),
        ]


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    account: str
    model: str
    created: int
    estimated_time: int
    billing_rule: str
    credits_reserved: float
    user_group: str
    request: dict[str, Any]
    plan: TaskPlan
    result_names: tuple[str, ...] = ()
    """Result file paths (relative to the fake's base URL), fixed at creation, served once completed."""


@dataclass(frozen=True, slots=True)
class TaskView:
    """What a reader sees at one moment."""

    status: TaskStatus
    progress: int


def view_at(task: Task, now: float) -> TaskView:
    return TaskView(task.plan.status_at(now), task.plan.progress_at(now))


def created_body(task: Task) -> dict[str, Any]:
    """The documented 200 body of POST /v1/images/generations."""
    return {
        "created": task.created,
        "id": task.id,
        "model": task.model,
        "object": "image.generation.task",
        "progress": 0,
        "status": TaskStatus.PENDING.value,
        "task_info": {"can_cancel": True, "estimated_time": task.estimated_time},
        "type": "image",
        "usage": {
            "billing_rule": task.billing_rule,
            "credits_reserved": task.credits_reserved,
            "user_group": task.user_group,
        },
    }


def detail_body(task: Task, now: float, base_url: str) -> dict[str, Any]:
    """The documented 200 body of GET /v1/tasks/{id} at ``now``; also the callback body."""
    view = view_at(task, now)
    body = created_body(task)
    body["status"] = view.status.value
    body["progress"] = view.progress
    info = body["task_info"]
    info["can_cancel"] = not view.status.terminal
    if view.status.terminal:
        del info["estimated_time"]
    outcome = task.plan.outcome
    if view.status is TaskStatus.COMPLETED:
        body["results"] = [f"{base_url}/{name}" for name in task.result_names]
    elif view.status.terminal and isinstance(outcome, Failed):
        body["error"] = {"code": outcome.code, "message": outcome.message, "type": "task_error"}
    return body


def expired(task: Task, now: float, ttl: float) -> bool:
    return now >= task.plan.ends_at + ttl
