"""Class 2, the gate from the command line: a poisoned baseline or a foreign report never passes.

tests/validate/test_gate.py covers the gate's logic in-process; here each case is `poseforge gate`
as CI runs it: exit 1, one stderr line, and no summary claiming that every check holds.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from poseforge.validate.gate import run_gate
from tests.hostile.helpers import cli, edit_json, refused, snapshot

SENTINEL = "__RAW__"


@pytest.fixture
def gate_dir(gated: Path, tmp_path: Path) -> Path:
    """A private copy of `gated` and its baseline (beside it) to poison."""
    copy = tmp_path / gated.name
    shutil.copytree(gated, copy, symlinks=True)
    shutil.copy(gated.parent / "baseline.json", tmp_path / "baseline.json")
    return copy


def never_all_hold(out: str) -> None:
    for held, total in re.findall(r"(\d+) of (\d+) checks hold", out):
        assert int(held) < int(total) and "FAILED" in out, out


def test_the_clean_folder_passes(gate_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: without poison, the same command passes (so each refusal below is the poison's)."""
    outcome = cli(capsys, "gate", gate_dir, "--baseline", gate_dir.parent / "baseline.json")
    assert outcome.code == 0 and re.search(r"(\d+) of \1 checks hold", outcome.out), outcome.out + outcome.err


def set_ap(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda b: b["accuracy"]["ir-fp32"]["val"].update(ap=value)


# name -> (change to the baseline's data, text substitutions afterwards (SENTINEL -> raw text), what is named)
BASELINES: dict[str, tuple[Callable[[dict[str, Any]], Any], str | None, str]] = {
    "NaN AP": (set_ap(SENTINEL), "NaN", "NaN is not a JSON number"),
    "Infinity tolerance": (
        lambda b: b["accuracy"]["ir-fp32"]["val"].update(tolerance=SENTINEL),
        "Infinity",
        "Infinity is not a JSON number",
    ),
    "boolean AP": (set_ap(True), None, "accuracy.ir-fp32.val.ap"),
    "AP above 1": (set_ap(1.5), None, "accuracy.ir-fp32.val.ap"),
    "negative tolerance": (
        lambda b: b["accuracy"]["ir-fp32"]["val"].update(tolerance=-0.5),
        None,
        "accuracy.ir-fp32.val.tolerance",
    ),
    "empty accuracy": (lambda b: b.update(accuracy={}), None, "field accuracy"),
    "empty protocols": (lambda b: b["accuracy"].update({"ir-fp32": {}}), None, "accuracy.ir-fp32"),
    "no machine class": (lambda b: b.update(classes={}), None, "field classes"),
    "wrong schema": (lambda b: b.update(schema="poseforge.baseline/1"), None, "poseforge.baseline/1"),
    "a 5000-digit integer": (lambda b: b["dataset"].update(images=SENTINEL), "9" * 5000, "5000 digits"),
    "100k-deep nesting": (
        lambda b: b.update(extra=SENTINEL),
        "[" * 100_000 + "]" * 100_000,
        "nested deeper than",
    ),
    "a huge file": (lambda b: b.update(padding="x" * (2 << 20)), None, "larger than any baseline"),
    "not a JSON object": (lambda b: [b], None, "not a JSON object"),
    "an unknown ratio": (
        lambda b: next(iter(b["classes"].values()))["ratios"].update(
            free_lunch={"expected": 1.0, "tolerance": 0.1, "better": "higher", "artifacts": {"ir-fp32": "0" * 64}}
        ),
        None,
        "free_lunch",
    ),
}


@pytest.mark.parametrize("case", list(BASELINES))
def test_a_poisoned_baseline_fails(case: str, gate_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    change, text, named = BASELINES[case]
    baseline = gate_dir.parent / "baseline.json"
    edit_json(baseline, change)
    if text is not None:
        baseline.write_text(baseline.read_text().replace(json.dumps(SENTINEL), text))
    before = snapshot(gate_dir.parent)
    outcome = cli(capsys, "gate", gate_dir, "--baseline", baseline)
    refused(outcome, baseline, named)
    never_all_hold(outcome.out)
    assert snapshot(gate_dir.parent) == before


def set_report(protocol: str, **fields: Any) -> Callable[[Path], None]:
    def change(model_dir: Path) -> None:
        edit_json(model_dir / "reports" / f"ir-fp32-{protocol}.json", lambda r: r.update(fields))

    return change


def set_dataset(**fields: Any) -> Callable[[Path], None]:
    def change(model_dir: Path) -> None:
        edit_json(model_dir / "reports" / "ir-fp32-val.json", lambda r: r["dataset"].update(fields))

    return change


def swap_weights(model_dir: Path) -> None:
    """Another version of the IR: model.bin with the same size, other bytes (a real file, not the link)."""
    source = (model_dir / "ir" / "fp32").resolve()
    (model_dir / "ir" / "fp32").unlink()
    shutil.copytree(source, model_dir / "ir" / "fp32")
    weights = model_dir / "ir" / "fp32" / "model.bin"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))


