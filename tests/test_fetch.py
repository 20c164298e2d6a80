"""The data directory and downloads: sha256-checked, atomic, and clear when offline. No network."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from poseforge import fetch
from poseforge.errors import PoseforgeError
from poseforge.fetch import RemoteFile, cut_annotations, download, ensure_file
from tests.conftest import run_cli

OFFLINE_URL = "http://127.0.0.1:9/human-pose-estimation-0001.xml"  # discard port: refused at once


def test_download_checks_sha256(tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"official bytes")
    good = hashlib.sha256(b"official bytes").hexdigest()
    dest = download(source.as_uri(), tmp_path / "data" / "file.bin", good, progress=False)
    assert dest.read_bytes() == b"official bytes"
    with pytest.raises(PoseforgeError, match=r"expected 0{64}: refused, nothing written"):
        download(source.as_uri(), tmp_path / "data" / "other.bin", "0" * 64, progress=False)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["file.bin"]


def test_offline_says_which_file_to_put_where(tmp_path: Path) -> None:
    remote = RemoteFile("omz/model.xml", OFFLINE_URL, "a" * 64)
    with pytest.raises(PoseforgeError) as info:
        ensure_file(remote, tmp_path)
    message = str(info.value)
    assert OFFLINE_URL in message and str(tmp_path / "omz" / "model.xml") in message and "a" * 64 in message
    assert not (tmp_path / "omz").exists() or not any((tmp_path / "omz").iterdir())


def test_fetch_command_offline_fails_cleanly(tmp_path: Path) -> None:
    # A dead proxy makes this machine offline for the child process, whatever the network.
    dead = "http://127.0.0.1:9"
    env = {"POSEFORGE_DATA": str(tmp_path), "PATH": "/usr/bin:/bin", "HTTP_PROXY": dead, "HTTPS_PROXY": dead}
    result = run_cli("fetch", "omz", env=env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith("poseforge: error: cannot download") and "put that file at" in line
    assert "\n" not in line


def test_present_file_with_wrong_sha256_is_refused(tmp_path: Path) -> None:
    remote = RemoteFile("x.bin", OFFLINE_URL, "b" * 64)
    (tmp_path / "x.bin").write_bytes(b"tampered")
    with pytest.raises(PoseforgeError, match="delete it to download it again"):
        ensure_file(remote, tmp_path)


def test_the_real_assets_match_the_official_checksums(assets: Path) -> None:
    assert [ensure_file(remote, assets) for remote in fetch.OMZ_FILES]  # present: no download
    assert fetch.verify_data(assets) == []
    manifest = fetch.coco_mini_manifest()
    assert len(manifest["images"]) == 79
    assert {p.name for p in (assets / "coco-mini" / "val2017").glob("*.jpg")} == {
        i["file_name"] for i in manifest["images"]
    }


def test_cut_annotations_keeps_schema_and_only_the_wanted_images(assets: Path) -> None:
    full = json.loads((assets / "coco-mini" / "annotations" / "person_keypoints_val2017.json").read_text())
    with_people = sorted({a["image_id"] for a in full["annotations"]})[:5]
    cut = cut_annotations(full, with_people)
    assert cut.keys() == full.keys() and cut["categories"] == full["categories"]
    assert {i["id"] for i in cut["images"]} == set(with_people)
    assert cut["annotations"] == [a for a in full["annotations"] if a["image_id"] in set(with_people)]
    whole = cut_annotations(full, [i["id"] for i in fetch.coco_mini_manifest()["images"]])
    assert len(whole["annotations"]) == fetch.coco_mini_manifest()["num_annotations"]
    with pytest.raises(PoseforgeError, match="lacks 1 of the requested images"):
        cut_annotations(full, [*with_people, -1])


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSEFORGE_DATA", str(tmp_path))
    assert fetch.data_dir() == tmp_path
    assert fetch.data_dir("/elsewhere") == Path("/elsewhere")
    monkeypatch.delenv("POSEFORGE_DATA")
    assert fetch.data_dir() == Path.home() / ".cache" / "poseforge"
