"""`poseforge paper` and `make paper`: what the report says, and that it is built from real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from poseforge.analysis.paper import _networks, complexity_section, markdown, write_paper
from poseforge.errors import PoseforgeError
from poseforge.fileio import LEDGER
from poseforge.ir_files import read_ir
from poseforge.metadata import get_ir_metadata
from tests.conftest import FP32_CHAIN, copy_with_times, run_cli, run_make
from tests.hostile.helpers import snapshot

BASELINE = "paper/openpose-vgg19-s2/ir/fp32/model.xml"


def network(key: str, model: str, stages: int, gmacs: float, latency_ms: float, **extra: Any) -> dict[str, Any]:
    settings = {"version": "ov", "precision_hint": "f32", "threads": 2, "streams": 1}
    return {
        "key": key, "path": f"{key}.xml", "model": model, "config": {"num_refinement_stages": stages - 1},
        "precision": "fp32", "stages": stages, "weights": "random-init (seed 0), NOT trained", "trained": False,
        "params": 1, "gmacs_368": gmacs * 1.16, "gmacs_speed": gmacs, "latency_ms": latency_ms,
        "latency_p90_ms": latency_ms * 1.1, "round_spread": 0.02, "fps": 1e3 / latency_ms,
        "throughput_fps": 1.1e3 / latency_ms,
        "latency_settings": settings, "throughput_settings": {**settings, "streams": 2}, "runs": [], **extra,
    }  # fmt: skip


def document(int8: bool = False, rounds: tuple[float, float] = (6.0, 6.1)) -> dict[str, Any]:
    nets = [
        network("proposed", "human-pose-estimation-0001", 2, 7.69, 100.0),
        network("baseline", "openpose-vgg19", 2, 53.09, 600.0),
        network("sweep-0", "lightweight-openpose", 2, 7.66, 98.0),
        network("sweep-1", "lightweight-openpose", 3, 10.58, 130.0),
    ]
    if int8:
        nets.append(network("int8", "human-pose-estimation-0001", 2, 7.69, 40.0, precision="int8"))
    return {
        "created": "now",
        "machine": {"cpu": "Test CPU", "cores": 2, "isa": ["avx512f", "avx512_vnni"], "system": "Linux"},
        "conditions": {"input": [256, 456], "rounds": 2, "load_average_before": [0.1], "load_average_after": [0.2]},
        "complexity": complexity_section(),
        "networks": nets,
        "ratio_rounds": {"fps": list(rounds), "throughput": list(rounds)},
    }


def test_report_states_ratio_threads_hint_and_machine() -> None:
    text = markdown(document(), None)
    assert "**Measured ratio, proposed / baseline: 6.0x in fps" in text  # median of the rounds' 6.0 and 6.1
    assert "2 threads, precision hint f32" in text and "13.4x" in text
    assert "Test CPU, 2 cores; ISA: avx512f avx512_vnni" in text
    assert "INFERENCE_PRECISION_HINT **f32**" in text
    assert "not built" in text  # no INT8 IR
    assert "re-run" not in text  # rounds agree
    assert "| 1 | 1 | 8.89 | 7.66 | 98.0 |" in text  # the sweep's first row: 1 refinement stage


def test_report_includes_the_int8_ir_when_given() -> None:
    text = markdown(document(int8=True), None)
    assert "not built" not in text
    assert "INT8 over FP32 (same run" in text and "2.50x in fps" in text


def test_report_flags_disturbed_rounds() -> None:
    assert "re-run `make paper`" in markdown(document(rounds=(6.0, 7.5)), None)
    doc = document()
    doc["networks"][2]["round_spread"] = 0.5
    assert "(sweep-0 50%)" in markdown(doc, None)


def test_report_says_the_baseline_is_not_trained_and_the_convention() -> None:
    text = markdown(document(), "paper.png")
    assert "random weights, NOT trained" in text and "random-init (seed 0), NOT trained" in text
    assert 'The paper\'s "GFLOPs" are multiply-accumulates' in text
    assert "every printed figure of both tables is reproduced" in text
    assert "![GMACs against fps](paper.png)" in text


def fake_meta(table: dict[str, dict]) -> Any:
    return lambda path: table[str(path)]


def meta(model: str, precision: str = "fp32", stages: int = 2) -> dict[str, Any]:
    return {"model": model, "precision": precision, "config": {"num_refinement_stages": stages - 1},
            "source": {"kind": "random-init", "seed": 0}}  # fmt: skip


def test_networks_are_checked_for_their_role() -> None:
    good = {"p.xml": meta("human-pose-estimation-0001"), "b.xml": meta("openpose-vgg19")}
    nets = _networks("p.xml", "b.xml", [], None, fake_meta(good))
    assert [n["key"] for n in nets] == ["proposed", "baseline"] and nets[1]["params"] == 17_172_146
    with pytest.raises(PoseforgeError, match="baseline must be openpose-vgg19"):
        _networks("p.xml", "p.xml", [], None, fake_meta(good))
    with pytest.raises(PoseforgeError, match="must be an FP32 OpenVINO IR"):
        _networks("p.xml", "b.xml", [], None, fake_meta({**good, "p.xml": meta("lightweight-openpose", "fp16")}))


@pytest.fixture(scope="module")
def baseline_build(tmp_path_factory: pytest.TempPathFactory, vgg19_build: Path) -> Path:
    """The paper's baseline IR where its make rule puts it: the random-init 2-stage openpose-vgg19
    chain `make ir MODEL=openpose-vgg19 STAGES=2` made (the same commands, `make -n paper` shows
    them), copied with its times, so that make finds the rule's target up to date."""
    build = tmp_path_factory.mktemp("build")
    copy_with_times(vgg19_build, (build / BASELINE).parents[2], FP32_CHAIN)
    return build


