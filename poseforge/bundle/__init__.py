"""Deployment bundles: the network as a camera feeds it, with everything needed to use and trust it.

    with open_bundle(path, trusted_keys=None) as bundle: bundle.xml, bundle.manifest, bundle.trust
    build.build_bundle(ir_xml, reports_dir, "dist/<model>-<precision>.tar.gz")   # -> its bundle.json

A bundle holds model.xml and model.bin (an IR taking u8 BGR NHWC frames), the validation reports
its figures come from, bundle.json (schema in the README), and bundle.sig when signed. Loading
(archive, manifest, signature) needs the standard library, numpy and cryptography, and sits below
the runtime that runs it; building (build, camera) needs openvino.
"""

from .archive import Bundle, Trust, open_bundle
from .manifest import SCHEMA, decoder_params

__all__ = ["SCHEMA", "Bundle", "Trust", "decoder_params", "open_bundle"]
