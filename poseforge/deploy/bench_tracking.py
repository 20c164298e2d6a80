"""`poseforge bench-tracking`: do tracks hold? Measured on clips made from real COCO photos.

Each clip of deploy.clips (a pan and a zoom over a crowded photo, two people walking past each
other, a slideshow of three shots) runs through PoseEstimator.stream with track=True, once with
the tracker's defaults and once with the settings of the greedy tracker it replaced (every
person starts a track and has an id at once, no scene cuts: `BEFORE`), and each run is scored by
deploy.tracking_metrics against the annotated people moved with the photo. Both runs keep the
people without an id (emit_unconfirmed) so that what the decoder found can be told from what was
tracked; what the estimator returns by default is the people with an id.

Judged (the issue's targets, on the pan over the crowded photo and the slideshow):
- distinct ids at most 1.5 x the most people in view;
- at least 90% of the tracked poses in tracks of 30 frames or more;
- no id in two shots of the slideshow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from poseforge.deploy.clips import CLIPS, FPS, Clip, Photos
from poseforge.deploy.estimator import PoseEstimator
from poseforge.deploy.scenes import frame_change, thumbnail
from poseforge.deploy.tracking import TrackerParams
from poseforge.deploy.tracking_metrics import LONG_TRACK, track_figures
from poseforge.machine import machine_info

SCHEMA = "poseforge.bench-tracking/1"
# The greedy tracker the defaults replaced: every person with keypoints starts a track with an id,
# and nothing ends tracks but max_age.
BEFORE = TrackerParams(min_hits=1, high_score=0.0, cut_threshold=1.0)
MAX_IDS_PER_PERSON = 1.5
MIN_LONG_SHARE = 0.9


def judge(clips: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets, each with the value measured and whether it holds."""
    pan, slideshow = clips["pan"]["tracker"]["figures"], clips["slideshow"]["tracker"]["figures"]
    per_person = pan["distinct_ids"] / max(pan["people_in_view"], 1)
    long_share = pan["long_track_share"]
    crossed = len(slideshow["ids_across_cuts"])
    targets = (
        ("pan", "distinct ids per person in view", f"<= {MAX_IDS_PER_PERSON}", per_person, f"{per_person:.2f}",
         per_person <= MAX_IDS_PER_PERSON),
        ("pan", f"tracked poses in tracks of {LONG_TRACK}+ frames", f">= {MIN_LONG_SHARE:.0%}", long_share,
         f"{long_share:.1%}", long_share >= MIN_LONG_SHARE),
        ("slideshow", "ids seen in two shots", "0", crossed, str(crossed), crossed == 0),
    )  # fmt: skip
    keys = ("clip", "meaning", "wanted", "value", "shown", "holds")
    return [dict(zip(keys, target, strict=True)) for target in targets]


def run_clip(bundle: str | Path, clip: Clip, params: TrackerParams, precision_hint: str | None,
             threads: int | None) -> dict[str, Any]:  # fmt: skip
    """One clip through the estimator with these tracker settings: its figures and timings."""
    tracker = dataclasses.replace(params, emit_unconfirmed=True)
    with PoseEstimator(bundle, track=True, tracker=tracker, precision_hint=precision_hint, threads=threads) as est:
        poses = list(est.stream(iter(clip.frames), fps=FPS))
        timings = est.timings()["stages"]
        settings = est.settings
    figures = track_figures(clip.truth, clip.shots, clip.labelled, [p.keypoints for p in poses],
                            [p.track_ids for p in poses])  # fmt: skip
    figures["track_ms"] = timings["track"]["median_ms"]
    figures["preprocess_ms"] = timings["preprocess"]["median_ms"]
    return {"figures": figures, "runtime": {k: settings.get(k) for k in ("threads", "precision_hint", "input_size")}}


