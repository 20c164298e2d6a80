"""A sweep's settings file (TOML): the inputs every row shares, and the rows, as a grid or a list.

    [inputs]                      # paths relative to this file; calib and coco default to the data directory's
    fp32 = "../build/human-pose-estimation-0001/ir/fp32/model.xml"
    calib = "/data/coco-calib/train2017"
    coco = "/data/coco-val"
    protocol = "val"              # the validation protocol rows are scored under
    seconds = 4.0                 # throughput seconds per run in each row's speed measurement

    [base]                        # QuantizeSettings fields every row starts from (default: quantize's defaults)
    subset_size = 300

    [grid]                        # every combination of these values is a row
    preset = ["mixed", "performance"]
    fast_bias_correction = [false, true]

    [[rows]]                      # and/or rows one by one
    name = "NNCF's defaults"
    range_estimator = "nncf-default"

A row may also set `calib` (another calibration folder) and `allow_overlap` (calibrate on images
of the validation set: its AP is then optimistic, and the table says so).
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poseforge.artifacts import PROTOCOLS
from poseforge.errors import PoseforgeError
from poseforge.quantize.settings import QuantizeSettings, check_choices

MAX_BYTES = 1 << 20
MAX_ROWS = 500  # a grid multiplies: refuse one that would run for weeks
ROW_KEYS = ("name", "calib", "allow_overlap")  # row fields beyond QuantizeSettings'
SETTING_TYPES: dict[str, tuple[type, ...]] = {
    f.name: {"str": (str,), "bool": (bool,), "int": (int,), "int | None": (int,), "float | None": (float, int),
             "tuple[str, ...]": (list,)}[str(f.type)]
    for f in dataclasses.fields(QuantizeSettings)
}  # fmt: skip


@dataclass(frozen=True)
class Row:
    name: str
    settings: QuantizeSettings
    calib: Path
    allow_overlap: bool = False


@dataclass(frozen=True)
class Sweep:
    source: Path  # the settings file
    fp32: Path
    calib: Path
    coco: Path
    protocol: str
    seconds: float
    limit: int | None
    rows: list[Row] = field(default_factory=list)


def read_sweep(path: str | Path, data: Path, overrides: dict[str, Any] | None = None) -> Sweep:
    """The settings file, checked: unknown keys, wrong types and impossible values are one line naming
    the file and the key. `overrides` (fp32, calib, coco from the command line) win over [inputs]."""
    from poseforge.documents import read_bytes

    path = Path(path)
    raw = read_bytes(path, "sweep settings file", MAX_BYTES)
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PoseforgeError(f"{path} is not a TOML settings file ({exc})") from None
    _known(doc, ("inputs", "base", "grid", "rows"), path, "")
    inputs = _table(doc, "inputs", path)
    _known(inputs, ("fp32", "calib", "coco", "protocol", "seconds", "limit"), path, "inputs.")
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    for key in ("fp32", "calib", "coco"):
        if key in inputs and not isinstance(inputs[key], str):
            raise PoseforgeError(f"{path}: inputs.{key} is a path, got {inputs[key]!r}")
    if "fp32" not in inputs and "fp32" not in overrides:
        raise PoseforgeError(f"{path}: no FP32 IR: set inputs.fp32 (or --fp32)")
    protocol = inputs.get("protocol", "val")
    if protocol not in PROTOCOLS:
        raise PoseforgeError(f"{path}: inputs.protocol {protocol!r}: choose from {', '.join(PROTOCOLS)}")
    seconds = inputs.get("seconds", 4.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 600:
        raise PoseforgeError(f"{path}: inputs.seconds is a number of seconds in (0, 600], got {seconds!r}")
    limit = inputs.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise PoseforgeError(f"{path}: inputs.limit is a positive number of images, got {limit!r}")

    def place(key: str, default: Path) -> Path:
        """The command line's path as given; the file's relative to the file; else the default."""
        if key in overrides:
            return Path(overrides[key])
        return path.parent / inputs[key] if key in inputs else default

    sweep = Sweep(path, place("fp32", Path()), place("calib", data / "coco-calib" / "train2017"),
                  place("coco", data / "coco-val"), protocol, float(seconds), limit)  # fmt: skip
    base = _settings(_table(doc, "base", path), QuantizeSettings(), path, "base.")
    rows = grid_rows(_table(doc, "grid", path), base, sweep, path)
    listed = doc.get("rows", [])
    if not isinstance(listed, list) or not all(isinstance(r, dict) for r in listed):
        raise PoseforgeError(f"{path}: rows is a list of tables ([[rows]])")
    for i, entry in enumerate(listed):
        rows.append(_row(entry, base, sweep, path, f"rows[{i}].", default_name=None))
    if not rows:
        raise PoseforgeError(f"{path} holds no row: add a [grid] or [[rows]]")
    if len(rows) > MAX_ROWS:
        raise PoseforgeError(f"{path} makes {len(rows)} rows (at most {MAX_ROWS})")
    names = [row.name for row in rows]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise PoseforgeError(f"{path}: two rows are named {twice[0]!r}: name them apart")
    return dataclasses.replace(sweep, rows=rows)


def grid_rows(grid: dict[str, Any], base: QuantizeSettings, sweep: Sweep, path: Path) -> list[Row]:
    """Every combination of the grid's values, named by them."""
    if not grid:
        return []
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise PoseforgeError(f"{path}: grid.{key} is a non-empty list of values, got {values!r}")
    keys = list(grid)
    count = 1
    for key in keys:
        count *= len(grid[key])
    if count > MAX_ROWS:
        raise PoseforgeError(f"{path}: the grid makes {count} rows (at most {MAX_ROWS})")
    rows = []
    for combination in itertools.product(*(grid[k] for k in keys)):
        entry = dict(zip(keys, combination, strict=True))
        name = ", ".join(f"{k}={_shown(v)}" for k, v in entry.items())
        rows.append(_row(entry, base, sweep, path, "grid.", default_name=name))
    return rows


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "+".join(map(str, value)) or "none"
    return str(value)


