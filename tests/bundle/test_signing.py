"""Signed bundles: `poseforge keygen`, `bundle --sign`, and `--trust` / `trusted_keys` refusing what a
trusted key did not sign. The signed bundle is made from the session's real build (`made`)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from poseforge.bundle import open_bundle
from poseforge.bundle.signature import read_public_key
from poseforge.errors import PoseforgeError
from tests.bundle.made import Made
from tests.conftest import run_cli
from tests.hostile.helpers import cli, members, refused, rehashed, repack


def keygen(path: Path) -> Path:
    result = run_cli("keygen", "-o", str(path))
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two key pairs (private key paths; the public keys are beside them, .pub): ours and someone else's."""
    root = tmp_path_factory.mktemp("keys")
    return {name: keygen(root / name) for name in ("ours", "theirs")}


def pub(key: Path) -> Path:
    return key.with_name(key.name + ".pub")


def bundle_signed_with(made: Made, key: Path, out: Path) -> Path:
    result = run_cli("bundle", str(made.model_dir / "ir/fp32/model.xml"), "--reports", str(made.model_dir / "reports"),
                     "--sign", str(key), "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"signed with {key}" in result.stdout
    return out


@pytest.fixture(scope="module")
def signed(made: Made, keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundle_signed_with(made, keys["ours"], tmp_path_factory.mktemp("signed") / "signed.tar.gz")


def verify(bundle: Path, *trusted: Path) -> tuple[int, str, str]:
    result = run_cli("verify", str(bundle), *(arg for key in trusted for arg in ("--trust", str(key))))
    return result.returncode, result.stdout, result.stderr


def one_line(code: int, err: str) -> str:
    assert code == 1 and err.count("\n") == 1 and err.startswith("poseforge: error: ") and "Traceback" not in err, err
    return err


def test_keygen_writes_a_key_pair_and_never_replaces_one(tmp_path: Path) -> None:
    key = tmp_path / "release"
    result = run_cli("keygen", "-o", str(key))
    assert result.returncode == 0, result.stderr
    public = read_public_key(pub(key))
    assert f"wrote {key}" in result.stdout and public.fingerprint in result.stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # the private key is its owner's alone
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pub(key).read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    again = run_cli("keygen", "-o", str(key))  # the same name: refused, both files as they were
    assert "exists: keygen never replaces one" in one_line(again.returncode, again.stderr)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

    (tmp_path / "other.pub").write_text("the user's own file")  # only the .pub name is taken: nothing written
    taken = run_cli("keygen", "-o", str(tmp_path / "other"))
    assert str(tmp_path / "other.pub") in one_line(taken.returncode, taken.stderr)
    assert not (tmp_path / "other").exists() and (tmp_path / "other.pub").read_text() == "the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.pub", "release", "release.pub"]  # no temporary

    # a private key under a public key's name: one a careless user publishes (written before)
    named = run_cli("keygen", "-o", str(tmp_path / "release.key.pub"))
    assert "names the private key, which a .pub name would pass for a public one" in one_line(
        named.returncode, named.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.pub", "release", "release.pub"]


def test_signing_adds_bundle_sig_and_keeps_the_unsigned_bytes(
    made: Made, signed: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    unsigned, with_sig = members(made.bundle), members(signed)
    assert list(with_sig) == ["bundle.json", "bundle.sig", *list(unsigned)[1:]]  # the signature right after
    assert {name: data for name, data in with_sig.items() if name != "bundle.sig"} == unsigned
    sig = json.loads(with_sig["bundle.sig"])
    assert sig["schema"] == "poseforge.signature/1" and sig["algorithm"] == "ed25519"
    # Ed25519 is deterministic: the same inputs and key make the same bytes again.
    assert bundle_signed_with(made, keys["ours"], tmp_path / "again.tar.gz").read_bytes() == signed.read_bytes()


def test_a_signed_bundle_verifies_with_its_key_and_no_other(signed: Path, keys: dict[str, Path]) -> None:
    digest = hashlib.sha256(members(signed)["bundle.json"]).hexdigest()
    fingerprint = read_public_key(pub(keys["ours"])).fingerprint
    code, out, err = verify(signed, pub(keys["ours"]))
    assert code == 0, err
    assert f"bundle sha256:{digest}, signed by trusted key {fingerprint} ({pub(keys['ours'])})" in out

    code, out, err = verify(signed, pub(keys["theirs"]))
    assert f"is signed by {fingerprint}, which is not a trusted key" in one_line(code, err) and not out

    code, out, err = verify(signed, pub(keys["theirs"]), pub(keys["ours"]))  # any one of the keys given
    assert code == 0 and "signed by trusted key" in out, err

    code, out, err = verify(signed)  # no key asked for: it verifies, and says it was not checked against one
    assert code == 0 and f"signed by {fingerprint} (not checked against a trusted key" in out, err


def test_the_trust_option_takes_public_keys_only(signed: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = verify(signed, keys["ours"])
    assert "is a private key: trust takes public keys" in one_line(code, err)
    garbage = tmp_path / "garbage.pub"
    garbage.write_bytes(os.urandom(100))
    code, _, err = verify(signed, garbage)
    assert "garbage.pub is not a PEM public key" in one_line(code, err)


# A real key pair on a curve the cryptography library cannot load (openssl ecparam -name brainpoolP160r1).
OTHER_CURVE_PUBLIC = b"""-----BEGIN PUBLIC KEY-----
MEIwFAYHKoZIzj0CAQYJKyQDAwIIAQEBAyoABCuO8WGQq85FKsOzPFOO+nOIQdpz
HZp6iYI+7lcK30eYRcklmXcPH/o=
-----END PUBLIC KEY-----
"""
OTHER_CURVE_PRIVATE = b"""-----BEGIN EC PRIVATE KEY-----
MFQCAQEEFM7bFnSX5vh+MmdxJyjdFP3JjcaDoAsGCSskAwMCCAEBAaEsAyoABCuO
8WGQq85FKsOzPFOO+nOIQdpzHZp6iYI+7lcK30eYRcklmXcPH/o=
-----END EC PRIVATE KEY-----
"""


def test_a_key_of_an_unsupported_curve_is_refused_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Keys are read before the bundle or the IR: refused there, by name, not by the last resort."""
    public, private = tmp_path / "brainpool.pub", tmp_path / "brainpool.key"
    public.write_bytes(OTHER_CURVE_PUBLIC)
    private.write_bytes(OTHER_CURVE_PRIVATE)
    line = refused(cli(capsys, "verify", tmp_path / "any.tar.gz", "--trust", public), public)
    assert "is not an Ed25519 public key" in line
    outcome = cli(capsys, "bundle", tmp_path / "model.xml", "--reports", tmp_path, "--sign", private,
                  "-o", tmp_path / "out.tar.gz")  # fmt: skip
    assert "is not an Ed25519 private key" in refused(outcome, private)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brainpool.key", "brainpool.pub"]


def flipped(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]


@pytest.mark.slow
def test_any_one_byte_change_is_refused(signed: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    """Every byte of the gzip header and trailer, bytes inside bundle.json (the first member, so the
    first kB of the stream) and bytes spread over the whole file: each changed alone is refused."""
    data, trusted = signed.read_bytes(), [pub(keys["ours"])]
    size = len(data)
    positions = [*range(10), *range(12, 4096, 256), *range(4096, size - 8, (size - 4104) // 48), *range(size - 8, size)]
    bad = tmp_path / "changed.tar.gz"
    for position in positions:
        bad.write_bytes(flipped(data, position))
        with pytest.raises(PoseforgeError, match=r"changed\.tar\.gz") as error:
            open_bundle(bad, trusted).close()
        assert "\n" not in str(error.value), position
    assert len(positions) >= 80
    bad.write_bytes(data)
    open_bundle(bad, trusted).close()  # unchanged, it loads: what refused each was its one byte


def test_bundle_json_edited_and_rehashed_is_refused(signed: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    """A forgery consistent in every part (bundle.json and the report it cites both say AP 0.99, every
    sha256 recomputed) passes every integrity check; only the signature tells."""
    files = members(signed)
    report = json.loads(files["report-val.json"])
    report["ap"] = 0.99
    files["report-val.json"] = json.dumps(report, indent=1).encode()
    forged = rehashed(files, lambda m: m["measured"]["val"].update(ap=0.99))
    ours, theirs = pub(keys["ours"]), pub(keys["theirs"])

    kept = repack(tmp_path / "kept.tar.gz", forged)  # the old signature kept: it no longer verifies
    for trusted in ([ours], []):
        code, _, err = verify(kept, *trusted)
        assert "its signature (bundle.sig) does not verify" in one_line(code, err)

    stripped = repack(tmp_path / "stripped.tar.gz", {n: d for n, d in forged.items() if n != "bundle.sig"})
    code, _, err = verify(stripped, ours)
    assert "stripped.tar.gz is not signed: a signature by a trusted key is required" in one_line(code, err)
    code, out, err = verify(stripped)  # without --trust an unsigned bundle loads, and says what that means
    assert code == 0 and "unsigned: its files are the ones its bundle.json lists; who made it is not proved" in out

    from poseforge.bundle.signature import read_private_key, sign

    resigned = repack(tmp_path / "resigned.tar.gz", {**forged, "bundle.sig": sign(read_private_key(keys["theirs"]),
                                                                                   forged["bundle.json"])})  # fmt: skip
    code, _, err = verify(resigned, ours)
    assert "which is not a trusted key" in one_line(code, err)
    code, out, err = verify(resigned, theirs)  # their key vouches for their forgery, and only theirs does
    assert code == 0, err


def test_predict_and_the_estimator_check_the_signature(
    made: Made, signed: Path, keys: dict[str, Path], coco_images: list[Path], tmp_path: Path
) -> None:
    from poseforge import PoseEstimator

    ours, theirs = pub(keys["ours"]), pub(keys["theirs"])
    image = coco_images[0]
    result = run_cli("predict", str(signed), str(image), "-o", str(tmp_path / "out"), "--trust", str(ours))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "predict.json").read_text())
    digest = hashlib.sha256(members(signed)["bundle.json"]).hexdigest()
    assert summary["trust"]["digest"] == digest and summary["trust"]["trusted_key"] == str(ours)
    assert summary["trust"]["signed_by"] == read_public_key(ours).fingerprint
    assert f"trust: bundle sha256:{digest}, signed by trusted key" in result.stdout

    result = run_cli("predict", str(made.bundle), str(image), "-o", str(tmp_path / "refused"), "--trust", str(ours))
    assert "is not signed" in one_line(result.returncode, result.stderr)
    assert not (tmp_path / "refused").exists()

    result = run_cli("predict", str(made.bundle), str(image), "-o", str(tmp_path / "unsigned"))
    assert result.returncode == 0 and "unsigned: its files are the ones" in result.stdout, result.stderr
    assert json.loads((tmp_path / "unsigned" / "predict.json").read_text())["trust"]["signed_by"] is None

    with PoseEstimator(signed, trusted_keys=[ours]) as estimator:
        assert estimator.trust.signer == read_public_key(ours).fingerprint and estimator.trust.digest == digest
    with pytest.raises(PoseforgeError, match="which is not a trusted key"):
        PoseEstimator(signed, trusted_keys=[theirs])
    with pytest.raises(PoseforgeError, match="non-empty list"):  # an empty list is not `trust anyone`
        PoseEstimator(signed, trusted_keys=[])
    with PoseEstimator(made.bundle) as estimator:
        assert estimator.trust.signer is None and "unsigned" in estimator.trust.describe()
