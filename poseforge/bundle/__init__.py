"""Deployment bundles: the network as a camera feeds it, with everything needed to use and trust it.

    with open_bundle(path) as bundle: bundle.xml, bundle.manifest    # verified, private copy
    build.build_bundle(ir_xml, reports_dir, "dist/<model>-<precision>.tar.gz")   # -> its bundle.json

A bundle holds model.xml and model.bin (an IR taking u8 BGR NHWC frames) and bundle.json
(schema in the README). Loading (archive, manifest) needs only the standard library and numpy,
and sits below the runtime that runs it; building (build, camera) needs openvino.
"""

from .archive import Bundle, open_bundle
from .manifest import SCHEMA, decoder_params

__all__ = ["SCHEMA", "Bundle", "decoder_params", "open_bundle"]
