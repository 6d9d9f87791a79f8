"""Where tasks live. A small protocol so a shared or persistent store can replace the default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from .tasks import Task


class Store(Protocol):
    def add(self, task: Task) -> None: ...
    def get(self, task_id: str) -> Task | None: ...
    def replace(self, task: Task) -> None: ...
    def remove(self, task_id: str) -> None: ...
    def file(self, name: str) -> tuple[Task, int] | None: ...
    def __iter__(self) -> Iterator[Task]: ...
    def __len__(self) -> int: ...
    def clear(self) -> None: ...


class MemoryStore:
    """The embedded default: two dicts, nothing to start."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._files: dict[str, str] = {}
        """Result file name -> task id (the same string objects the task holds: no copies)."""

    def add(self, task: Task) -> None:
        self._tasks[task.id] = task
        for name in task.result_names:
            self._files[name] = task.id

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def replace(self, task: Task) -> None:
        self._tasks[task.id] = task

    def remove(self, task_id: str) -> None:
        task = self._tasks.pop(task_id, None)
        if task is not None:
            for name in task.result_names:
                self._files.pop(name, None)

    def file(self, name: str) -> tuple[Task, int] | None:
        task_id = self._files.get(name)
        task = self._tasks.get(task_id) if task_id is not None else None
        return None if task is None else (task, task.result_names.index(name))

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def clear(self) -> None:
        self._tasks.clear()
        self._files.clear()
