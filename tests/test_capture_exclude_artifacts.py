"""`capture --exclude-artifacts` drops exactly the planted high-norm tokens of the planted ViT."""
from __future__ import annotations

import numpy as np

from saekit.capture import CaptureConfig, capture
from saekit.data.sample import Dataset, Sample
from stores import ActivationStore
from test_artifacts import planted_hf_vit, planted_images, wrap


def test_capture_excludes_planted_artifact_tokens(tmp_path):
    model = wrap(planted_hf_vit())
    images, truth = planted_images(n=6)
    ds = Dataset.from_samples("planted", [Sample(id=i, source=f"planted/{i}", label="x", text="", image=s.image)
                                          for i, s in enumerate(images)])
    hook = "blocks.1.hook_resid_post"  # before the planted layer: the filter must still use the last layer
    out = tmp_path / "store.h5"
    capture(CaptureConfig(model="planted", data="planted", hooks=(hook,), out=str(out), tokens="patches",
                          exclude_artifacts=True, batch_size=4, progress=False), model=model, dataset=ds)
    with ActivationStore.open(out) as store:
        for i in range(len(images)):
            _, position = store.rows_for_sample(hook, i)
            kept = np.zeros(64, bool)
            kept[np.asarray(position) - 1] = True  # token 0 is CLS; patch p is token p + 1
            assert np.array_equal(kept, ~truth[i]), f"sample {i}"
        assert store.n_rows(hook) == int((~truth).sum())


def test_capture_without_the_flag_keeps_every_patch(tmp_path):
    model = wrap(planted_hf_vit())
    images, truth = planted_images(n=3)
    ds = Dataset.from_samples("planted", [Sample(id=i, source=f"planted/{i}", label="x", text="", image=s.image)
                                          for i, s in enumerate(images)])
    out = tmp_path / "store.h5"
    capture(CaptureConfig(model="planted", data="planted", hooks=("blocks.3.hook_resid_post",), out=str(out),
                          tokens="patches", progress=False), model=model, dataset=ds)
    with ActivationStore.open(out) as store:
        assert store.n_rows("blocks.3.hook_resid_post") == 3 * 64


def test_cli_exclude_artifacts_end_to_end(tmp_path):
    from saekit.cli.main import main
    from test_artifacts import _save_planted

    model_dir, data_dir, truth = _save_planted(tmp_path)
    out = tmp_path / "cli.h5"
    code = main(["capture", "--model", f"hf:{model_dir}", "--data", str(data_dir), "--hook", "blocks.1.hook_resid_post",
                 "--tokens", "patches", "--exclude-artifacts", "--out", str(out), "--no-progress"])
    assert code == 0
    with ActivationStore.open(out) as store:
        assert store.n_rows("blocks.1.hook_resid_post") == int((~truth).sum())
