"""The keypoint schema of (Lightweight) OpenPose, defined once.

Every network here predicts 19 heatmaps (18 keypoints + background) and 38 part affinity
fields (19 limbs, an x and a y channel each) at stride 8. This module says what those
channels mean; it is written into every artifact's metadata and read by the decoder.
Pure Python: anything may import it.
"""

from __future__ import annotations

# The 18 OpenPose keypoints, in heatmap channel order (channel 18 is the background).
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "r_sho", "r_elb", "r_wri",
    "l_sho", "l_elb", "l_wri",
    "r_hip", "r_knee", "r_ank",
    "l_hip", "l_knee", "l_ank",
    "r_eye", "l_eye", "r_ear", "l_ear",
)  # fmt: skip
NUM_KEYPOINTS = len(KEYPOINT_NAMES)  # 18
NUM_HEATMAPS = NUM_KEYPOINTS + 1  # + background
NECK = 1

# The 19 limbs as (keypoint a, keypoint b), in the order the PAF grouping visits them:
# it grows people outwards from the neck, so a limb's first keypoint is always known
# before it is used. The last two (shoulder -> ear) only close loops.
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7),
    (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
    (2, 16), (5, 17),
)  # fmt: skip

# For each limb, the PAF channels holding its (x, y) direction field.
LIMB_PAF_CHANNELS: tuple[tuple[int, int], ...] = (
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25),
    (0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11),
    (28, 29), (30, 31), (34, 35), (32, 33), (36, 37),
    (18, 19), (26, 27),
)  # fmt: skip
NUM_PAFS = 2 * len(LIMBS)  # 38

# COCO's 17 keypoints (person_keypoints_*.json order) and, for each OpenPose keypoint,
# its COCO index; the neck has none (-1).
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
OPENPOSE_TO_COCO: tuple[int, ...] = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
# The other way: the OpenPose keypoint at each COCO index.
COCO_FROM_OPENPOSE: tuple[int, ...] = tuple(OPENPOSE_TO_COCO.index(c) for c in range(len(COCO_KEYPOINT_NAMES)))

# Limbs drawn on images: the grouping limbs without the two loop-closing ones.
SKELETON: tuple[tuple[int, int], ...] = LIMBS[:17]

STRIDE = 8


def schema_metadata() -> dict:
    """The schema as plain JSON-able data, for an artifact's metadata."""
    return {
        "keypoint_names": list(KEYPOINT_NAMES),
        "heatmap_channels": [*KEYPOINT_NAMES, "background"],
        "limbs": [list(limb) for limb in LIMBS],
        "limb_paf_channels": [list(ch) for ch in LIMB_PAF_CHANNELS],
        "skeleton": [list(limb) for limb in SKELETON],
        "coco_keypoint_names": list(COCO_KEYPOINT_NAMES),
        "openpose_to_coco": list(OPENPOSE_TO_COCO),
        "stride": STRIDE,
    }
