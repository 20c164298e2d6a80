"""The NumPy bicubic upsampler against cv2 (the behaviour upstream relies on), and bilinear sampling."""

import cv2
import numpy as np
import pytest

from poseforge.decode.resample import cubic_matrix, cubic_weights, sample_bilinear, upsample_cubic


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 8])
@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 7), (5, 1), (2, 3), (46, 69), (32, 57)])
def test_upsample_matches_cv2_inter_cubic(factor: int, h: int, w: int) -> None:
    rng = np.random.default_rng(h * 100 + w + factor)
    maps = rng.standard_normal((3, h, w)).astype(np.float32)
    ours = upsample_cubic(maps, factor)
    theirs = cv2.resize(maps.transpose(1, 2, 0), (w * factor, h * factor), interpolation=cv2.INTER_CUBIC).reshape(
        h * factor, w * factor, 3
    )
    assert ours.shape == (3, h * factor, w * factor)
    np.testing.assert_allclose(ours, theirs.transpose(2, 0, 1), atol=2e-5)


def test_cubic_weights_partition_unity_and_interpolate() -> None:
    t = np.linspace(0, 0.999, 50)
    weights = cubic_weights(t)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(cubic_weights(np.array([0.0]))[0], [0, 1, 0, 0], atol=1e-12)


def test_cubic_matrix_is_cached_and_read_only() -> None:
    m = cubic_matrix(10, 4)
    assert m is cubic_matrix(10, 4)
    with pytest.raises(ValueError):
        m[0, 0] = 1


def test_sample_bilinear_exact_on_linear_field_and_clamped() -> None:
    h, w = 6, 9
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    maps = np.stack([2 * xx + 3 * yy, xx - yy])
    x = np.array([0.0, 0.25, 3.5, 7.9, 8.0, -3.0, 20.0])
    y = np.array([0.0, 4.75, 2.5, 0.1, 5.0, 1.0, -2.0])
    out = sample_bilinear(maps, x, y)
    xc, yc = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    np.testing.assert_allclose(out[0], 2 * xc + 3 * yc, atol=1e-5)
    np.testing.assert_allclose(out[1], xc - yc, atol=1e-5)


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 5), (4, 1)])
def test_sample_bilinear_degenerate_maps(h: int, w: int) -> None:
    maps = np.arange(h * w, dtype=np.float32).reshape(1, h, w)
    out = sample_bilinear(maps, np.array([[0.0, w - 1.0, 0.5 * (w - 1)]]), np.zeros((1, 3)))
    assert out.shape == (1, 1, 3)
    np.testing.assert_allclose(out[0, 0], [0.0, w - 1.0, 0.5 * (w - 1)] if h == 1 else [0, 0, 0])
