"""`poseforge paper`: the Lightweight OpenPose paper's complexity and speed tables beside ours.

Writes paper.md (the report), paper.json (every number in it) and paper.png (GMACs against fps).
Complexity is counted from the modules (`complexity`, `tables`); speed is measured here, every
network as an FP32 IR with precision hint f32 at the paper's 456x256, interleaved (`speedrun`).
"""

from __future__ import annotations

import datetime
import importlib.util
import statistics
from pathlib import Path
from typing import Any

from poseforge.analysis.complexity import PAPER_INPUT, count
from poseforge.analysis.tables import PAPER, PAPER_PARAMS, PAPER_SPEED, Row, matched_convention, table2, table5
from poseforge.artifacts import DEPLOY_SHAPE
from poseforge.errors import PoseforgeError
from poseforge.fileio import MARKDOWN_MARK, PNG_MARK, atomic_outputs, json_text
from poseforge.validate.speed.interleaved import Entry, measure_interleaved, round_ratios

SPEED_INPUT = DEPLOY_SHAPE  # height, width: the paper's 456x256, which is the deploy shape
LIGHTWEIGHT = ("lightweight-openpose", "human-pose-estimation-0001")
DISTURBED = 0.10  # rounds differing by more than this are flagged
SCHEMA = "poseforge.paper/1"


def measure_paper(
    proposed: str | Path,
    baseline: str | Path,
    sweep: list[str | Path] | None = None,
    int8: str | Path | None = None,
    threads: int | None = None,
    iterations: int = 10,
    seconds: float = 3.0,
    rounds: int = 3,
) -> dict[str, Any]:
    """Count every network's complexity and measure its speed in interleaved rounds: paper.json's content."""
    from poseforge.machine import machine_info
    from poseforge.runtime import artifact_metadata
    from poseforge.ui import console

    networks = _networks(proposed, baseline, sweep or [], int8, artifact_metadata)
    reference = networks[0]["gmacs_speed"]
    entries = [Entry(n["key"], Path(n["path"]), n["gmacs_speed"] / reference) for n in networks]
    shape = (1, 3, *SPEED_INPUT)
    conditions = measure_interleaved(entries, shape, threads, iterations, seconds, rounds, console(stderr=True).print)
    for network, entry in zip(networks, entries, strict=True):
        network.update(entry.best(), runs=entry.runs)
    by_key = {e.key: e for e in entries}
    return {
        "schema": SCHEMA,
        "paper": PAPER,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "conditions": {**conditions, "input": list(SPEED_INPUT), "precision_hint": "f32", "threads": threads},
        "complexity": complexity_section(),
        "networks": networks,
        "ratio_rounds": {
            "fps": round_ratios(by_key["baseline"], by_key["proposed"], "fps"),
            "throughput": round_ratios(by_key["baseline"], by_key["proposed"], "throughput"),
        },
    }


def paper_outputs(output: str | Path) -> list[Path]:
    """What `paper -o OUTPUT` writes: paper.json, paper.png (when matplotlib is there to draw it) and
    OUTPUT, the markdown that shows them, last. `paper` claims them all before measuring."""
    output = Path(output)
    if output.suffix != ".md":
        raise PoseforgeError(f"-o {output} is not a .md file: paper writes markdown, with its .json and .png beside it")
    plot = [output.with_suffix(".png")] if importlib.util.find_spec("matplotlib") else []
    return [output.with_suffix(".json"), *plot, output]


def write_paper(output: str | Path, doc: dict[str, Any]) -> list[Path]:
    """Render paper.json, paper.png and `output` (paper.md) from measure_paper's figures as one unit:
    all written to temporary files, then renamed together (paper.md last), or none of them."""
    targets = paper_outputs(output)
    plot = targets[1] if len(targets) == 3 else None
    with atomic_outputs(*targets) as tmps:
        tmps[0].write_text(json_text(doc))
        if plot is not None:
            draw_plot(doc, tmps[1])
        tmps[-1].write_text(markdown(doc, plot.name if plot else None) + "\n" + MARKDOWN_MARK + "\n")
    return targets