def test_baseline_rule_finds_its_chain_up_to_date(baseline_build: Path, assets: Path) -> None:
    target = baseline_build / BASELINE
    assert run_make("-q", str(target), BUILD=str(baseline_build), DATA=str(assets)).returncode == 0
    meta = get_ir_metadata(read_ir(target))
    assert meta["model"] == "openpose-vgg19" and meta["config"] == {"num_refinement_stages": 1}
    assert meta["source"]["kind"] == "random-init" and meta["source"]["trained"] is False


def test_make_paper_takes_the_int8_ir_only_when_built(tmp_path: Path, assets: Path) -> None:
    dry = run_make("-n", "paper", BUILD=str(tmp_path), DATA=str(assets))
    assert dry.returncode == 0, dry.stderr
    assert "init --model openpose-vgg19 --stages '2'" in dry.stdout
    assert all(f"init --model lightweight-openpose --stages '{n}'" in dry.stdout for n in range(2, 7))
    assert "\nrm " not in dry.stdout  # every step is kept, none deleted as an intermediate
    assert "--int8" not in dry.stdout
    int8 = tmp_path / "human-pose-estimation-0001" / "ir" / "int8" / "model.xml"
    int8.parent.mkdir(parents=True)
    int8.write_text("<net/>")
    assert f"--int8 '{int8}'" in run_make("-n", "paper", BUILD=str(tmp_path), DATA=str(assets)).stdout


def test_paper_command_writes_the_report(baseline_build: Path, lwop_build: Path, tmp_path: Path) -> None:
    lightweight = lwop_build / "ir" / "fp32" / "model.xml"
    out = tmp_path / "paper.md"
    result = run_cli(
        "paper", "--proposed", str(lightweight), "--baseline", str(baseline_build / BASELINE),
        "--sweep", str(lightweight), "--rounds", "1", "--iterations", "1", "--seconds", "0.3", "--threads", "2",
        "-o", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [p.name for p in sorted(tmp_path.iterdir())] == [LEDGER, "paper.json", "paper.md", "paper.png"]
    text = out.read_text()
    sections = ("## Machine and settings", "### Table 5", "### Table 2", "## Table 6", "## What the INT8 IR adds",
                "## The cost of refinement stages", "Threads: **2**", "INFERENCE_PRECISION_HINT **f32**")  # fmt: skip
    for section in sections:
        assert section in text, section
    doc = json.loads(out.with_suffix(".json").read_text())
    baseline = next(n for n in doc["networks"] if n["key"] == "baseline")
    assert baseline["trained"] is False and baseline["stages"] == 2
    assert baseline["latency_settings"]["precision_hint"] == "f32" and baseline["latency_settings"]["threads"] == 2
    assert len(doc["ratio_rounds"]["fps"]) == 1


def test_paper_command_refuses_a_wrong_baseline(lwop_build: Path, tmp_path: Path) -> None:
    lightweight = lwop_build / "ir" / "fp32" / "model.xml"
    result = run_cli("paper", "--proposed", str(lightweight), "--baseline", str(lightweight), "-o",
                     str(tmp_path / "paper.md"))  # fmt: skip
    assert result.returncode == 1 and "baseline must be openpose-vgg19" in result.stderr
    assert not list(tmp_path.iterdir())


def test_paper_writes_all_of_its_files_or_none(tmp_path: Path) -> None:
    """paper.md is the user's: refused, and paper.json and paper.png are not written beside it (they were,
    before the refusal); an -o that is not markdown is refused before anything is written."""
    (tmp_path / "paper.md").write_text("my notes\n")
    with pytest.raises(PoseforgeError, match=r"paper\.md exists and was not written by poseforge"):
        write_paper(tmp_path / "paper.md", document())
    assert [p.name for p in tmp_path.iterdir()] == ["paper.md"]
    with pytest.raises(PoseforgeError, match=r"is not a \.md file"):
        write_paper(tmp_path / "paper.json", document())
    assert [p.name for p in tmp_path.iterdir()] == ["paper.md"]
    assert [p.name for p in write_paper(tmp_path / "new.md", document())] == ["new.json", "new.png", "new.md"]


def test_paper_command_never_writes_over_an_ir_it_measures(
    baseline_build: Path, lwop_build: Path, tmp_path: Path
) -> None:
    """`-o` naming a --sweep IR (one poseforge wrote, so its record lets it be replaced): refused before
    measuring, not replaced by markdown after it."""
    lightweight, sweep = lwop_build / "ir" / "fp32" / "model.xml", tmp_path / "ir" / "model.xml"
    run_cli("convert", str(lwop_build / "model.sim.onnx"), "-o", str(sweep)).check_returncode()
    before = snapshot(tmp_path)
    result = run_cli(
        "paper", "--proposed", str(lightweight), "--baseline", str(baseline_build / BASELINE), "--sweep", str(sweep),
        "--rounds", "1", "--iterations", "1", "--seconds", "0.3", "-o", str(sweep),
    )  # fmt: skip
    assert result.returncode == 1 and f"own input (--sweep {sweep})" in result.stderr, result.stderr
    assert snapshot(tmp_path) == before
