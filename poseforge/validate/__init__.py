"""The validate stage: COCO keypoint AP and speed of any artifact, the report, the bench and the gate."""