def _networks(proposed: Any, baseline: Any, sweep: list, int8: Any, read_meta: Any) -> list[dict[str, Any]]:
    """Every IR to measure with what its metadata says, checked for the role it plays."""
    roles = [("proposed", proposed), ("baseline", baseline)]
    roles += [(f"sweep-{i}", path) for i, path in enumerate(sweep)]
    roles += [("int8", int8)] if int8 else []
    networks = []
    for key, path in roles:
        meta = read_meta(path)
        model, config = meta["model"], meta.get("config", {})
        precision = meta.get("precision")
        want_fp32 = key != "int8"
        if (want_fp32 and precision != "fp32") or not str(path).endswith(".xml"):
            raise PoseforgeError(f"{path}: the {key} network must be an FP32 OpenVINO IR (it is {precision})")
        if key == "baseline" and model != "openpose-vgg19":
            raise PoseforgeError(f"{path}: the baseline must be openpose-vgg19, not {model}")
        if key != "baseline" and model not in LIGHTWEIGHT:
            raise PoseforgeError(f"{path}: the {key} network must be a Lightweight OpenPose, not {model}")
        source = meta.get("source", {})
        at_368, at_speed = count(model, PAPER_INPUT, config), count(model, SPEED_INPUT, config)
        networks.append(
            {
                "key": key,
                "path": str(path),
                "model": model,
                "config": config,
                "precision": precision,
                "stages": 1 + int(config.get("num_refinement_stages", 0)),
                "weights": _weights(source),
                "trained": False if source.get("kind") == "random-init" else source.get("trained"),  # None: unknown
                "params": at_368.params,
                "gmacs_368": at_368.macs / 1e9,
                "gmacs_speed": at_speed.macs / 1e9,
            }
        )
    networks[2:] = sorted(networks[2:], key=lambda n: (n["key"] == "int8", n["stages"]))
    return networks


def _weights(source: dict[str, Any]) -> str:
    kind = source.get("kind", "?")
    if kind == "random-init":
        return f"random-init (seed {source.get('seed')}), NOT trained"
    if kind == "openvino-ir":
        return f"imported from {source.get('file', 'an IR')}"
    return f"{kind} {source.get('file', '')}".strip()


def complexity_section() -> dict[str, Any]:
    lightweight, rows5 = table5()
    two, six, rows2 = table2()
    omz = count("human-pose-estimation-0001", PAPER_INPUT)
    convention, worst = matched_convention([r for r in rows5 + rows2 if not r.components])
    return {
        "convention": convention,
        "worst_difference": worst,
        "table5": [_row_json(r) for r in rows5],
        "table2": [_row_json(r) for r in rows2],
        "params": {
            "lightweight-openpose": lightweight.params,
            "human-pose-estimation-0001": omz.params,
            "openpose-vgg19 (2 stages)": two.params,
            "openpose-vgg19 (6 stages)": six.params,
        },
        "human-pose-estimation-0001": omz.to_json(),
    }


def _row_json(row: Row) -> dict[str, Any]:
    return {
        "label": row.label,
        "paper": row.paper,
        "gmacs": row.gmacs,
        "gflops": 2 * row.gmacs,
        "elementwise_gops": row.other_ops / 1e9,
        "difference": row.difference(),
        "as_printed": row.as_printed(),
        "as_printed_with_elementwise": row.as_printed(elementwise=True),
        "total": bool(row.components),
    }


# --- markdown ---------------------------------------------------------------------------------


