"""A Ray cluster for the length of a command, and the one way poseforge runs tasks on it.

    with ray_cluster("local", "validate") as cluster:   # or "auto", "HOST:PORT", "ray://HOST:PORT"
        results = cluster.run(fn, jobs, num_cpus=1)     # fn(job) in Ray tasks, results in job order

`local` starts a Ray of this machine's cores (loopback only, its files in a temporary folder)
and stops it at the end; any other address joins a running cluster and leaves it running. Ray
schedules and retries (a task whose worker dies is run again, up to `max_retries` times);
poseforge only says what each task needs. A node is labelled with its machine class by a custom
resource of one unit (`ray start --resources "$(poseforge machine --ray-resources)"`), so a task
asking for that unit runs on a node of that class, one at a time per node.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from poseforge.errors import PoseforgeError
from poseforge.machine import machine_info, usable_cores
from poseforge.ui import progress

EXTRA = "pip install 'poseforge[cluster]' (or `make setup-cluster`)"
CLASS_PREFIX = "poseforge-class:"  # a node's label: the custom resource CLASS_PREFIX + its machine class
CONNECT_TIMEOUT = 5.0  # seconds to reach a cluster's address before saying it cannot be reached
MAX_RETRIES = 3  # runs of a task whose worker died, after the first
WAIT_LIMIT = 3600.0  # seconds without any task finishing (a sweep row takes minutes): then the run is given up


def import_ray(command: str) -> Any:
    """The ray module, or one line naming the extra that installs it."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "ray":
            raise
        raise PoseforgeError(f"{command} --ray needs Ray, part of the cluster extra: {EXTRA}") from None
    return ray


def class_resource(machine_class: str) -> str:
    return CLASS_PREFIX + machine_class


def node_resources() -> dict[str, float]:
    """The custom resources a node of this machine is started with: its class, one unit."""
    return {class_resource(str(machine_info()["class"])): 1.0}


@dataclass(frozen=True)
class Node:
    id: str
    host: str
    cpus: int
    machine_class: str | None  # its label, if it has one


def poseforge_task(fn: Callable[[Any], Any], job: Any) -> Any:
    """What every Ray task runs (its workers show as `ray::poseforge_task` while they run one)."""
    return fn(job)


