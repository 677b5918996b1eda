"""A small pool of worker processes for work that may have to be stopped when over time.

Parsing a tenant's YAML runs in C (libyaml) and holds the interpreter lock, and so does a heavy
jmesPath evaluation: in a thread either would still stall the event loop, and a thread cannot be
stopped. A worker process can be. Each call has a deadline; a worker that overruns it is killed and
replaced, and the call raises :class:`WorkerTimeout`. Calls block: run them from a thread
(``asyncio.to_thread``), never on the loop. Workers run at a lower CPU priority
(:data:`WORKER_NICENESS`), so one tenant's heavy work never takes the CPU from the process serving
every mount.

Workers are started with ``spawn`` (a fresh interpreter: nothing of the server's threads, sockets
or secrets is inherited) when first needed (``multiprocessing`` itself is imported then), and stopped by :meth:`WorkerPool.close`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

WORKER_MEMORY_BYTES = 1024 * 1024 * 1024  # address space of one worker: a runaway task fails with MemoryError
WORKER_NICENESS = 10  # added to the workers' nice value: the serving process wins the CPU over them
STARTUP_SECONDS = 60.0  # a worker's interpreter start (slow on a loaded node); not counted against a call's deadline


class WorkerTimeout(Exception):
    """The call ran over its deadline; its worker was killed."""


class WorkerCrashed(Exception):
    """The worker died during the call (killed by the kernel, out of memory…)."""


class WorkerUnavailable(Exception):
    """No worker process could be started (e.g. a main module that is not import-safe)."""


class _Worker:
    def __init__(self) -> None:
        import multiprocessing  # with the first worker: a server that never needs one does not hold the module

        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), name="secrets-gateway-worker", daemon=True)
        self.process.start()
        child.close()
        if not self.connection.poll(STARTUP_SECONDS):
            self.kill()
            raise RuntimeError(f"the worker did not start within {STARTUP_SECONDS:g}s")
        try:
            self.connection.recv()  # "ready": imports done
        except (EOFError, OSError):
            self.kill()
            raise RuntimeError("the worker exited before it was ready") from None

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.connection.close()


class _TenantShares:
    """At most ``per_tenant`` calls of one tenant at once; a tenant with none running or waiting is forgotten."""

    def __init__(self, per_tenant: int) -> None:
        self.per_tenant = per_tenant
        self._held: dict[str, int] = {}
        self._changed = threading.Condition()

    def acquire(self, tenant: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._held.get(tenant, 0) >= self.per_tenant:
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    return False
            self._held[tenant] = self._held.get(tenant, 0) + 1
            return True

    def release(self, tenant: str) -> None:
        with self._changed:
            held = self._held[tenant] - 1
            if held:
                self._held[tenant] = held
            else:
                del self._held[tenant]
            self._changed.notify_all()


class WorkerPool:
    """At most ``size`` calls run at once, each in its own worker process; more wait for a worker.

    A call made for a tenant (a pod namespace) holds at most ``size - 1`` of the workers with that tenant's other
    calls, so one tenant's heavy work always leaves a worker for everyone else.
    """

    def __init__(self, size: int = 2) -> None:
        self._size = size
        self._slots = threading.BoundedSemaphore(size)
        self._shares = _TenantShares(max(1, size - 1))
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False

    def call(self, function: Callable[..., Any], *args: Any, timeout: float, tenant: str | None = None) -> Any:
        """``function(*args)`` in a worker (both picklable), or :class:`WorkerTimeout` after ``timeout`` seconds.

        An exception the function raises is raised here. With ``tenant``, the call waits (within ``timeout``)
        while that tenant already holds its share of the workers.
        """
        if tenant is None:
            return self._call(function, args, timeout)
        if not self._shares.acquire(tenant, timeout):
            raise WorkerTimeout(f"the tenant's share of {self._shares.per_tenant} worker(s) stayed busy for {timeout:.1f}s")
        try:
            return self._call(function, args, timeout)
        finally:
            self._shares.release(tenant)

    def _call(self, function: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        if not self._slots.acquire(timeout=timeout):
            raise WorkerTimeout(f"no worker became free within {timeout:.1f}s")
        try:
            worker = self._take()
            try:
                worker.connection.send((function, args))
                if not worker.connection.poll(timeout):
                    self._discard(worker)
                    raise WorkerTimeout(f"the work took longer than {timeout:.1f}s")
                ok, result = worker.connection.recv()
            except (EOFError, OSError, BrokenPipeError):
                self._discard(worker)
                raise WorkerCrashed("the worker process died") from None
            self._give_back(worker)
        finally:
            self._slots.release()
        if not ok:
            raise result
        return result

    def prestart(self, count: int | None = None, *, wait: bool = False) -> None:
        """Start ``count`` (default: all) workers now, in the background unless ``wait``, so calls do not wait for them."""
        args = (self._size if count is None else count,)
        if wait:
            self._prestart(*args)
        else:
            threading.Thread(target=self._prestart, args=args, name="secrets-gateway-worker-start", daemon=True).start()

    def _prestart(self, count: int) -> None:
        for _ in range(count):
            try:
                worker = _Worker()
            except (OSError, RuntimeError):
                return
            self._give_back(worker)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.kill()

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise WorkerCrashed("the worker pool is closed")
            worker = self._idle.pop() if self._idle else None
        if worker is None or not worker.process.is_alive():
            try:
                worker = _Worker()
            except (OSError, RuntimeError) as exc:
                raise WorkerUnavailable(f"a worker process could not be started: {exc}") from None
        with self._lock:
            self._busy.add(worker)
        return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            keep = not self._closed and len(self._idle) < self._size
            if keep:
                self._idle.append(worker)
        if not keep:
            worker.kill()

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            closed = self._closed
        worker.kill()
        if not closed:
            self.prestart(1)  # its replacement, before the next call needs it


def _serve(connection: Connection) -> None:
    """A worker's loop: run calls until the pipe closes; exceptions go back to the caller."""
    _limit_memory()
    _lower_priority()
    import gateway.parsetransfer  # noqa: F401 - what parse calls need, loaded before the worker says it is ready
    from gateway import gcpolicy

    gcpolicy.settle_after_startup()  # the interpreter and its imports: no collection walks them again
    connection.send("ready")
    while True:
        try:
            function, args = connection.recv()
        except (EOFError, OSError):
            return
        with gcpolicy.paused():  # what calls build (a node graph, JSON values) is acyclic; the address-space limit holds
            try:
                reply = (True, function(*args))
            except Exception as exc:
                reply = (False, exc)
            try:
                connection.send(reply)
            except Exception:
                connection.send((False, WorkerCrashed("the worker's answer could not be sent back")))


def _lower_priority() -> None:
    try:
        os.nice(WORKER_NICENESS)
    except (AttributeError, OSError):
        pass


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass
