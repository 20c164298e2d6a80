"""Every JSON document poseforge reads or writes, declared once, with its safe reader.

    report = read_document(path, REPORT)     # parsed within limits, checked, or PoseforgeError
    write_document(path, REPORT, report)     # checked the same way, then written atomically

Parsing is bounded (file size, nesting depth, digits of an integer; NaN and Infinity are not
JSON and are refused; so is an object holding a key twice, which parsers read differently),
and each document's shape is declared below with a handful of small checkers: a field that
is missing, of the wrong type or out of range is an error naming the file and the field
(`reports/ir-int8-val.json: field accuracy.ir-fp32.val.ap: ...`). A writer checks what it
writes against the same declaration, so poseforge never writes a document that it would
refuse to read. Standard library only: every part of poseforge may import it.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poseforge.errors import PoseforgeError

MAX_DEPTH = 32  # poseforge's documents nest a few levels; COCO's polygons five
MAX_INT_DIGITS = 30
MAX_STRING = 1 << 20
MAX_ITEMS = 10_000_000  # entries of one array or object (val2017's results hold ~100k)


class FieldError(ValueError):
    """A checker's complaint: the dotted field and what is wrong with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field or '(top level)'}: {problem}")


Check = Callable[[Any, str], Any]  # (value, field path) -> the value, or raises FieldError


def same_figure(recorded: float, recomputed: float) -> bool:
    """A file's figure equals the one recomputed from its own data, up to float rounding."""
    return abs(recorded - recomputed) <= 1e-9 * max(abs(recorded), abs(recomputed), 1.0)