class Cluster:
    """A connected Ray: its nodes, and `run` to spread calls over them."""

    def __init__(self, ray: Any, address: str) -> None:
        self.ray = ray
        self.address = address
        self._task = ray.remote(poseforge_task)

    def nodes(self) -> list[Node]:
        found = []
        for node in self.ray.nodes():
            if not node.get("Alive"):
                continue
            resources = node.get("Resources", {})
            labels = sorted(k.removeprefix(CLASS_PREFIX) for k in resources if k.startswith(CLASS_PREFIX))
            found.append(Node(node["NodeID"], str(node.get("NodeManagerHostname") or node.get("NodeManagerAddress")),
                              int(resources.get("CPU", 0)), labels[0] if labels else None))  # fmt: skip
        return found

    def cpus(self) -> int:
        return sum(node.cpus for node in self.nodes())

    def record(self) -> dict[str, Any]:
        return {"scheduler": f"ray {self.ray.__version__}", "address": self.address}

    def run(
        self,
        fn: Callable[[Any], Any],
        jobs: list[Any],
        *,
        num_cpus: float | list[float] = 1,
        resources: list[dict[str, float]] | None = None,
        runtime_env: list[dict[str, Any] | None] | None = None,
        nodes: list[str | None] | None = None,
        weights: list[int] | None = None,
        what: str = "tasks",
        on_done: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        """`fn(job)` for every job as a Ray task holding `num_cpus` (per job, optionally: CPUs, custom
        resources, a runtime_env, a node it must run on); the results in job order, with a progress bar
        weighted by `weights`; `on_done(index, result)` as each finishes."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        pending = {}
        for i, job in enumerate(jobs):
            cpus = num_cpus[i] if isinstance(num_cpus, list) else num_cpus
            options: dict[str, Any] = {"num_cpus": cpus, "max_retries": MAX_RETRIES}
            if resources and resources[i]:
                options["resources"] = resources[i]
            if runtime_env and runtime_env[i]:
                options["runtime_env"] = runtime_env[i]
            if nodes and nodes[i]:
                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(nodes[i], soft=False)
            pending[self._task.options(**options).remote(fn, job)] = i
        weights = weights or [1] * len(jobs)
        results: list[Any] = [None] * len(jobs)
        with progress() as bar:
            task = bar.add_task(what, total=sum(weights))
            while pending:
                done, _ = self.ray.wait(list(pending), num_returns=1, timeout=WAIT_LIMIT)
                if not done:  # a node gone, or none able to hold a task: never wait forever
                    for ref in pending:
                        self.ray.cancel(ref, force=True)
                    raise PoseforgeError(f"no {what} finished in {WAIT_LIMIT:.0f} s on the Ray cluster at "
                                         f"{self.address}: {len(pending)} still pending")  # fmt: skip
                i = pending.pop(done[0])
                results[i] = self._get(done[0], pending)
                bar.advance(task, weights[i])
                if on_done is not None:
                    on_done(i, results[i])
        return results

    def _get(self, ref: Any, pending: dict) -> Any:
        """A task's result; a failure is one line (the others are cancelled)."""
        from ray import exceptions

        try:
            return self.ray.get(ref)
        except exceptions.RayError as exc:
            for other in pending:
                self.ray.cancel(other, force=True)
            cause = getattr(exc, "cause", None)
            if isinstance(cause, PoseforgeError):
                raise PoseforgeError(str(cause)) from None
            if cause is not None:
                lines = [ln for ln in str(cause).splitlines() if ln.strip()]
                detail = lines[-1][:300] if lines else ""
                raise PoseforgeError(f"a Ray task failed: {type(cause).__name__}: {detail}") from None
            lines = [ln for ln in str(exc).splitlines() if ln.strip()]
            raise PoseforgeError(f"a Ray task failed after {MAX_RETRIES} retries: {type(exc).__name__}: "
                                 f"{lines[0][:300] if lines else ''}") from None  # fmt: skip


def check_address(address: str) -> None:
    """Refuse, in one line and within seconds, an address that is malformed or that nothing answers at."""
    if address in ("local", "auto"):
        return
    malformed = PoseforgeError(f"--ray {address}: expected local, auto, HOST:PORT or ray://HOST:PORT "
                               "(an IPv6 host in brackets: [::1]:PORT)")  # fmt: skip
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise malformed
    if ":" in host and not (host.startswith("[") and host.endswith("]")):  # ::1 or ::1:6379: which part is the port?
        raise malformed
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except UnicodeError:  # a host name no resolver takes (an empty or over-long label)
        raise malformed from None
    except OSError as exc:
        raise PoseforgeError(f"the Ray cluster at {address} cannot be reached: {exc.strerror or exc}") from None


@contextlib.contextmanager
def ray_cluster(address: str | None, command: str, cpus: int | None = None) -> Iterator[Cluster]:
    """Ray at `address` ("local" or None: started here with `cpus` CPUs, this machine's class as its
    label, and stopped at the end) for the length of the block. A Ray this process already runs
    (a test session's) is used as it is."""
    ray = import_ray(command)
    address = address or "local"
    if cpus and address != "local":
        raise PoseforgeError(f"--workers sets the CPUs of a local Ray; the cluster at {address} has its own")
    check_address(address)  # first: an address nothing answers at is refused even where a Ray runs here already
    if ray.is_initialized():
        yield Cluster(ray, address)
        return
    folder = tempfile.mkdtemp(prefix="pf-ray-") if address == "local" else None
    try:
        try:
            if folder is not None:
                # Ray's default (a local Ray asks its clients for a token) is kept; its notice of it is not printed.
                logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
                ray.init(num_cpus=cpus or usable_cores(), resources=node_resources(), _temp_dir=folder,
                         _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)  # fmt: skip
            else:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            where = "a local Ray could not be started" if folder else f"cannot join the Ray cluster at {address}"
            raise PoseforgeError(f"{where}: {first[:300]}") from None
        yield Cluster(ray, address)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