# name -> (change to the model folder, what the table's cause says)
FOREIGN: dict[str, tuple[Callable[[Path], None], str]] = {
    "a report of another model": (set_report("val", model="lightweight-openpose"), "lightweight-openpose"),
    "a stale artifact_sha256": (set_report("val", artifact_sha256="0" * 64), "stale"),
    "the IR changed after validation": (swap_weights, "stale"),
    "a subset report": (set_report("deploy", subset=True, images=2), "subset"),
    "other images": (set_dataset(image_ids_sha256="1" * 64), "other images"),
    "other annotations": (set_dataset(annotations_sha256="2" * 64), "other annotations"),
    "the deploy report under the val name": (
        lambda d: shutil.copy(d / "reports" / "ir-fp32-deploy.json", d / "reports" / "ir-fp32-val.json"),
        "holds the deploy report",
    ),
    "a missing report": (lambda d: (d / "reports" / "ir-fp32-deploy.json").unlink(), "missing report"),
    "no bench.json": (lambda d: (d / "bench.json").unlink(), "no bench.json"),
}


def failed(gate_dir: Path, capsys: pytest.CaptureFixture[str], *named: str) -> str:
    """`poseforge gate` on the folder as it is: a refusal (naming `named` too) that never says every check
    holds and changes nothing; its table."""
    baseline = gate_dir.parent / "baseline.json"
    before = snapshot(gate_dir.parent)
    outcome = cli(capsys, "gate", gate_dir, "--baseline", baseline)
    refused(outcome, baseline, "accuracy gate failed", *named)
    never_all_hold(outcome.out)
    assert snapshot(gate_dir.parent) == before
    return outcome.out


@pytest.mark.parametrize("case", list(FOREIGN))
def test_a_foreign_report_fails(case: str, gate_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    change, cause = FOREIGN[case]
    change(gate_dir)
    table = failed(gate_dir, capsys)
    assert cause in table, table


def set_interval(**fields: Any) -> Callable[[Path], None]:
    def change(model_dir: Path) -> None:
        edit_json(model_dir / "reports" / "ir-fp32-val.json", lambda r: r["interval"].update(fields))

    return change


# name -> (an edit of a figure the gate did not re-derive (only the AP ones were), the row's cause)
EDITED: dict[str, tuple[Callable[[Path], None], str]] = {
    "an AR of 0.99": (set_report("val", ar=0.99), "says ar 0.9900 but its results score"),
    "an interval that misses its AP": (set_interval(low=0.6, high=0.7), "says interval.high 0.7 but its results give"),
    "34000 people": (set_dataset(people=34000), "says dataset.people 34000 but its images and annotations give"),
    "another image set's name": (set_dataset(name="val2017"), "says dataset.name val2017 but its images"),
}


@pytest.mark.parametrize("case", list(EDITED))
def test_a_figure_its_results_do_not_give_fails(case: str, gate_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The gate re-derived a report's AP figures from its results and passed every other figure as it stood."""
    change, cause = EDITED[case]
    change(gate_dir)
    failed(gate_dir, capsys, "ir-fp32 val AP")
    # the table wraps the cause, which names the report's path: read from the gate's row itself
    row = next(c for c in run_gate(gate_dir, gate_dir.parent / "baseline.json").checks if c.name == "ir-fp32 val AP")
    assert row.verdict == "FAIL" and cause in row.causes[0], row.causes