# --- safe parsing -----------------------------------------------------------------------------
def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits (more than {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _depth(data: Any) -> int:
    """Nesting depth, iteratively (a recursive walk is what a hostile document would exploit)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _not_a(path: Path, what: str, mode: int) -> PoseforgeError:
    """What is at `path` instead of a regular file (`mode` from its stat)."""
    kind = f"{'an' if what[:1].lower() in 'aeiou' else 'a'} {what}"
    if stat.S_ISDIR(mode):
        return PoseforgeError(f"{path} is a directory, not {kind}")
    return PoseforgeError(f"{path} is not a regular file (a pipe or a device), not {kind}")


def regular_file(path: str | Path, what: str) -> Path:
    """`path` if it is a regular file (or a link to one), else one line saying what is there instead:
    nothing, a directory, a pipe or a device (never opened: a FIFO would block)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PoseforgeError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise PoseforgeError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise _not_a(path, what, mode)
    return path


def read_bytes(path: str | Path, what: str, max_bytes: int) -> bytes:
    """The bytes of `path`, refusing anything but a regular file of at most `max_bytes`; any problem
    is a one-line PoseforgeError naming the file. The size is checked before anything is read (or
    hashed by the caller)."""
    path = Path(path)
    try:
        # Non-blocking: a FIFO planted under a document's name must not make poseforge wait forever.
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            stats = os.fstat(f.fileno())
            if not stat.S_ISREG(stats.st_mode):
                raise _not_a(path, what, stats.st_mode)
            size = stats.st_size
            if size > max_bytes:
                raise PoseforgeError(f"{path} is {size} bytes: larger than any {what} ({max_bytes} bytes at most)")
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise PoseforgeError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise _not_a(path, what, stat.S_IFDIR) from None
    except OSError as exc:
        raise PoseforgeError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise PoseforgeError(f"{path} is larger than any {what} ({max_bytes} bytes at most)")
    return raw


def parse_json(path: str | Path, what: str, max_bytes: int) -> Any:
    """JSON from `path`, refusing files over `max_bytes`, deeper than MAX_DEPTH, with huge
    integers, non-finite numbers or a key given twice; any problem is a one-line PoseforgeError
    naming the file."""
    return loads(read_bytes(path, what, max_bytes), what, path)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members, refusing a key given twice: JSON parsers disagree on which one wins
    (Python's keeps the last), so a document that says two things is refused, not read one way."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"the key {key[:60]!r} appears twice in one object")
            seen.add(key)
    return data


def loads(raw: bytes | str, what: str, where: str | Path) -> Any:
    """JSON from bytes or text (a metadata string inside a model, say) under the same limits."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant,
                          object_pairs_hook=_unique_keys)  # fmt: skip
    except UnicodeDecodeError:
        raise PoseforgeError(f"{where} is not a valid {what}: not UTF-8 text") from None
    except RecursionError:
        raise PoseforgeError(f"{where} is not a valid {what}: nested deeper than {MAX_DEPTH} levels") from None
    except _DuplicateKey as exc:
        raise PoseforgeError(f"{where} is not a valid {what}: {exc}") from None
    except ValueError as exc:
        raise PoseforgeError(f"{where} is not a valid {what} ({str(exc).splitlines()[0][:200]})") from None
    if _depth(data) > MAX_DEPTH:
        raise PoseforgeError(f"{where} is not a valid {what}: nested deeper than {MAX_DEPTH} levels")
    return data


# --- checkers -----------------------------------------------------------------------------------
def _name(value: Any) -> str:
    kind = "boolean" if isinstance(value, bool) else type(value).__name__
    shown = repr(value)
    return f"{kind} {shown[:40]}{'...' if len(shown) > 40 else ''}"


def number(low: float = -math.inf, high: float = math.inf, *, integer: bool = False, above: bool = False) -> Check:
    """A JSON number (never a boolean) within [low, high]; `above` makes low exclusive."""

    def check(value: Any, field: str) -> Any:
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            raise FieldError(field, f"expected {'an integer' if integer else 'a number'}, got {_name(value)}")
        if not math.isfinite(value) or value < low or value > high or (above and value == low):
            bound = f"{'>' if above else '>='} {low}" if high == math.inf else f"in [{low}, {high}]"
            raise FieldError(field, f"expected a number {bound}, got {value}")
        return value

    return check


def integer(low: float = -math.inf, high: float = math.inf) -> Check:
    return number(low, high, integer=True)


def boolean() -> Check:
    def check(value: Any, field: str) -> Any:
        if not isinstance(value, bool):
            raise FieldError(field, f"expected true or false, got {_name(value)}")
        return value

    return check


def string(choices: tuple[str, ...] | None = None, pattern: str | None = None, max_len: int = MAX_STRING) -> Check:
    regex = re.compile(pattern) if pattern else None

    def check(value: Any, field: str) -> Any:
        if not isinstance(value, str):
            raise FieldError(field, f"expected a string, got {_name(value)}")
        if len(value) > max_len:
            raise FieldError(field, f"a string of {len(value)} characters (at most {max_len})")
        if choices is not None and value not in choices:
            raise FieldError(field, f"expected one of {', '.join(choices)}, got {value[:40]!r}")
        if regex is not None and not regex.fullmatch(value):
            raise FieldError(field, f"{value[:60]!r} is not of the form {pattern}")
        return value

    return check


def const(expected: Any) -> Check:
    def check(value: Any, field: str) -> Any:
        if value != expected or type(value) is not type(expected):
            raise FieldError(field, f"expected {expected!r}, got {_name(value)}")
        return value

    return check


def nullable(inner: Check) -> Check:
    def check(value: Any, field: str) -> Any:
        return None if value is None else inner(value, field)

    return check


def array(item: Check | None = None, min_len: int = 0, max_len: int = MAX_ITEMS) -> Check:
    def check(value: Any, field: str) -> Any:
        if not isinstance(value, list):
            raise FieldError(field, f"expected a list, got {_name(value)}")
        if not min_len <= len(value) <= max_len:
            size = f"exactly {min_len}" if min_len == max_len else f"{min_len} to {max_len}"
            raise FieldError(field, f"a list of {len(value)} entries, expected {size}")
        if item is not None:
            for i, entry in enumerate(value):
                item(entry, f"{field}[{i}]")
        return value

    return check


def obj(required: dict[str, Check] | None = None, optional: dict[str, Check] | None = None) -> Check:
    """A JSON object with these keys (others are allowed and ignored: documents grow)."""
    required, optional = required or {}, optional or {}

    def check(value: Any, field: str) -> Any:
        if not isinstance(value, dict):
            raise FieldError(field, f"expected an object, got {_name(value)}")
        for key, inner in required.items():
            if key not in value:
                raise FieldError(_join(field, key), "missing")
            inner(value[key], _join(field, key))
        for key, inner in optional.items():
            if key in value:
                inner(value[key], _join(field, key))
        return value

    return check


def mapping(values: Check, keys: Check | None = None, min_len: int = 0, max_len: int = MAX_ITEMS) -> Check:
    """A JSON object used as a map: every value checked by `values`, every key by `keys`."""

    def check(value: Any, field: str) -> Any:
        if not isinstance(value, dict):
            raise FieldError(field, f"expected an object, got {_name(value)}")
        if not min_len <= len(value) <= max_len:
            raise FieldError(field, f"{len(value)} entries, expected {min_len} to {max_len}")
        for key, entry in value.items():
            if keys is not None:
                keys(key, _join(field, key))
            values(entry, _join(field, key))
        return value

    return check


def all_of(*checks: Check) -> Check:
    def check(value: Any, field: str) -> Any:
        for inner in checks:
            inner(value, field)
        return value

    return check


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else str(key)


# --- shared pieces ----------------------------------------------------------------------------------
SHA256 = string(pattern=r"[0-9a-f]{64}")
NAME = string(pattern=r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # an artifact, model or file name: no path
PROTOCOL_KEY = string(pattern=r"[a-z]{1,20}(@[1-9][0-9]{0,3})?")  # artifacts.protocol_key: val, native@320
FILE_NAME = string(pattern=r"[^/\\\x00]{1,255}")
SHAPE_SIDE_MAX = 4096  # the exported graphs admit H and W up to this
FRACTION = number(0.0, 1.0)
NONNEG = number(0.0)
POSITIVE = number(0.0, above=True)
MS = obj({"median": NONNEG, "p90": NONNEG})
# The machine class (poseforge.machine) is what speed and INT8/bf16 numerics are facts about.
MACHINE_CLASS = string(pattern=r"[a-z0-9][a-z0-9-]{0,63}")
MACHINE = obj(
    {
        "cpu": string(max_len=400),
        "cores": nullable(integer(1)),
        "isa": array(string(max_len=40)),
        "class": MACHINE_CLASS,
        "tier": MACHINE_CLASS,
    },
    {"native_tier": MACHINE_CLASS, "isa_cap": nullable(string(max_len=40))},
)
VERSIONS = mapping(string(max_len=200), max_len=100)
NOTES = array(string(max_len=2000), max_len=100)
METRICS = ("ap", "ap50", "ap75", "ap_medium", "ap_large", "ar", "ar50", "ar75", "ar_medium", "ar_large")


def multiple_of_8_side() -> Check:
    inner = integer(8, SHAPE_SIDE_MAX)

    def check(value: Any, field: str) -> Any:
        inner(value, field)
        if value % 8:
            raise FieldError(field, f"expected a multiple of 8, got {value}")
        return value

    return check


SIDE = multiple_of_8_side()
DEPLOY_SHAPE = array(SIDE, 2, 2)


def _ordered(value: Any, field: str) -> Any:
    """An interval's bounds in order. Its point estimate is not required to lie between them: a
    percentile bootstrap interval need not contain the full-sample figure (on a few images it can
    fall outside)."""
    if value["low"] > value["high"]:
        raise FieldError(field, f"low {value['low']} is above high {value['high']}")
    return value


def interval(max_resamples: float = math.inf) -> Check:
    return all_of(
        obj(
            {"low": number(-1.0, 1.0), "high": number(-1.0, 1.0), "level": FRACTION,
             "resamples": integer(1, max_resamples)},
            {"seed": integer(0), "estimate": number(-1.0, 1.0)},
        ),
        _ordered,
    )  # fmt: skip


INTERVAL = interval()
# The most resamples a report's intervals hold: every reader bootstraps them again from the report's
# results (compare.rederived: about 0.5 s per 1000 resamples on coco-val's 138 images).
MAX_REPORT_RESAMPLES = 10_000
REPORT_INTERVAL = interval(MAX_REPORT_RESAMPLES)


@dataclass(frozen=True)
class Document:
    """A kind of JSON document: what it is called, its schema tag, its shape and its size limit."""

    what: str  # "report", "baseline", ...: how errors name it
    schema: str | None  # the value of its "schema" key (None: a foreign format, e.g. COCO)
    check: Check
    max_bytes: int = 16 << 20
    # A document the user keeps (committed, tolerances edited by hand) and a command updates on
    # purpose after reading it: replaced when it is a valid one of its kind, not only when poseforge's
    # record holds it (fileio's rule for every other output).
    kept_by_user: bool = False


def check_document(data: Any, doc: Document, path: str | Path) -> Any:
    """`data` if it is a `doc`; else a PoseforgeError naming the file and the field."""
    if doc.schema is not None:
        if not isinstance(data, dict):
            raise PoseforgeError(f"{path} is not a poseforge {doc.what}: not a JSON object")
        if data.get("schema") != doc.schema:
            got = data.get("schema")
            detail = f"schema {got!r}" if isinstance(got, str) else "no schema"
            raise PoseforgeError(f"{path} is not a poseforge {doc.what} ({doc.schema}): {detail}")
    try:
        doc.check(data, "")
    except FieldError as exc:
        raise PoseforgeError(f"{path}: {doc.what} {exc}") from None
    return data


def read_document(path: str | Path, doc: Document) -> Any:
    """Parse `path` safely and check it is a `doc`."""
    return check_document(parse_json(path, doc.what, doc.max_bytes), doc, path)


def write_document(path: str | Path, doc: Document, data: Any, older: Callable[[Path], bool] | None = None) -> Path:
    """Check `data` against `doc` (non-finite numbers become null first), then write it atomically.
    A kept_by_user document replaces a valid one of its kind, or one `older` accepts (an earlier
    schema the command has just read and upgraded)."""
    from poseforge.fileio import finite_json, write_json

    def owned(existing: Path) -> bool:
        return _is_document(existing, doc) or (older is not None and older(existing))

    data = finite_json(data)
    check_document(data, doc, path)
    return write_json(path, data, owned=owned if doc.kept_by_user else None)


def _is_document(path: Path, doc: Document) -> bool:
    try:
        read_document(path, doc)
    except PoseforgeError:
        return False
    return True


# --- the documents --------------------------------------------------------------------------------------
def _decoder(value: Any, field: str) -> Any:
    """Decoder parameters: exactly DecoderParams' fields, within the bounds it declares."""
    import dataclasses

    from poseforge.decode.params import DecoderParams

    if not isinstance(value, dict):
        raise FieldError(field, f"expected an object, got {_name(value)}")
    known = {f.name for f in dataclasses.fields(DecoderParams)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise FieldError(field, f"unknown decoder parameter(s) {', '.join(map(str, unknown))[:200]}")
    try:
        DecoderParams(**value)
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None
    return value


DECODER = _decoder

SPEED_BLOCK = obj(
    {
        "shape": array(integer(1, SHAPE_SIDE_MAX), 4, 4),
        "latency_ms": MS,
        "throughput_fps": POSITIVE,
        "e2e_fps": POSITIVE,
        "throughput_settings": obj(),
        "latency_settings": obj(),
    },
    {"machine": MACHINE, "decode_deploy_ms": obj()},
)

SPEED = Document(
    "speed file", "poseforge.speed/1", all_of(SPEED_BLOCK, obj({"artifact": NAME, "artifact_sha256": SHA256}))
)

DATASET = obj(
    {
        "name": string(max_len=200),
        "annotations": string(max_len=4096),
        "annotations_sha256": SHA256,
        "image_ids_sha256": SHA256,
        "images_total": integer(1),
        "people": integer(0),
    },
    {"limit": nullable(integer(1))},
)

# A run's agreement with the FP32 IR (validate.accuracy.agreement): its poses scored against the
# FP32 IR's own poses under the same protocol, on the same images, and what it was scored against.
AGREEMENT_FIELD = obj(
    {
        "ap": FRACTION,
        "interval": REPORT_INTERVAL,
        "people": integer(1),  # reference people counted
        "reference": obj({"artifact": NAME, "report": FILE_NAME, "artifact_sha256": SHA256, "results_sha256": SHA256}),
        "rule": string(max_len=1000),
    }
)


def _height_of_native(value: Any, field: str) -> Any:
    """An input height belongs to the native protocol: val and deploy run at heights of their own."""
    if value.get("input_height") is not None and value["protocol"] != "native":
        raise FieldError(_join(field, "input_height"), f"given for protocol {value['protocol']!r}: only native has one")
    return value


REPORT = Document(
    "report",
    "poseforge.report/2",
    all_of(
        obj(
            {
                "artifact": NAME,
                "model": NAME,
                "protocol": NAME,
                "images": integer(1),
                "subset": boolean(),
                "skipped_images": array(FILE_NAME),
                **{metric: FRACTION for metric in METRICS},
                "latency_ms": nullable(MS),
                "throughput_fps": nullable(POSITIVE),
                "decode_ms": nullable(NONNEG),
                "e2e_fps": nullable(POSITIVE),
                "threads": nullable(integer(1)),
                "precision_hint": nullable(string(max_len=20)),
                "machine": MACHINE,
                "versions": VERSIONS,
                "runtime": obj(),
                "speed": nullable(SPEED_BLOCK),
                "artifact_file": string(max_len=4096),
                "artifact_sha256": SHA256,
                "size_mb": NONNEG,
                "dataset": DATASET,
                "decoder": DECODER,
                "notes": NOTES,
                "results_file": string(max_len=4096),
                "results_sha256": SHA256,
                "interval": nullable(REPORT_INTERVAL),
            },
            # The native protocol's input height (artifacts.protocol_key); absent or null: the deploy height.
            {
                "provenance": obj(),
                "input_height": nullable(SIDE),
                "agreement": nullable(AGREEMENT_FIELD),
                # `validate --ray`: where the shards ran (the results are the bytes one process writes)
                "cluster": obj(
                    {"scheduler": string(max_len=40), "shards": integer(1), "workers": integer(1), "nodes": integer(1)}
                ),
            },
        ),
        _height_of_native,
    ),
)

RESULTS = Document(
    "COCO keypoint results file",
    None,
    array(
        obj(
            {
                "image_id": integer(0),
                "category_id": integer(0),
                "keypoints": array(number(), 51, 51),
                "score": number(),
            }
        )
    ),
    max_bytes=1 << 30,
)

SPEED_ROW = obj(
    {
        "latency_ms": MS,
        "throughput_fps": POSITIVE,
        "throughput_fps_by_round": array(POSITIVE, 1),
        "precision_hint": nullable(string(max_len=20)),
    }
)
LOAD = obj(
    {
        "load_average": array(array(NONNEG, 3, 3), max_len=1000),  # 1, 5 and 15 min, sampled per round
        "other_cpu_share": nullable(number(0.0, 1.0)),  # of the machine's CPU time, used by other processes
        "loaded": boolean(),
    }
)
HEIGHT_ROW = obj(
    {
        "shape": array(integer(1, SHAPE_SIDE_MAX), 4, 4),
        "latency_ms": MS,
        "throughput_fps": POSITIVE,
        "throughput_fps_by_round": array(POSITIVE, 1),
        "throughput_over_default": POSITIVE,
    }
)
HEIGHT_KEY = string(pattern=r"[1-9][0-9]{1,3}")  # an input height, as a JSON key
# What every file of interleaved rounds holds (bench, tiers, fleet): the model, each run's artifact digest
# as measured, the input shape, the rounds and the machine that ran them.
INTERLEAVED_RUN = {
    "model": NAME,
    "artifacts": mapping(SHA256, NAME, min_len=1),  # run name -> artifact_digest, as measured
    "shape": array(integer(1, SHAPE_SIDE_MAX), 4, 4),
    "rounds": integer(1),
    "machine": MACHINE,
}
# What the bench's figures hold that its ratios are computed from (validate.speed.targets.FIGURE_RATIOS);
# each part is there when the ratios computed from it are.
POSITIVE_MS = obj({"median": POSITIVE, "p90": POSITIVE})
DECODE_FIGURES = obj({"ours_ms": POSITIVE_MS, "reference_ms": POSITIVE_MS, "speedup": POSITIVE, "ap_ours": FRACTION,
                      "ap_reference": FRACTION})  # fmt: skip
BENCH_FIGURES = obj(
    optional={
        "val": DECODE_FIGURES,
        "deploy": DECODE_FIGURES,
        "network": obj({"latency_ms": POSITIVE_MS, "throughput_fps": POSITIVE, "e2e_fps": POSITIVE}),
    }
)
BENCH = Document(
    "bench file",
    "poseforge.bench/3",
    obj(
        {
            **INTERLEAVED_RUN,
            "images": integer(1),
            "ratios": mapping(POSITIVE, NAME, min_len=1),  # names: validate.speed.targets
            "speed": mapping(SPEED_ROW, NAME, min_len=1),  # run name -> its figures from the interleaved rounds
            "threads": nullable(integer(1)),
            "host": LOAD,
            "figures": BENCH_FIGURES,
            "versions": VERSIONS,
        },
        # The height table's speed: artifact -> height -> its figures at that height's native shape of `frame`.
        {
            "heights": obj(
                {
                    "frame": array(integer(1, 100_000), 2, 2),
                    "default_height": SIDE,
                    "runs": mapping(mapping(HEIGHT_ROW, HEIGHT_KEY, min_len=1, max_len=64), NAME, max_len=64),
                }
            )
        },
    ),
)

# Each run's throughput and latency, measured in interleaved rounds (tiers and fleet benches).
RUN_SPEEDS = mapping(
    obj({"throughput_fps": POSITIVE, "throughput_fps_by_round": array(POSITIVE, 1), "latency_ms": MS}), NAME, min_len=1
)
TIER_ENTRY = obj(
    {
        "class": MACHINE_CLASS,
        "emulated": boolean(),
        "speed": RUN_SPEEDS,
        "ratios": mapping(POSITIVE, NAME),
        "accuracy": mapping(obj({"ap": FRACTION, "interval": nullable(INTERVAL)}), NAME),
        "differences": mapping(obj({"ap": number(-1.0, 1.0), "low": number(-1.0, 1.0), "high": number(-1.0, 1.0)}),
                               string(max_len=100)),
    }
)  # fmt: skip
TIERS = Document(
    "tiers file",
    "poseforge.tiers/1",
    obj(
        {
            **INTERLEAVED_RUN,
            "tiers": mapping(TIER_ENTRY, MACHINE_CLASS, min_len=1),
        },
        {"dataset": nullable(DATASET)},
    ),
)

FLEET_ENTRY = obj(
    {
        "machine": MACHINE,
        "host": string(max_len=255),
        "emulated": boolean(),
        "speed": RUN_SPEEDS,
        "ratios": mapping(POSITIVE, NAME),
    }
)
FLEET = Document(
    "fleet bench file",
    "poseforge.fleet/1",
    obj(
        {
            **INTERLEAVED_RUN,
            "scheduler": obj(),
            "classes": mapping(FLEET_ENTRY, MACHINE_CLASS, min_len=1),
        }
    ),
)


def _sweep_row(value: Any, field: str) -> Any:
    """A finished row (SWEEP_RESULT), or one that failed: its name and one-line error."""
    if "error" in value:
        return string(max_len=2000)(value["error"], f"{field}.error")
    return SWEEP_RESULT(value, field)


SWEEP_RESULT = obj(
    {
        "key": SHA256,
        "name": string(max_len=200),
        "settings": obj(),
        "chosen_on": obj({"name": string(max_len=255), "images": integer(1), "overlaps_validation": boolean()}),
        "scored_on": obj({"name": string(max_len=255), "people": integer(0), "images": integer(1)}),
        "ap": FRACTION,
        "interval": nullable(INTERVAL),
        "difference": obj({"ap": number(-1.0, 1.0), "low": number(-1.0, 1.0), "high": number(-1.0, 1.0)}),
        "throughput_fps": POSITIVE,
        "fp32_throughput_fps": POSITIVE,
        "over_fp32": POSITIVE,
        "heatmap_peak_retention": nullable(NONNEG),
        "machine": MACHINE,
    },
    {
        # agreement with the FP32 IR on the scored set (rows cached before it was measured have none)
        "agreement": nullable(obj({"ap": FRACTION, "low": FRACTION, "high": FRACTION, "people": integer(1)})),
        # each run's throughput in every speed round (rows cached before rounds were measured have none)
        "throughput_fps_by_round": mapping(array(POSITIVE, 1, 100), NAME, min_len=1, max_len=2),
    },
)
SWEEP_ROW = Document("sweep row", "poseforge.sweep-row/1", obj({"row": SWEEP_RESULT}))
SWEEP = Document(
    "sweep table",
    "poseforge.sweep/1",
    obj(
        {
            "fp32": obj({"sha256": SHA256, "ap": FRACTION, "interval": nullable(INTERVAL)}),
            "scored_on": DATASET,
            "rows": array(all_of(obj({"key": SHA256, "name": string(max_len=200)}), _sweep_row), max_len=1000),
        }
    ),
)

BASELINE_ENTRY = obj({"ap": FRACTION, "tolerance": number(0.0, 1.0), "images": integer(1)}, {"provenance": obj()})
BASELINE_ACCURACY = mapping(mapping(BASELINE_ENTRY, PROTOCOL_KEY, min_len=1), NAME)
BASELINE_RATIO = obj(
    {
        "expected": POSITIVE,
        "tolerance": number(0.0, 10.0),
        "better": string(("higher", "lower")),
        "artifacts": mapping(SHA256, NAME, min_len=1),  # the bytes it was measured on
    }
)
# `poseforge agreement -o`: each run's agreement with the FP32 IR, per protocol or image folder.
AGREEMENT_TABLE = obj(
    {
        "protocol": NAME,
        "images": integer(1),
        "people": integer(1),
        "reference": NAME,
        "rule": string(max_len=1000),
        "runs": mapping(INTERVAL, string(max_len=4096), min_len=1),
        "differences": mapping(INTERVAL, string(max_len=8200)),
    },
    {"model": NAME, "image_set": string(max_len=200), "folder": string(max_len=4096), "images_sha256": SHA256,
     "left_out": integer(0), "left_out_because": array(string(max_len=4096))},
)  # fmt: skip
AGREEMENT = Document(
    "agreement file", "poseforge.agreement/1", obj({"model": NAME, "tables": array(AGREEMENT_TABLE, 1)}), 1 << 20
)

BASELINE_AGREEMENT = obj(
    {"agreement": FRACTION, "tolerance": number(0.0, 1.0), "images": integer(1), "people": integer(1)},
    {"provenance": obj()},
)
BASELINE = Document(
    "baseline",
    "poseforge.baseline/3",
    obj(
        {
            "model": NAME,
            "dataset": obj(
                {"annotations_sha256": SHA256, "image_ids_sha256": SHA256, "images": integer(1)},
                {"name": string(max_len=200), "people": integer(0)},
            ),
            # Exact artifacts (the same AP on every machine class).
            "accuracy": mapping(mapping(BASELINE_ENTRY, PROTOCOL_KEY, min_len=1), NAME, min_len=1),
            # Per machine class: what its kernels decide (INT8 and bf16 AP, speed ratios).
            "classes": mapping(
                obj(
                    {"machine": MACHINE, "accuracy": BASELINE_ACCURACY, "ratios": mapping(BASELINE_RATIO, NAME)},
                    # Agreement with the FP32 IR of INT8 and bf16 runs: run -> protocol -> entry.
                    {"agreement": mapping(mapping(BASELINE_AGREEMENT, PROTOCOL_KEY, min_len=1), NAME)},
                ),
                MACHINE_CLASS,
                min_len=1,
            ),
        }
    ),
    max_bytes=1 << 20,
    kept_by_user=True,  # `poseforge baseline` rewrites the committed baselines/<model>.json, keeping its tolerances
)

KEYPOINT_OUTPUTS = obj(
    {
        "heatmaps": obj({"name": string(max_len=200), "channels": const(19)}),
        "pafs": obj({"name": string(max_len=200), "channels": const(38)}),
    }
)
NORMALIZATION = obj({"scale": array(number(-1e6, 1e6), 3, 3), "shift": array(number(-1e6, 1e6), 3, 3)})
# Architecture options an artifact (or checkpoint) may carry: bounded before anything is built.
MAX_REFINEMENT_STAGES = 8
CONFIG = obj(optional={"num_refinement_stages": integer(0, MAX_REFINEMENT_STAGES)})

METADATA = Document(
    "poseforge metadata",
    None,
    obj(
        {
            "model": NAME,
            "config": CONFIG,
            "input": obj({"name": string(max_len=200), "deploy_shape": DEPLOY_SHAPE, "size_multiple": const(8)}),
            "normalization": obj({"formula": string(max_len=400)}),
            "outputs": KEYPOINT_OUTPUTS,
            "keypoints": obj(),
            "source": obj(),
        },
        {"artifact": NAME, "precision": NAME, "notes": NOTES},
    ),
    max_bytes=4 << 20,
)

# --- bundles: bundle.json, its signature, and the metadata of the network inside ------------------------------------
BUNDLE_PRECISION = string(("fp32", "fp16", "int8"))
SOURCE_IR = obj({"artifact": NAME, "file": FILE_NAME, "sha256": SHA256})
ACCURACY_CLAIM = obj(
    {
        **{metric: FRACTION for metric in ("ap", "ap50", "ap75", "ar")},
        "interval": nullable(INTERVAL),
        "image_set": string(max_len=200),
        "images": integer(1),
        "people": integer(0),
        "subset": boolean(),
        "annotations_sha256": SHA256,
        "precision_hint": nullable(string(max_len=20)),
        "threads": nullable(integer(1)),
        "machine": MACHINE,
        "report_created": nullable(string(max_len=40)),
    },
    {"agreement": AGREEMENT_FIELD},  # where the report has one (not the FP32 IR's own)
)
SPEED_CLAIM = obj(
    {
        "shape": array(integer(1, SHAPE_SIDE_MAX), 4, 4),
        "latency_ms": MS,
        "throughput_fps": POSITIVE,
        "e2e_fps": POSITIVE,
        "precision_hint": nullable(string(max_len=20)),
        "threads": nullable(integer(1)),
        "streams": nullable(integer(1)),
        "runtime": string(max_len=200),
        "machine": nullable(MACHINE),
    }
)
MAX_NATIVE_HEIGHTS = 8  # native reports at other input heights a bundle carries
BUNDLE_FILES = mapping(obj({"sha256": SHA256, "bytes": integer(0)}), FILE_NAME, min_len=1, max_len=16)
BUNDLE = Document(
    "bundle.json",
    "poseforge.bundle/2",
    obj(
        {
            "model": NAME,
            "precision": BUNDLE_PRECISION,
            "artifact": NAME,
            "source_ir": SOURCE_IR,
            "input": obj(
                {
                    "name": string(max_len=200),
                    "dtype": const("uint8"),
                    "layout": const("NHWC"),
                    "deploy_shape": DEPLOY_SHAPE,
                    "size_multiple": const(8),
                }
            ),
            "normalization": obj(),
            "outputs": KEYPOINT_OUTPUTS,
            "keypoints": obj({"names": array(string(max_len=40), 18, 18)}),
            "decoder": DECODER,
            "measured": obj(
                {"artifact": NAME, "val": ACCURACY_CLAIM, "deploy": ACCURACY_CLAIM, "speed": SPEED_CLAIM},
                {
                    "native": ACCURACY_CLAIM,
                    # The native protocol at other input heights (artifacts.protocol_key): height -> accuracy.
                    "native_heights": mapping(ACCURACY_CLAIM, HEIGHT_KEY, min_len=1, max_len=MAX_NATIVE_HEIGHTS),
                    # The same IR validated under other precision hints (bf16 where the CPU runs it natively).
                    "hints": mapping(
                        obj({"val": ACCURACY_CLAIM, "deploy": ACCURACY_CLAIM, "speed": SPEED_CLAIM}),
                        string(max_len=20),
                        max_len=4,
                    ),
                },
            ),
            "versions": VERSIONS,
            "source": obj(
                {
                    "checkpoint_sha256": nullable(string(max_len=200)),
                    "kind": nullable(string(max_len=200)),
                    "file": nullable(string(max_len=4096)),
                    "license": nullable(string(max_len=400)),
                    "notice": string(max_len=4000),
                }
            ),
            "notes": NOTES,
            "files": BUNDLE_FILES,
        }
    ),
    max_bytes=1 << 20,
)

# bundle.sig: an Ed25519 signature over bundle.json (poseforge.bundle.signature), base64.
SIGNATURE = Document(
    "bundle signature",
    "poseforge.signature/1",
    obj(
        {
            "algorithm": const("ed25519"),
            "public_key": string(pattern=r"[A-Za-z0-9+/]{43}="),  # 32 bytes
            "signature": string(pattern=r"[A-Za-z0-9+/]{86}=="),  # 64 bytes
        }
    ),
    max_bytes=4096,
)

# The metadata of a bundle's own IR: what bundle.json repeats must be there to be checked against.
BUNDLE_IR_METADATA = Document(
    "bundle IR metadata",
    None,
    all_of(
        METADATA.check,
        obj(
            {
                "artifact": NAME,
                "precision": BUNDLE_PRECISION,
                "source_ir": SOURCE_IR,
                "decoder": DECODER,
                "source": obj({"notice": string(max_len=4000)}),
                "keypoints": obj(
                    {
                        "keypoint_names": array(string(max_len=40), 18, 18),
                        "skeleton": array(array(integer(0, 17), 2, 2), max_len=100),
                        "limbs": array(array(integer(0, 17), 2, 2), 1, 100),
                        "limb_paf_channels": array(array(integer(0, 37), 2, 2), 1, 100),
                        "coco_keypoint_names": array(string(max_len=40), max_len=100),
                        "openpose_to_coco": array(integer(-1, 16), max_len=100),
                        "stride": integer(1, 64),
                    }
                ),
                "versions": VERSIONS,
            },
            {"notes": NOTES},
        ),
    ),
    max_bytes=4 << 20,
)

PREDICT = Document(
    "predict summary",
    "poseforge.predict/2",
    obj({"files": array(FILE_NAME, max_len=MAX_ITEMS), "frames": integer(0), "people": integer(0)}),
    max_bytes=256 << 20,
)

COCO_KEYPOINTS = 17
COCO_ANNOTATIONS = Document(
    "COCO annotation file",
    None,
    obj(
        {
            "images": array(
                obj(
                    {
                        "id": integer(0),
                        "file_name": FILE_NAME,
                        "width": integer(1, 100_000),
                        "height": integer(1, 100_000),
                    }
                )
            ),
            "annotations": array(
                obj(
                    {
                        "image_id": integer(0),
                        "category_id": integer(0),
                        "keypoints": array(number(), 3 * COCO_KEYPOINTS, 3 * COCO_KEYPOINTS),
                        "num_keypoints": integer(0, COCO_KEYPOINTS),
                        "area": NONNEG,
                        "iscrowd": integer(0, 1),
                        "bbox": array(number(), 4, 4),
                    },
                    {"id": integer(0)},
                )
            ),
            "categories": array(obj({"id": integer(0), "name": string(max_len=200)}), 1),
        }
    ),
    max_bytes=1 << 30,
)
