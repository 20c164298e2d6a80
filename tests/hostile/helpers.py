"""What every hostile case asserts, in one place.

A refusal is: the exit code (1, or 2 for a usage error), exactly one stderr line starting
`poseforge: error:` (the last one; a progress bar drawn before it is the only other thing
allowed), the offending file or option named in it, no "Traceback" anywhere, and nothing
outside the command's own output changed (`snapshot` before and after).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import html
import http.server
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from poseforge.cli import main

# A rich progress bar as drawn on a stderr that is not a terminal: "name ━━━ 3/3 0:00:01 eta 0:00:00".
PROGRESS = re.compile(r"\d+/\S+\s+[\d:]+\s+eta\s")
ERROR = "poseforge: error:"


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def errors(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.startswith(ERROR)]


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Outcome:
    """`poseforge ARGS` in this process (fast: libraries stay imported); usage errors exit 2."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: usage errors and --help
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def run(*args: str | Path, timeout: float = 300, **kwargs: Any) -> Outcome:
    """`poseforge ARGS` in a fresh process, as a user runs it."""
    result = subprocess.run([sys.executable, "-m", "poseforge.cli", *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, **kwargs)  # fmt: skip
    return Outcome(result.returncode, result.stdout, result.stderr)


def refused(outcome: Outcome, *names: str | Path, code: int = 1) -> str:
    """Assert a clean refusal naming each of `names`; return its line."""
    everything = outcome.out + outcome.err
    assert "Traceback" not in everything, everything
    lines = [ln for ln in outcome.err.splitlines() if ln.strip()]
    others = [ln for ln in lines if not ln.startswith(ERROR) and not PROGRESS.search(ln)]
    assert outcome.code == code, f"exit {outcome.code}, expected {code}: {everything}"
    assert len(outcome.errors) == 1 and lines[-1] == outcome.errors[0] and not others, outcome.err
    line = outcome.errors[0]
    for name in names:
        assert str(name) in line, f"{name} not named in: {line}"
    assert "--debug or POSEFORGE_DEBUG" not in line, f"an unexpected exception leaked to the last resort: {line}"
    return line


def wrote(outcome: Outcome, *paths: str | Path) -> None:
    """Assert a success that says what it wrote."""
    assert outcome.code == 0 and "Traceback" not in outcome.out + outcome.err, outcome.out + outcome.err
    for path in paths:
        assert f"wrote {path}" in outcome.out, outcome.out


def snapshot(*roots: Path) -> dict[str, str]:
    """Every entry under `roots` (hidden ones too): a file's sha256, a link's target, a folder's name."""
    entries: dict[str, str] = {}
    for root in roots:
        if not root.exists() and not root.is_symlink():
            entries[str(root)] = "absent"
            continue
        for path in [root, *sorted(root.rglob("*"))] if root.is_dir() and not root.is_symlink() else [root]:
            if path.is_symlink():
                entries[str(path)] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                entries[str(path)] = "folder"
            elif not path.is_file():  # a FIFO or a device: never read (it would block)
                entries[str(path)] = f"special {oct(path.stat().st_mode)}"
            else:
                entries[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return entries


def edit_json(path: Path, change: Callable[[Any], Any]) -> Path:
    """Rewrite a JSON file with `change(data)` (which may edit in place and return None)."""
    data = json.loads(path.read_text())
    new = change(data)
    path.write_text(json.dumps(data if new is None else new))
    return path


def copied_reports(scored: Path, folder: Path) -> tuple[Path, Path]:
    """`scored`'s reports copied to `folder/reports`, the val report of ir-fp32 citing the copy's
    results: (the reports folder, that results file), for tests that then tamper with the copy."""
    reports = folder / "reports"
    shutil.copytree(scored / "reports", reports)
    results = reports / "results" / "ir-fp32-val.json"
    edit_json(reports / "ir-fp32-val.json", lambda report: report.update(results_file=str(results)))
    return reports, results


def members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def repack(path: Path, files: dict[str, bytes]) -> Path:
    """A bundle of `files`, framed exactly as poseforge frames bundles (members sorted by name,
    its tar and gzip headers) but stored uncompressed: quick."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    return path


def rehashed(files: dict[str, bytes], change: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, bytes]:
    """`files` (a bundle's members) with bundle.json changed by `change` and every file's sha256 and
    size in it recomputed: a forgery that every hash vouches for."""
    manifest = json.loads(files["bundle.json"])
    if change is not None:
        change(manifest)
    entry = {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in files.items()}
    manifest["files"] = {name: entry[name] for name in manifest["files"]}
    return {**files, "bundle.json": json.dumps(manifest, indent=1).encode()}


def edit_ir_metadata(xml: bytes, change: Callable[[dict[str, Any]], Any]) -> bytes:
    """An IR's .xml with its poseforge metadata (rt_info poseforge/metadata) changed by `change`."""
    match = re.search(rb'(<poseforge>\s*<metadata value=")([^"]*)(")', xml)
    assert match is not None, "no poseforge metadata in this IR"
    meta = json.loads(html.unescape(match.group(2).decode()))
    change(meta)
    value = html.escape(json.dumps(meta, sort_keys=True), quote=True).encode()
    return xml[: match.start(2)] + value + xml[match.end(2) :]


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "2m", read_only: bool = False) -> Iterator[Path]:
    """A small tmpfs of our own at `where` (root only), unmounted afterwards; skips if it cannot be mounted."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True,
                             text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount_read_only(where: Path) -> None:
    result = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot remount {where} read-only: {result.stderr.strip()}")


def fill(where: Path, leave: int = 0) -> None:
    """Fill the file system of `where` up to `leave` bytes of free space."""
    stats = os.statvfs(where)
    free = stats.f_bavail * stats.f_frsize
    with contextlib.suppress(OSError), open(where / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave, 0))


class Hang(BaseException):
    """Raised by `within` when a command blocks: not an Exception, so that main() cannot turn it into a line."""


@contextlib.contextmanager
def within(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block takes longer than `seconds`."""

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s: blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def bench_document(model_dir: Path, ratios: dict[str, float], images: int) -> dict[str, Any]:
    """A bench.json of `model_dir`'s IR FP32 as `poseforge bench` writes one, with these ratios (the
    hostile cases poison it; measuring one would cost a minute per fixture)."""
    from poseforge.artifacts import artifact_digest
    from poseforge.machine import machine_info
    from poseforge.metadata import toolchain_versions

    speed = {"latency_ms": {"median": 50.0, "p90": 55.0}, "throughput_fps": 20.0, "throughput_fps_by_round": [20.0],
             "precision_hint": "f32"}  # fmt: skip
    # The figures those ratios are computed from (validate.speed.targets.FIGURE_RATIOS).
    decode_ms = ratios.get("decode_over_latency", 0.05) * speed["latency_ms"]["median"]
    decode = {"ours_ms": {"median": decode_ms, "p90": decode_ms}, "reference_ms": {"median": 9.0, "p90": 9.0},
              "speedup": 9.0 / decode_ms, "ap_ours": 0.5, "ap_reference": 0.5}  # fmt: skip
    network = {"latency_ms": speed["latency_ms"], "throughput_fps": speed["throughput_fps"],
               "e2e_fps": ratios.get("e2e_over_throughput", 0.9) * speed["throughput_fps"]}  # fmt: skip
    return {
        "schema": "poseforge.bench/3",
        "model": model_dir.name,
        "artifacts": {"ir-fp32": artifact_digest(model_dir / "ir/fp32/model.xml")},
        "images": images,
        "ratios": ratios,
        "speed": {"ir-fp32": speed},
        "shape": [1, 3, 256, 456],
        "rounds": 1,
        "threads": 2,
        "host": {"load_average": [], "other_cpu_share": 0.0, "loaded": False},
        "figures": {"deploy": decode, "network": network},
        "machine": machine_info(),
        "versions": toolchain_versions(),
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # as a proxy, self.path is the whole URL; a file is found by its last part
        self.server.answer(self, self.path.rsplit("/", 1)[-1])

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Callable[[http.server.BaseHTTPRequestHandler, str], None]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that stops reading (refused, timed out) is what these tests make happen


def serve_files(files: dict[str, bytes]) -> Callable[[http.server.BaseHTTPRequestHandler, str], None]:
    """An answer: the file of that name with its Content-Length, or 404."""

    def answer(request: http.server.BaseHTTPRequestHandler, name: str) -> None:
        if name not in files:
            request.send_error(404)
            return
        request.send_response(200)
        request.send_header("Content-Length", str(len(files[name])))
        request.end_headers()
        request.wfile.write(files[name])

    return answer


@contextlib.contextmanager
def http_server(answer: Callable[[http.server.BaseHTTPRequestHandler, str], None]) -> Iterator[str]:
    """A server on 127.0.0.1 (never the network) answering every GET with `answer(request, last part of the
    URL)`; yields its URL. Given as HTTP_PROXY to a child process, it stands in for every http:// server."""
    server = _Server(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def proxy_env(proxy: str, data: Path) -> dict[str, str]:
    """The environment of a child `poseforge` whose http:// downloads all go to `proxy`."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    return {**env, "POSEFORGE_DATA": str(data), "HTTP_PROXY": proxy, "HTTPS_PROXY": "http://127.0.0.1:9"}
