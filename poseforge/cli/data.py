"""Commands about where poseforge runs: the data directory (fetch) and the machine."""

from __future__ import annotations

import argparse
import json

from poseforge.cli.common import Command, add_data
from poseforge.errors import PoseforgeError

FETCH_DESCRIPTION = """\
Download what is missing into the data directory from the official URLs: resumable, sha256-checked,
renamed into place only once complete, each bounded by its pinned size and a deadline. Files already
there are checked and kept. A second fetch into the same data directory waits for the first. Offline,
every missing file is listed on its own line with where to put it. WHAT is one of:
  omz         Open Model Zoo FP16-INT8 IR of human-pose-estimation-0001 (xml + bin, 4.6 MB)
  coco-mini   79 val2017 images + keypoint annotations (13 MB, + the 253 MB annotations zip)
  coco-val    138 val2017 images, 266 people with keypoints (22 MB, + the annotations zip)
  coco-calib  367 train2017 images for INT8 calibration, no annotations (59 MB)
  val2017     the full val2017, 5,000 images + keypoint annotations (816 MB zip + the annotations
              zip, 1.9 GB on disk with both zips); use it as --coco DATA/val2017
  all         omz, coco-mini, coco-val and coco-calib (not val2017)
The annotations of coco-mini and coco-val are cut by image id from the official
annotations_trainval2017.zip (kept in DATA/downloads/). An interrupted download leaves FILE.part,
which the next run resumes."""


def _fetch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="?", choices=("omz", "coco-mini", "coco-val", "coco-calib", "val2017", "all"),
                   default="all", help="what to fetch (see above)")  # fmt: skip
    add_data(p)


def _fetch(args: argparse.Namespace) -> None:
    from poseforge.fetch import ALL, data_dir, fetch_sets, verify_data
    from poseforge.text import plural

    names = ALL if args.what == "all" else (args.what,)
    fetch_sets(names, args.data)
    problems = verify_data(args.data)
    if problems:
        found = plural(len(problems), "file")
        verb = "differs" if len(problems) == 1 else "differ"
        raise PoseforgeError(f"{found} in the data directory {verb} from the official: " + "; ".join(problems[:3]))
    print(f"data directory {data_dir(args.data)}: {', '.join(names)} present, sha256 verified")


def _machine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--supports",
        choices=("bf16", "fp16", "int8"),
        help="exit 0 (printing yes) if OpenVINO runs this precision natively here, else 1",
    )
    p.add_argument(
        "--class",
        dest="machine_class",
        action="store_true",
        help="print only the machine class (ISA tier and cores, e.g. x86-amx-2c)",
    )
    p.add_argument("--json", action="store_true", help="everything as JSON")  # fmt: skip
    p.add_argument("--ray-resources", action="store_true",
                   help="print the Ray custom resources that label a node with this class (for `ray start "
                   "--resources`: the fleet bench measures one node of each class)")  # fmt: skip


def _machine(args: argparse.Namespace) -> None:
    from poseforge.machine import machine_info, openvino_capabilities, standin_tiers, supports_precision

    if args.supports:
        if not supports_precision(args.supports):
            raise SystemExit(1)  # a yes/no answer for make: no message
        print("yes")
        return
    info = machine_info()
    if args.ray_resources:
        from poseforge.cluster.session import node_resources

        print(json.dumps(node_resources()))
        return
    if args.machine_class:
        print(info["class"])
        return
    info = {**info, "openvino_capabilities": openvino_capabilities(), "stands_in_for": standin_tiers()}
    if args.json:
        print(json.dumps(info, indent=1))
        return
    cap = f" (emulated on a {info['native_tier']} CPU: {info['isa_cap']})" if "native_tier" in info else ""
    print(f"machine class {info['class']}: ISA tier {info['tier']}{cap}, {info['cores']} cores")
    print(f"cpu: {info['cpu']}; {info['system']}")
    print(f"isa: {' '.join(info['isa']) or '-'}")
    print(
        f"openvino runs natively: {', '.join(info['openvino_capabilities'])}; bf16 "
        f"{'natively' if supports_precision('bf16') else 'emulated (slower than f32)'}"
    )
    print(f"bench --tiers stands in for: {', '.join(info['stands_in_for'])}")


COMMANDS = (
    Command("fetch", "data", "download missing data from official URLs (sha256-checked, resumable)",
            _fetch_arguments, _fetch, FETCH_DESCRIPTION),
    Command("machine", "data", "this machine's class (ISA tier + cores), CPU, ISA, what OpenVINO runs natively",
            _machine_arguments, _machine, "Every report, speed file, bench, baseline section and bundle records the "
            "machine class it was measured on: speed and INT8/bf16 numerics follow the kernels' ISA tier. "
            "ONEDNN_MAX_CPU_ISA makes a better CPU stand in for a lower tier (class suffix -emulated)."),
)  # fmt: skip