def markdown(doc: dict[str, Any], plot: str | None) -> str:
    lines = [
        "# Lightweight OpenPose: the paper's complexity and speed tables, reproduced",
        "",
        f"Paper: {PAPER} (Tables 2, 5 and 6). Generated by `poseforge paper` on {doc['created']}.",
        "",
        *_machine_lines(doc),
        "",
        *_complexity_lines(doc["complexity"]),
        "",
        *_speed_lines(doc),
        "",
        *_int8_lines(doc),
        "",
        *_sweep_lines(doc, plot),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _machine_lines(doc: dict[str, Any]) -> list[str]:
    m, c = doc["machine"], doc["conditions"]
    settings = doc["networks"][0]["latency_settings"]
    thr = doc["networks"][0]["throughput_settings"]
    return [
        "## Machine and settings",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; ISA: {' '.join(m['isa']) or 'none of note'}; {m['system']}.",
        f"- OpenVINO {settings['version']} CPU plugin; every network an IR at {c['input'][0]}x{c['input'][1]} (HxW), "
        f"batch 1, INFERENCE_PRECISION_HINT **{settings['precision_hint']}** (recorded from the compiled model).",
        f"- Threads: **{settings['threads']}** for every network (LATENCY hint: {settings['streams']} stream; "
        f"THROUGHPUT hint: {thr['streams']} streams, {thr['threads']} threads in all).",
        f"- {c['rounds']} interleaved rounds: ratios are medians of per-round ratios, absolute figures each "
        f"network's best round. Load average before "
        f"{c['load_average_before']}, after {c['load_average_after']} (other work on the machine disturbs speed).",
    ]


def _complexity_lines(cx: dict[str, Any]) -> list[str]:
    worst = cx["worst_difference"]
    params = cx["params"]
    lines = [
        "## Complexity (Tables 2 and 5), counted from the modules at 368x368",
        "",
        f'**Convention.** The paper\'s "GFLOPs" are multiply-accumulates: against its per-part figures our GMACs '
        f"differ by at most {worst['MACs']:.1%}, our GFLOPs (2 x MACs) by {worst['FLOPs = 2 x MACs']:.0%}. "
        'So "ours" below is GMACs (one MAC per weight per output element: output elements x input channels '
        "per group x kernel area; the 368x368 input gives 46x46 maps at stride 8).",
        "The paper prints one decimal, and its totals are sums of its rounded parts (3.7 + 0.3 + 0.3 + 1.3 = 5.6). "
        '"As printed" rounds our parts the same way; "+ element-wise" adds one operation per bias add, '
        "activation, BatchNorm output and pooling-window element, counted by the same hooks.",
        "",
    ]
    for title, key, note in (
        (
            "Table 5: Lightweight OpenPose (`lightweight-openpose`, upstream architecture, 1 refinement stage)",
            "table5",
            f"Parameters: {params['lightweight-openpose']:,} "
            f"(paper: {PAPER_PARAMS['lightweight-openpose'] / 1e6:.1f} M). "
            f"The Open Model Zoo variant `human-pose-estimation-0001` has {params['human-pose-estimation-0001']:,}: "
            f"its CPM has an extra 1x1 128->128, which makes conv4_3 "
            f"{_part(cx['human-pose-estimation-0001'], 'conv4_3'):.3f} GMACs and the total "
            f"{cx['human-pose-estimation-0001']['total']['gmacs']:.2f}.",
        ),
        (
            "Table 2: the original OpenPose (`openpose-vgg19`, random weights, NOT trained)",
            "table2",
            f"Parameters: {params['openpose-vgg19 (2 stages)']:,} with 2 stages, "
            f"{params['openpose-vgg19 (6 stages)']:,} with 6 (the COCO release's 52.3 M).",
        ),
    ):
        lines += [f"### {title}", "", *_table_lines(cx[key]), "", note, ""]
    lines += _explain_lines(cx)
    return lines


def _part(doc: dict[str, Any], name: str) -> float:
    return next(p["gmacs"] for p in doc["parts"] if p["name"] == name)


def _table_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        '| part | paper "GFLOPs" | ours GMACs | difference | ours GFLOPs (2 x MACs) | ours as printed | '
        "as printed + element-wise |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        label = f"**{r['label']}**" if r["total"] else r["label"]
        lines.append(
            f"| {label} | {r['paper']:g} | {r['gmacs']:.3f} | {r['difference']:+.1%} | {r['gflops']:.3f} | "
            f"{_mark(r['as_printed'], r['paper'])} | {_mark(r['as_printed_with_elementwise'], r['paper'])} |"
        )
    return lines


def _mark(value: float, paper: float) -> str:
    return f"{value:g} {'(=)' if value == paper else '(differs)'}"


def _explain_lines(cx: dict[str, Any]) -> list[str]:
    """Why a part is more than 5% off, or does not round to the printed figure, from the numbers."""
    lines = ["### Where our count and the printed figure differ", ""]
    for key in ("table5", "table2"):
        for r in cx[key]:
            if abs(r["difference"]) <= 0.05 and r["as_printed"] == r["paper"]:
                continue
            if r["total"]:
                why = (
                    f"the paper's total is the sum of its rounded parts; our exact total is {r['gmacs']:.3f}, "
                    f"our parts rounded and summed give {r['as_printed']:g}"
                    + (", with element-wise operations exactly the printed figure." if
                       r["as_printed_with_elementwise"] == r["paper"] else ".")
                )  # fmt: skip
            elif r["as_printed_with_elementwise"] == r["paper"]:
                step = 0.5 * 10 ** -_decimals(r["paper"])
                why = (
                    f"{r['gmacs']:.5f} GMACs prints as {r['as_printed']:g}, just outside [{r['paper'] - step:g}, "
                    f"{r['paper'] + step:g}) which prints as {r['paper']:g}; its element-wise operations "
                    f"({r['elementwise_gops']:.4f} G) bring it to {r['gmacs'] + r['elementwise_gops']:.5f}, which "
                    f"prints as {r['paper']:g}: a matter of rounding, not of architecture."
                )
            else:
                why = "not explained by rounding or element-wise operations: the architecture counted here differs."
            lines.append(f"- {key.replace('table', 'Table ')}, {r['label']}: {r['difference']:+.1%}; {why}")
    lines += [
        "",
        "So with the element-wise operations counted, every printed figure of both tables is reproduced to its "
        "printed precision"
        + (
            "."
            if all(r["as_printed_with_elementwise"] == r["paper"] for k in ("table5", "table2") for r in cx[k])
            else " except those marked (differs) above."
        ),
    ]
    return lines


def _decimals(value: float) -> int:
    text = f"{value:g}"
    return len(text.partition(".")[2])


def _speed_lines(doc: dict[str, Any]) -> list[str]:
    nets = {n["key"]: n for n in doc["networks"]}
    base, prop = nets["baseline"], nets["proposed"]
    rounds = doc["ratio_rounds"]
    fps_ratio, thr_ratio = statistics.median(rounds["fps"]), statistics.median(rounds["throughput"])
    compute_ratio = base["gmacs_speed"] / prop["gmacs_speed"]
    threads = prop["latency_settings"]["threads"]
    lines = [
        f"## Table 6: network speed, FP32, {SPEED_INPUT[1]}x{SPEED_INPUT[0]} (WxH)",
        "",
        f"Paper ({PAPER_SPEED['cpu']}, FP32): baseline 2-stage OpenPose {PAPER_SPEED['baseline_fps']} fps, "
        f"proposed {PAPER_SPEED['proposed_fps']:g} fps: **{PAPER_SPEED['ratio']}x**.",
        "",
        SPEED_HEADER,
        SPEED_RULE,
    ]
    for n in (base, prop):
        lines.append(_speed_row(n))
    lines += [
        "",
        f"**Measured ratio, proposed / baseline: {fps_ratio:.1f}x in fps (one request, LATENCY hint), "
        f"{thr_ratio:.1f}x in throughput (THROUGHPUT hint)**, {threads} threads, precision hint "
        f"{prop['latency_settings']['precision_hint']}; the paper's {PAPER_SPEED['ratio']}x is the reference. "
        "Each ratio is the median over rounds of the two networks measured back to back; the table shows "
        "each network's best round.",
        f"Per-round fps ratios: {', '.join(f'{r:.2f}' for r in rounds['fps'])}; throughput ratios: "
        f"{', '.join(f'{r:.2f}' for r in rounds['throughput'])}.",
        *_disturbance_lines(doc),
        "",
        *_efficiency_lines(prop, base, fps_ratio, compute_ratio),
        f"The baseline's weights are random (`{base['weights']}`): speed does not depend on weight values once "
        "they are normal floats (the seeded default init keeps every activation clear of denormals).",
    ]
    return lines


def _efficiency_lines(prop: dict[str, Any], base: dict[str, Any], fps_ratio: float, compute_ratio: float) -> list[str]:
    """Speed ratio against compute ratio, here and in the paper: which network uses the CPU better."""
    paper_compute = 61.7 / 9  # Table 2's 2-stage total over Table 5's total
    here = fps_ratio / compute_ratio
    paper = PAPER_SPEED["ratio"] / paper_compute
    faster = "the proposed network" if here > 1 else "the baseline"
    return [
        f"The baseline does {compute_ratio:.1f}x the MACs of the proposed network at this size (paper, 368x368: "
        f"61.7 / 9 = {paper_compute:.1f}x). Here the proposed network sustains "
        f"{prop['gmacs_speed'] * prop['fps']:.0f} GMAC/s and the baseline {base['gmacs_speed'] * base['fps']:.0f}: "
        f"the speed ratio is {here:.2f}x the compute ratio, {faster} running at the higher MAC rate. In the paper "
        f"the speed ratio is {paper:.2f}x its compute ratio: its baseline ran at {1 / paper:.0%} of the MAC rate of "
        "its proposed network. Depthwise convolutions do little arithmetic per byte moved and 128-channel layers "
        "give less work per call than the baseline's 256- and 512-channel ones, so a network like the proposed "
        "one usually runs at a lower MAC rate than a VGG-style one.",
    ]


SPEED_HEADER = (
    "| network | weights | stages | GMACs at 256x456 | latency ms (median, p90) | fps (1 / latency) | "
    "throughput fps | GMAC/s (latency) | rounds spread |"
)
SPEED_RULE = "|---|---|---:|---:|---:|---:|---:|---:|---:|"


def _speed_row(n: dict[str, Any]) -> str:
    label = f"{n['model']}" + (" (INT8)" if n["key"] == "int8" else "")
    return (
        f"| {label} | {n['weights']} | {n['stages']} | {n['gmacs_speed']:.2f} | "
        f"{n['latency_ms']:.1f}, {n['latency_p90_ms']:.1f} | {n['fps']:.2f} | {n['throughput_fps']:.2f} | "
        f"{n['gmacs_speed'] * n['fps']:.0f} | {n['round_spread']:.0%} |"
    )


def _disturbance_lines(doc: dict[str, Any]) -> list[str]:
    """Say so when rounds disagree: the machine was busy and the numbers deserve a re-run."""
    rounds = doc["ratio_rounds"]["fps"]
    ratio_spread = max(rounds) / min(rounds) - 1
    noisy = [f"{n['key']} {n['round_spread']:.0%}" for n in doc["networks"] if n["round_spread"] > DISTURBED]
    if ratio_spread <= DISTURBED and not noisy:
        return []
    moved = f", and the median latency of a network moved between rounds by more than {DISTURBED:.0%} "
    moved += f"({', '.join(noisy)})" if noisy else ""
    return [
        f"**Disturbed:** the per-round fps ratios spread by {ratio_spread:.0%}{moved if noisy else ''}: other work "
        "was running on this machine; re-run `make paper` (touch a prerequisite) when it is quiet."
    ]


def _int8_lines(doc: dict[str, Any]) -> list[str]:
    nets = {n["key"]: n for n in doc["networks"]}
    lines = ["## What the INT8 IR adds", ""]
    if "int8" not in nets:
        return [
            *lines,
            "INT8 IR of the lightweight network (`human-pose-estimation-0001/ir/int8/model.xml`): not built.",
        ]
    int8, prop, base = nets["int8"], nets["proposed"], nets["baseline"]
    return [
        *lines,
        SPEED_HEADER,
        SPEED_RULE,
        _speed_row(prop),
        _speed_row(int8),
        "",
        f"INT8 over FP32 (same run, same threads, precision hint f32 for what stays in float): "
        f"{int8['fps'] / prop['fps']:.2f}x in fps, {int8['throughput_fps'] / prop['throughput_fps']:.2f}x in "
        f"throughput; over the FP32 baseline: {int8['fps'] / base['fps']:.1f}x in fps.",
    ]


def _sweep_lines(doc: dict[str, Any], plot: str | None) -> list[str]:
    sweep = [n for n in doc["networks"] if n["key"].startswith("sweep")]
    lines = ["## The cost of refinement stages (`lightweight-openpose`, random-init, NOT trained)", ""]
    if not sweep:
        return [*lines, "No sweep IRs given."]
    lines += [
        "| refinement stages | params | GMACs at 368x368 | GMACs at 256x456 | latency ms | fps | throughput fps |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sweep:
        lines.append(
            f"| {n['stages'] - 1} | {n['params']:,} | {n['gmacs_368']:.2f} | {n['gmacs_speed']:.2f} | "
            f"{n['latency_ms']:.1f} | {n['fps']:.2f} | {n['throughput_fps']:.2f} |"
        )
    if len(sweep) > 1:
        first, last = sweep[0], sweep[-1]
        per_stage_gmacs = (last["gmacs_368"] - first["gmacs_368"]) / (last["stages"] - first["stages"])
        lines += [
            "",
            f"Each refinement stage adds {per_stage_gmacs:.2f} GMACs at 368x368 (paper: 3.4); "
            f"from {first['stages'] - 1} to {last['stages'] - 1} refinement stages the fps falls "
            f"{first['fps'] / last['fps']:.2f}x while the MACs grow {last['gmacs_speed'] / first['gmacs_speed']:.2f}x.",
        ]
    if plot:
        lines += ["", f"![GMACs against fps]({plot})"]
    return lines


def draw_plot(doc: dict[str, Any], path: Path) -> None:
    """GMACs at 256x456 against fps, log-log, written to `path` as it is (write_paper renames it into place)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    sweep = [n for n in doc["networks"] if n["key"].startswith("sweep")]
    if sweep:
        ax.plot([n["gmacs_speed"] for n in sweep], [n["fps"] for n in sweep], "o-", label="lightweight, k refinement")
        for n in sweep:
            ax.annotate(f"k={n['stages'] - 1}", (n["gmacs_speed"], n["fps"]), textcoords="offset points", xytext=(4, 4))
    for n in doc["networks"]:
        if not n["key"].startswith("sweep"):
            ax.plot(n["gmacs_speed"], n["fps"], "s", label=f"{n['key']}: {n['model']}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)
    ax.set_xlabel("GMACs at 256x456")
    ax.set_ylabel("fps (1 / median latency), FP32, precision hint f32")
    ax.set_title("Network compute against speed on this machine")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=PNG_MARK)
    plt.close(fig)
