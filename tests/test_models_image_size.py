"""`<vision spec>@SIZE` feeds the model SIZE x SIZE images, and the store records it."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from saekit.capture import CaptureConfig, capture
from saekit.common.errors import SaekitError
from saekit.models import load_model
from stores import ActivationStore


def test_size_suffix_changes_the_patch_grid_and_forward(tmp_path):
    base, bigger = load_model("random:vit"), load_model("random:vit@48")
    assert bigger.image_size == 48 and bigger.patch_grid == (48 // base.patch_size,) * 2
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    from saekit.data.sample import Sample

    acts = bigger.capture(bigger.prepare([Sample(id=0, source="x", image=img)]), ["blocks.0.hook_resid_post"])
    assert acts["blocks.0.hook_resid_post"].shape[1] == 1 + (48 // base.patch_size) ** 2


def test_store_records_the_size(tmp_path):
    for label in ("a", "b"):
        (tmp_path / "img" / label).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 40), (i * 90, 20, 200)).save(tmp_path / "img" / label / f"{i}.png")
    out = tmp_path / "s.h5"
    capture(CaptureConfig(model="random:vit@48", data=str(tmp_path / "img"), hooks=("blocks.0.hook_resid_post",),
                          out=str(out), tokens="patches", progress=False))
    with ActivationStore.open(out) as s:
        assert s.attrs["image_size"] == 48 and list(s.attrs["patch_grid"]) == [6, 6]
        assert s.n_rows("blocks.0.hook_resid_post") == 4 * 36


@pytest.mark.parametrize("spec", ["random:gpt2@32", "random:vit@0", "random:vit@big"])
def test_bad_size_suffix(spec):
    with pytest.raises(SaekitError):
        load_model(spec)
