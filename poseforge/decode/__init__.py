"""Pure-NumPy multi-person pose decoder for (Lightweight) OpenPose outputs.

    poses = decode(heatmaps, pafs, geometry, params=DecoderParams())
    results = to_coco_results(poses, image_id)

Conventions: maps are (19 | 38, h, w) at stride 8 on the network input that the Geometry
describes; output coordinates are continuous original-image pixels (the image spans
[0, W] x [0, H], pixel i's centre is at i + 0.5); a missing keypoint is (0, 0, 0) and a
found one has its heatmap peak value (> 0) as score; people come best first.

Imports nothing but NumPy and poseforge.keypoints, so it runs wherever the network does.
"""

from .coco import to_coco_results
from .decoder import decode
from .geometry import Geometry
from .params import DecoderParams
from .poses import Poses

__all__ = ["DecoderParams", "Geometry", "Poses", "decode", "to_coco_results"]
