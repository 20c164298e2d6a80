"""Commands of the validate stage: speed, validate, compare, report and bench."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from poseforge.artifacts import DEFAULT_HEIGHT, HEIGHT_RANGE, INTEL_INT8, PROTOCOLS, report_key, run_name
from poseforge.cli.common import (
    HEIGHT,
    POSITIVE_INT,
    REPORT_RESAMPLES,
    RESAMPLES,
    ROUNDS,
    SECONDS,
    SEED,
    Command,
    add_allow_subset,
    add_coco,
    add_output,
    add_ray,
    add_runtime,
    add_skip_bad,
    coco_dir,
    runtime_options,
    wrote,
)
from poseforge.errors import PoseforgeError
from poseforge.text import plural


def _speed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="model.pth, an .onnx file, an IR .xml or a bundle")
    add_coco(p, "COCO directory whose images the end-to-end loop reads")
    add_output(p, "speed JSON to write")
    p.add_argument("--iterations", type=POSITIVE_INT, default=50, help="latency iterations after warm-up")
    p.add_argument("--limit", type=POSITIVE_INT, help="use only the first N images for the end-to-end loop")
    add_runtime(p)


def _speed(args: argparse.Namespace) -> None:
    from poseforge.validate.accuracy.dataset import CocoKeypoints
    from poseforge.validate.speed.network import write_speed_file

    images = CocoKeypoints(coco_dir(args)).images(args.limit)
    speed = write_speed_file(args.artifact, images, args.output, runtime_options(args), args.iterations, args.seconds)
    settings, shape = speed["throughput_settings"], speed["shape"]
    name = run_name(speed["artifact"], settings["precision_hint"])
    wrote(args.output, f"{name} latency {speed['latency_ms']['median']:.1f} ms "
          f"(p90 {speed['latency_ms']['p90']:.1f}), throughput {speed['throughput_fps']:.1f} fps, end-to-end "
          f"{speed['e2e_fps']:.1f} fps, decode {speed['decode_deploy_ms']['median']:.2f} ms at {shape[2]}x{shape[3]}, "
          f"{plural(settings['threads'], 'thread')}, precision hint {settings['precision_hint']}")  # fmt: skip


def _validate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="model.pth, an .onnx file, an IR .xml or a bundle")
    add_coco(p)
    p.add_argument("--protocol", choices=PROTOCOLS, required=True, help="how images become network inputs")
    p.add_argument("--height", type=HEIGHT, help=f"with --protocol native: the input height (a multiple of 8 from "
                   f"{HEIGHT_RANGE[0]} to {HEIGHT_RANGE[1]}; default {DEFAULT_HEIGHT}, the deploy height); another "
                   "height is a run of its own: reports/<artifact>-native@<height>.json")  # fmt: skip
    p.add_argument("--limit", type=POSITIVE_INT, help="only the first N images (by id): a subset report, which "
                   "report, baseline, bundle and gate refuse unless --allow-subset; needs -o")  # fmt: skip
    add_skip_bad(p)
    p.add_argument("--allow-overlap", action="store_true", help="score an INT8 IR on images it was calibrated on "
                   "(refused otherwise: its AP there is optimistic); the report's notes say so")  # fmt: skip
    p.add_argument("--resamples", type=REPORT_RESAMPLES, default=1000, help="bootstrap resamples of the AP interval")
    p.add_argument("--speed", help="speed JSON from `poseforge speed` to include instead of measuring")
    p.add_argument("--no-speed", action="store_true", help="accuracy only")
    p.add_argument("--reference", metavar="REPORT", help="the FP32 IR's report under the same protocol, on the same "
                   "images, to score the agreement against (default: ir-fp32-<protocol>.json beside the report, "
                   "when there is one)")  # fmt: skip
    add_output(p, "report to write (default: build/<model>/reports/<artifact>-<protocol>.json)", required=False)
    add_runtime(p, threads="all cores; with --ray, 1 per worker, all cores of a node for torch")
    add_ray(p, "split the images into shards run as tasks (the results are the bytes one process writes)")
    p.add_argument("--shards", type=POSITIVE_INT, help="with --ray: shards (default: 4 per worker)")
    p.add_argument("--workers", type=POSITIVE_INT, help="with a local --ray: its CPUs (default: this machine's cores)")


def _validate(args: argparse.Namespace) -> None:
    from poseforge.validate.accuracy.validate import default_report_path, validate_artifact
    from poseforge.validate.speed.network import read_speed_file

    options = runtime_options(args)
    if args.height is not None and args.protocol != "native":
        raise PoseforgeError(f"--height sets the native protocol's input height; {args.protocol} runs at its own")
    speed = read_speed_file(args.speed, args.artifact, options.precision_hint) if args.speed else None

    # -o stays None when not given: validate_artifact then refuses a subset (--limit) that would
    # take the place of the full report at the default path.
    def run(sharding: Any = None) -> dict[str, Any]:
        return validate_artifact(args.artifact, coco_dir(args), args.protocol, args.output, options=options,
                                 limit=args.limit, skip_bad=args.skip_bad, speed=speed, measure=not args.no_speed,
                                 speed_seconds=args.seconds, resamples=args.resamples, sharding=sharding,
                                 input_height=args.height, reference=args.reference,
                                 allow_overlap=args.allow_overlap)  # fmt: skip

    if args.ray is None:
        if args.shards or args.workers:
            raise PoseforgeError("--shards and --workers go with --ray")
        report = run()
    else:
        from poseforge.cluster.session import ray_cluster
        from poseforge.cluster.shards import ray_sharding
        from poseforge.validate.accuracy.shards import shard_threads

        threads = args.threads or shard_threads(args.artifact)
        options = options.replace(threads=threads)
        with ray_cluster(args.ray, "validate", args.workers) as cluster:
            report = run(ray_sharding(cluster, threads, args.shards))
    wrote(args.output or default_report_path(report), report_line(report))


def report_line(report: dict[str, Any]) -> str:
    """What a report says, in one line: AP with its interval, on which images, and its speed."""
    interval, dataset = report["interval"], report["dataset"]
    bounds = f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""
    skipped = f", {plural(len(report['skipped_images']), 'bad image')} skipped" if report["skipped_images"] else ""
    agreed = report.get("agreement")
    agreement = (f", agreement with {agreed['reference']['artifact']} {agreed['ap']:.3f} "
                 f"[{agreed['interval']['low']:.3f}, {agreed['interval']['high']:.3f}]" if agreed else "")  # fmt: skip
    speed = (
        f", latency {report['latency_ms']['median']:.1f} ms, {report['throughput_fps']:.1f} fps, "
        f"end-to-end {report['e2e_fps']:.1f} fps"
        if report["latency_ms"]
        else ""
    )
    return (
        f"{run_name(report['artifact'], report['precision_hint'])} {report_key(report)}: AP {report['ap']:.3f}{bounds} "
        f"(AP50 {report['ap50']:.3f}, "
        f"AR {report['ar']:.3f}) on {plural(report['images'], 'image')} of {dataset['name']}, "
        f"{plural(dataset['people'], 'person', 'people')}"
        f"{skipped}{agreement}, decode {report['decode_ms']:.2f} ms{speed}"
    )


def _compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", help="report A (reports/<artifact>-<protocol>.json)")
    p.add_argument("b", help="report B, scored on the same images")
    p.add_argument("--resamples", type=RESAMPLES, default=1000, help="bootstrap resamples")
    p.add_argument("--seed", type=SEED, default=0, help="resampling seed")
    p.add_argument("--cross-protocol", action="store_true", help="compare reports of different protocols (or native "
                   "heights) anyway: their difference is then the protocols' as much as the artifacts'")  # fmt: skip
    add_output(p, "also write the comparison as JSON", required=False)


def _compare(args: argparse.Namespace) -> None:
    from poseforge.fileio import claim, write_json
    from poseforge.validate.accuracy.compare import compare_reports, summary_lines

    if args.output:
        claim(args.output)  # refused now (a results file the reports name included), not after the resamples
    comparison = compare_reports(args.a, args.b, args.resamples, args.seed, args.cross_protocol)
    for line in summary_lines(comparison):
        print(line)
    if args.output:
        write_json(args.output, {"schema": "poseforge.comparison/1", **comparison})
        wrote(args.output)


def _named(argument: str) -> tuple[str, Path]:
    """--artifact [NAME=]PATH. Names and paths may both hold '=' (a sweep's row `preset=mixed`, a folder
    runs/preset=mixed/): PATH is what follows the first '=' that leaves an existing file, the whole
    argument where it names a file itself; failing both, the first '=' splits, unless NAME would hold a '/'."""
    if Path(argument).exists():
        return argument, Path(argument)
    splits = [(argument[:i], argument[i + 1 :]) for i, c in enumerate(argument) if c == "="]
    for name, path in splits:
        if name and Path(path).exists():
            return name, Path(path)
    name, path = splits[0] if splits else ("", "")
    return (name, Path(path)) if name and "/" not in name else (argument, Path(argument))


def _agreement_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="build/<model>: its reports/*.json, or with --images its IRs (with --images "
                   "also an FP32 IR .xml alone: then only the --artifact runs are scored against it)")  # fmt: skip
    p.add_argument("--images", metavar="DIR", help="instead of the reports: run the folder's IRs on DIR's images (no "
                   "labels; the images any INT8 network was calibrated on are left out)")  # fmt: skip
    p.add_argument("--protocol", choices=PROTOCOLS, help="only this protocol (with --images: default val)")
    p.add_argument("--artifact", dest="extra", type=_named, action="append", default=[], metavar="[NAME=]PATH",
                   help="with --images: also score this artifact (an IR of other INT8 settings, a bundle; "
                        "repeatable)")  # fmt: skip
    p.add_argument("--limit", type=POSITIVE_INT, help="with --images: only the first N images left")
    p.add_argument("--versus", default=INTEL_INT8, metavar="RUN",
                   help="the run every other's paired difference is to (e.g. an --artifact's NAME)")  # fmt: skip
    p.add_argument("--resamples", type=RESAMPLES, default=1000, help="bootstrap resamples")
    add_allow_subset(p)
    add_output(p, "also write the tables as JSON", required=False)


def _agreement(args: argparse.Namespace) -> None:
    from poseforge.documents import AGREEMENT, write_document
    from poseforge.fileio import claim
    from poseforge.validate.accuracy.agreement_reports import report_tables, table_lines
    from poseforge.validate.gate import comparable_reports

    if args.output:
        claim(args.output)
    if args.images:
        from poseforge.validate.accuracy.agreement_folder import folder_table

        tables = [folder_table(args.model_dir, args.images, args.protocol or "val", args.extra,
                               args.limit, args.resamples, versus=args.versus)]  # fmt: skip
        model = tables[0]["model"]
    else:
        if args.extra or args.limit:
            raise PoseforgeError("--artifact and --limit go with --images (the reports hold what they measured)")
        rows = comparable_reports(args.model_dir, args.allow_subset)
        chosen = [(name, protocol, path) for name, protocol, path, _ in rows if args.protocol in (None, protocol)]
        tables = report_tables(chosen, args.resamples, 0, versus=args.versus)
        if not tables:
            raise PoseforgeError(f"no report in {Path(args.model_dir) / 'reports'} has an ir-fp32 report of its "
                                 "protocol beside it to be scored against")  # fmt: skip
        model = rows[0][3]["model"]
    if args.versus != INTEL_INT8 and (missing := [t["protocol"] for t in tables if args.versus not in t["runs"]]):
        raise PoseforgeError(f"--versus {args.versus} is not among the runs scored ({', '.join(missing)} protocol)")
    for table in tables:
        print("\n".join(table_lines(table)))
    if args.output:
        write_document(args.output, AGREEMENT, {"schema": AGREEMENT.schema, "model": model, "tables": tables})
        wrote(args.output)


def _report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="build/<model> (reads its reports/*.json)")
    p.add_argument("--coco", help="COCO directory, for the example image with decoded skeletons")
    add_allow_subset(p)


def _report(args: argparse.Namespace) -> None:
    from poseforge.validate.reporting.report import write_report

    for path in write_report(args.model_dir, args.coco, args.allow_subset):
        wrote(path)


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="build/<model> (measures every artifact in it; needs the IR FP32)")
    add_coco(p)
    p.add_argument("--limit", type=POSITIVE_INT, help="only the first N images")
    p.add_argument("--rounds", type=ROUNDS, default=3, help="interleaved rounds")
    add_output(p, "JSON to write (build/<model>/bench.json, read by the gate and report; with --tiers "
               "build/<model>/bench-tiers.json)", required=False)  # fmt: skip
    p.add_argument("--seconds", type=SECONDS, default=10.0, help="throughput and end-to-end time per run")
    p.add_argument(
        "--tiers",
        action="store_true",
        help="instead: every IR under each ISA tier this CPU can stand "
        "in for (each in its own process, interleaved rounds; INT8 validated per tier on --coco)",
    )
    p.add_argument("--no-validate", action="store_true", help="with --tiers: speed only")  # fmt: skip
    add_ray(p, "instead: the fleet bench, every IR measured on one node of each machine class (nodes labelled "
            "by `poseforge machine --ray-resources`; a cluster of this machine alone stands in for its ISA tiers), "
            "written to -o (build/<model>/bench-fleet.json)")  # fmt: skip


def _bench(args: argparse.Namespace) -> None:
    from poseforge.validate.speed.bench import run_bench
    from poseforge.validate.speed.tiers import run_tiers

    if args.ray is not None:
        from poseforge.cluster.fleet import run_fleet
        from poseforge.cluster.session import ray_cluster

        if args.tiers or args.no_validate:
            raise PoseforgeError("--ray measures speed on each class: it goes without --tiers and --no-validate")
        with ray_cluster(args.ray, "bench") as cluster:
            run_fleet(args.model_dir, cluster, args.output, args.seconds / 2, args.rounds)
    elif args.tiers:
        run_tiers(args.model_dir, None if args.no_validate else coco_dir(args), args.output, args.seconds / 2,
                  args.rounds, args.limit)  # fmt: skip
    else:
        if args.no_validate:
            raise PoseforgeError("--no-validate goes with --tiers")
        run_bench(args.model_dir, coco_dir(args), args.limit, args.seconds, args.rounds, args.output)
    if args.output:
        wrote(args.output)


def _scaling_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="the artifact to validate (an IR .xml, ...)")
    add_coco(p, "COCO directory whose images are replicated into the set")
    p.add_argument("--images", type=POSITIVE_INT, default=2000, help="images in the replicated set")
    p.add_argument("--workers", type=POSITIVE_INT, nargs="+", default=[1, 2], help="local Ray worker counts")
    add_output(p, "also write the figures as JSON", required=False)


def _scaling(args: argparse.Namespace) -> None:
    from poseforge.cluster.scaling import run_scaling

    run_scaling(args.artifact, coco_dir(args), args.images, tuple(args.workers), args.output)
    if args.output:
        wrote(args.output)


COMMANDS = (
    Command("speed", "validate", "measure an artifact's speed at its deploy shape (256x456)", _speed_arguments,
            _speed, "Network latency (LATENCY hint, one request: median, p90), throughput (THROUGHPUT hint, async "
            "queue), decode time and end-to-end fps of the pipelined loop (read, letterbox, infer frame N+1 while "
            "decoding frame N) over the COCO images. Writes a JSON speed block that `validate --speed` reuses."),
    Command("validate", "validate", "COCO keypoint AP (with its interval) and speed of any artifact",
            _validate_arguments, _validate, "Run an artifact (model.pth with torch, .onnx with onnxruntime, IR .xml "
            "with OpenVINO CPU, a bundle) over the COCO images under a protocol (val: height 368, bicubic, centre "
            "pad to a multiple of 8; deploy: the artifact's 256x456, letterbox), decode with the shared decoder, "
            "score with pycocotools, with a 95% bootstrap interval. Writes reports/<artifact>-<protocol>.json and "
            "its pycocotools results under reports/results/ as one unit."),
    Command("compare", "validate", "the paired AP difference of two reports on the same images, with its interval",
            _compare_arguments, _compare, "Re-match both reports' pycocotools results once, then score both on the "
            "same bootstrap resamples of the images: AP of each with its interval, and the paired interval of "
            "AP(B) - AP(A). Only a paired interval that excludes 0 says that one is more accurate. Prints each "
            "report's run, protocol and image set, and the timings of the matching and the resamples; reports of "
            "different protocols (or native heights) are refused unless --cross-protocol."),
    Command("agreement", "validate", "each artifact's agreement with the FP32 IR's poses (no labels), with intervals",
            _agreement_arguments, _agreement, "Score every run's poses against the FP32 IR's own poses as ground "
            "truth (pycocotools' keypoint OKS-AP under the same protocol; FP32 against itself scores 1), with 95% "
            "bootstrap intervals and each run's paired difference to Intel's INT8 release: from the reports' "
            "results (every file checked by sha256), or with --images by running the folder's IRs (and any "
            "--artifact) on a folder of images, leaving out those an INT8 network was calibrated on. Needs no "
            "labels, and resolves far smaller differences than AP: it ranks closeness to FP32, not accuracy."),
    Command("report", "validate", "write report.md and report.png from a model's reports", _report_arguments,
            _report),
    Command("bench", "validate", "every artifact's speed and the speed targets, as ratios measured in one run",
            _bench_arguments, _bench, "Decode the same network outputs with poseforge's decoder and with the "
            "upstream procedure, both protocols; compare decode time with the IR FP32 network latency and "
            "end-to-end with network throughput; measure every artifact in the folder (and the FP32 IR under bf16 "
            "where the CPU runs it natively) in interleaved rounds, INT8 against the FP32 IR and Intel's release "
            "among them. Prints measured ratios against the targets, the host's load, and which artifact and "
            "precision hint to deploy on this machine class; -o writes them for the gate and the report. With "
            "--tiers: the same for every ISA tier this CPU can stand in for (ONEDNN_MAX_CPU_ISA, one process "
            "per tier), INT8 validated under each, a table per tier. With --ray: the fleet bench, one node of "
            "each machine class."),
    Command("bench-scaling", "validate", "sharded validation's speed-up with 1 and 2 local Ray workers (a benchmark)",
            _scaling_arguments, _scaling, "Validate a set of --images images (the COCO set replicated under new ids) "
            "in one process, then sharded on a local Ray of each --workers count (one thread each); print each "
            "time, the speed-up over one worker and the scaling model T(W) = S + P/W fitted on the 1-worker run "
            "(S: merging, scoring and set-up, serial; P: the shards' work). Needs the cluster extra."),
)  # fmt: skip