def _row(entry: dict[str, Any], base: QuantizeSettings, sweep: Sweep, path: Path, where: str,
         default_name: str | None) -> Row:  # fmt: skip
    _known(entry, (*ROW_KEYS, *SETTING_TYPES), path, where)
    settings = _settings({k: v for k, v in entry.items() if k in SETTING_TYPES}, base, path, where)
    name = entry.get("name", default_name)
    if name is None:
        changed = {k: v for k, v in entry.items() if k in SETTING_TYPES or k == "calib"}
        name = ", ".join(f"{k}={_shown(v)}" for k, v in changed.items()) or "base"
    # printed as one line and as a cell of sweep.md's table
    if not isinstance(name, str) or not 0 < len(name) <= 200 or not name.isprintable() or "|" in name:
        raise PoseforgeError(f"{path}: {where}name is 1 to 200 printable characters without '|', got {name!r}")
    calib = entry.get("calib")
    if calib is not None and not isinstance(calib, str):
        raise PoseforgeError(f"{path}: {where}calib is a folder path, got {calib!r}")
    overlap = entry.get("allow_overlap", False)
    if not isinstance(overlap, bool):
        raise PoseforgeError(f"{path}: {where}allow_overlap is true or false, got {overlap!r}")
    return Row(name, settings, path.parent / calib if calib else sweep.calib, overlap)


def _settings(values: dict[str, Any], base: QuantizeSettings, path: Path, where: str) -> QuantizeSettings:
    _known(values, tuple(SETTING_TYPES), path, where)
    changes = {}
    for key, value in values.items():
        kinds = SETTING_TYPES[key]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise PoseforgeError(f"{path}: {where}{key} is {' or '.join(k.__name__ for k in kinds)}, got {value!r}")
        if key == "ignored_scope":
            if not all(isinstance(v, str) for v in value):
                raise PoseforgeError(f"{path}: {where}{key} is a list of KIND:VALUE strings")
            value = tuple(value)
        if key == "candidates" and value == 0:
            value = None  # as --candidates 0: every image of the folder
        changes[key] = value
    settings = dataclasses.replace(base, **changes)
    try:
        check_choices(settings)
    except PoseforgeError as exc:
        raise PoseforgeError(f"{path}: {where.rstrip('.')}: {exc}") from None
    return settings


def _table(doc: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise PoseforgeError(f"{path}: {key} is a table ([{key}])")
    return value


def _known(table: dict[str, Any], keys: tuple[str, ...], path: Path, where: str) -> None:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise PoseforgeError(f"{path}: unknown key {where}{unknown[0]} (known: {', '.join(keys)})")
