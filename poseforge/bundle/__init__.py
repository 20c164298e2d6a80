"""Deployment bundles: the network as a camera feeds it, with everything needed to use and trust it.

    build_bundle(ir_xml, reports_dir, "dist/<model>-<precision>.tar.gz")   # -> its bundle.json
    with open_bundle(path) as bundle: bundle.xml, bundle.manifest            # verified, private copy

A bundle holds model.xml and model.bin (an IR taking u8 BGR NHWC frames) and bundle.json
(schema in the README). Loading needs only openvino, numpy and the standard library.
"""

from .archive import Bundle, open_bundle
from .build import build_bundle
from .manifest import SCHEMA, decoder_params

__all__ = ["SCHEMA", "Bundle", "build_bundle", "decoder_params", "open_bundle"]
