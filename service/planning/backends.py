"""Where tasks run: in this process, in a local pool of processes, or as Ray tasks on a cluster.

Every backend takes an iterable of tasks, pulls from it only as slots free up (so requests are read
lazily and a task's budget never runs while it waits in a queue: solve_task starts the clock when a
worker picks it up), and yields one record per task as they finish, in completion order. Each solve
runs work.solve_task, so results do not depend on the backend; with one CP-SAT worker per solve and a
seed they are identical.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from service.inputs import InputError
from service.planning.records import Record
from service.planning.work import Task, error_record, solve_task

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")
RAY_EXTRA = "pip install 'schedopt[ray]'"


class Backend(Protocol):
    name: str

    @property
    def slots(self) -> int:
        """Tasks that run at once."""
        ...

    def run(self, tasks: Iterable[Task]) -> Iterator[Record]: ...

    def close(self) -> None: ...


class InlineBackend:
    """One task at a time in this process: no start-up cost; what the Python API uses by default."""

    name = "inline"
    slots = 1

    def run(self, tasks: Iterable[Task]) -> Iterator[Record]:
        for task in tasks:
            yield Record.model_validate(solve_task(task))

    def close(self) -> None:
        pass


class LocalBackend:
    """A pool of `processes` worker processes on this machine (spawned: nothing inherited but the task).

    A worker that dies (a crash in a native solver, the OOM killer) fails only the tasks that were
    running; the pool is started again for the rest."""

    name = "local"

    def __init__(self, processes: int | None = None):
        self.processes = max(1, processes or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def slots(self) -> int:
        return self.processes

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def run(self, tasks: Iterable[Task]) -> Iterator[Record]:
        pending = iter(tasks)
        running: dict[Future[dict[str, Any]], Task] = {}
        exhausted = False
        while True:
            while not exhausted and len(running) < self.slots:
                task = next(pending, None)
                if task is None:
                    exhausted = True
                    break
                running[self._submit(task)] = task
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                task = running.pop(future)
                try:
                    yield Record.model_validate(future.result())
                except BrokenProcessPool:
                    broken = True
                    yield _died(task)
            if broken:  # every task of the dead pool failed with it
                for task in running.values():
                    yield _died(task)
                running.clear()
                self._restart()

    def _submit(self, task: Task) -> Future[dict[str, Any]]:
        try:
            return self._executor().submit(solve_task, task)
        except BrokenProcessPool:
            self._restart()
            return self._executor().submit(solve_task, task)

    def _restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayBackend:
    """Ray tasks: on the cluster at `address`, or on a local Ray started here (and stopped by close()).

    The cluster's nodes need schedopt installed (with the `ray` extra) in the same Python version;
    requests travel with the tasks, so no file needs to be on the nodes. Each task asks for as many
    CPUs as the solve has CP-SAT workers."""

    name = "ray"

    def __init__(self, address: str | None = None, slots: int | None = None):
        try:
            import ray
        except ImportError:
            raise InputError([f"--backend ray: Ray is not installed; {RAY_EXTRA}"]) from None
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
            }
            if address is None:
                kwargs["num_cpus"] = slots or os.cpu_count() or 1
            # A cold local Ray on a slow, busy machine can miss its own 30 s start-up wait: try twice.
            for attempt in range(1 if address is not None else 2):
                try:
                    ray.init(address=address, **kwargs)
                    break
                except Exception as exc:  # Ray raises plain Exceptions for start-up timeouts
                    if ray.is_initialized():
                        ray.shutdown()
                    if attempt == 0 and address is None:
                        log.warning("local Ray did not start (%s); trying once more", exc)
                        continue
                    where = f"--address {address}" if address else "--backend ray"
                    raise InputError([f"{where}: cannot start or reach Ray: {exc}"]) from None
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self._slots = max(1, slots or cpus)
        self._remote = ray.remote(solve_task)

    @property
    def slots(self) -> int:
        return self._slots

    def run(self, tasks: Iterable[Task]) -> Iterator[Record]:
        ray = self._ray
        pending = iter(tasks)
        running: dict[Any, Task] = {}
        exhausted = False
        while True:
            while not exhausted and len(running) < self.slots:
                task = next(pending, None)
                if task is None:
                    exhausted = True
                    break
                cpus = max(1, int(task.options.get("workers") or 1))
                ref = self._remote.options(num_cpus=cpus, max_retries=0).remote(task)
                running[ref] = task
            if not running:
                return
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                task = running.pop(ref)
                try:
                    yield Record.model_validate(ray.get(ref))
                except ray.exceptions.RayError as exc:  # the worker died, or Ray lost the task
                    yield _died(task, f"Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False


def make_backend(name: str, workers: int | None = None, address: str | None = None) -> Backend:
    if name == "local":
        if address is not None:
            raise InputError(["--address: only with --backend ray"])
        return LocalBackend(workers)
    if name == "ray":
        return RayBackend(address, workers)
    raise InputError([f"--backend: unknown backend {name!r} (known: {', '.join(BACKENDS)})"])


def _died(task: Task, why: str = "the worker process died (a crash, or killed)") -> Record:
    return error_record(task.meta, task.options, why)