def frame_changes(clip: Clip) -> dict[str, float | None]:
    """The largest frame change within a shot, and the smallest at a cut (scenes.frame_change)."""
    thumbs = [thumbnail(frame) for frame in clip.frames]
    within, at_cuts = [], []
    for t in range(1, len(thumbs)):
        (at_cuts if clip.shots[t] != clip.shots[t - 1] else within).append(frame_change(thumbs[t - 1], thumbs[t]))
    return {"max_within_shots": max(within, default=None), "min_at_cuts": min(at_cuts, default=None)}


def measure_tracking(
    bundle: str | Path, coco_dir: str | Path, precision_hint: str | None = "f32", threads: int | None = None
) -> dict[str, Any]:
    """Every clip with the defaults and with BEFORE; the targets judged."""
    from poseforge.runtime.bundle_runner import read_bundle

    manifest = read_bundle(bundle)[2]
    photos = Photos(coco_dir)
    clips = {}
    for make in CLIPS.values():  # one clip in memory at a time
        clip = make(photos)
        clips[clip.name] = {
            "description": clip.description,
            "frames": len(clip.frames),
            "people_annotated": len(clip.people),
            "frame_change": frame_changes(clip),
            "tracker": run_clip(bundle, clip, TrackerParams(), precision_hint, threads),
            "before": run_clip(bundle, clip, BEFORE, precision_hint, threads),
        }
    judged = judge(clips)
    return {
        "schema": SCHEMA,
        "bundle": str(bundle),
        "model": manifest["model"],
        "precision": manifest["precision"],
        "precision_hint": precision_hint,
        "coco": str(coco_dir),
        "fps": FPS,
        "tracker": dataclasses.asdict(TrackerParams()),
        "before": dataclasses.asdict(BEFORE),
        "clips": clips,
        "targets": judged,
        "holds": all(t["holds"] for t in judged),
        "machine": machine_info(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def render_tracking(bench: dict[str, Any]) -> None:
    from rich.table import Table

    from poseforge.ui import console

    first = next(iter(bench["clips"].values()))["tracker"]["runtime"]
    table = Table(title=f"bench-tracking: {bench['model']} {bench['precision']} bundle, precision hint "
                        f"{bench['precision_hint']}, {first['threads']} threads, {bench['machine']['cpu']}; "
                        "before -> now (now: the tracker's defaults)")  # fmt: skip
    columns = ("clip", "frames", "people in view", "distinct ids", "ids per person", f"in {LONG_TRACK}+ frame tracks",
               "id switches", "ids across cuts", "people found", "people tracked", "track ms")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "clip" else "right")
    for name, clip in bench["clips"].items():
        now, was = clip["tracker"]["figures"], clip["before"]["figures"]

        def both(key: str, form: str = "{}", now: dict = now, was: dict = was) -> str:
            return f"{form.format(was[key])} -> {form.format(now[key])}"

        def switches(f: dict) -> int:
            return f["id_switches"]["person"] + f["id_switches"]["track"]

        table.add_row(
            name,
            str(now["frames"]),
            str(now["people_in_view"]),
            both("distinct_ids"),
            f"{was['distinct_ids'] / max(was['people_in_view'], 1):.1f} -> "
            f"{now['distinct_ids'] / max(now['people_in_view'], 1):.1f}",
            both("long_track_share", "{:.0%}"),
            f"{switches(was)} -> {switches(now)}",
            f"{len(was['ids_across_cuts'])} -> {len(now['ids_across_cuts'])}",
            f"{now['found']:.0%}",
            both("tracked", "{:.0%}"),
            f"{now['track_ms']:.2f}",
        )
    console().print(table)
    for target in bench["targets"]:
        console().print(f"{target['clip']}: {target['meaning']} {target['shown']} (target {target['wanted']}): "
                        f"{'holds' if target['holds'] else 'FAILS'}")  # fmt: skip
    changes = bench["clips"].get("slideshow", {}).get("frame_change")
    if changes:
        console().print(f"slideshow frame change: at most {changes['max_within_shots']:.3f} within a shot, at "
                        f"least {changes['min_at_cuts']:.3f} at a cut (cut_threshold "
                        f"{bench['tracker']['cut_threshold']})")  # fmt: skip
