"""High-norm artifact tokens, register neurons and test-time registers on a tiny ViT with PLANTED artifacts.

The planted ViT (HF ViTModel, 4 layers, d=64, 32 px, patch 4 -> 8x8 patches) is built by hand:
- the patch embedding writes an anchor (+A, -A) that fixes every token's LayerNorm scale, and 12
  within-patch pixel differences;
- block 0's MLP turns those into a "texture" feature sum |difference| (pairs of GELU neurons);
- block 2's MLP has two register neurons GELU(b - g * texture): they fire only on uniform
  (zero-texture) patches and write a huge vector (norm ~800 vs ~75) into 8 "massive" dims;
- in block 3 the queries attend to the massive dims, so CLS attention sinks into the outliers.
Ground truth: the uniform patches painted into noise images are exactly the artifact tokens.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from saekit.analysis.artifacts.config import ArtifactConfig
from saekit.analysis.artifacts.outliers import analyze_artifacts
from saekit.analysis.artifacts.registers import use_test_time_registers
from saekit.capture.artifact_tokens import artifact_token_mask, auto_threshold
from saekit.results.artifacts import RegisterNeuron, TestTimeRegisters
from saekit.common.errors import SaekitError

A, G, B_REG, G_REG, M_OUT = 50.0, 3.0, 4.0, 20.0, 70.0
TEX, MASSIVE = 14, list(range(20, 28))
PLANT_LAYER = 2


@dataclass(frozen=True)
class Img:
    id: int
    image: Any
    source: str = "synthetic"
    label: Any = None
    text: Any = None


def planted_hf_vit(plant: bool = True, n_layers: int = 4):
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(hidden_size=64, num_hidden_layers=n_layers, num_attention_heads=4, intermediate_size=128,
                    image_size=32, patch_size=4, layer_norm_eps=1e-12, hidden_act="gelu")
    m = ViTModel(cfg, add_pooling_layer=False).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        for name, mod in m.named_modules():
            if name.split(".")[-1].startswith("layernorm"):
                mod.weight.fill_(1.0)
        pe = m.embeddings.patch_embeddings.projection
        pe.bias[0], pe.bias[1] = A, -A
        k = 0
        for c in range(3):
            for r in range(4):
                c0 = 0 if r % 2 == 0 else 2
                pe.weight[2 + k, c, r, c0] = 1.0
                pe.weight[2 + k, c, r, c0 + 1] = -1.0
                k += 1
        cls = m.embeddings.cls_token
        cls[0, 0, 0], cls[0, 0, 1], cls[0, 0, TEX] = A, -A, 30.0  # textured: CLS is not an artifact
        sigma = A * (2 / 64) ** 0.5                              # LayerNorm scale set by the anchor
        mlp0 = m.layers[0].mlp
        for n in range(24):
            mlp0.fc1.weight[n, 2 + n // 2] = (1 if n % 2 == 0 else -1) * G * sigma
            mlp0.fc2.weight[TEX, n] = 1.0
        if plant:
            mlp = m.layers[PLANT_LAYER].mlp
            for n in range(2):
                mlp.fc1.weight[n, TEX] = -G_REG
                mlp.fc1.bias[n] = B_REG
                for d in MASSIVE[4 * n: 4 * n + 4]:
                    mlp.fc2.weight[d, n] = M_OUT
        for i in range(PLANT_LAYER + 1, n_layers):
            att = m.layers[i].attention
            for h in range(4):
                for d in MASSIVE:
                    att.k_proj.weight[16 * h, d] = 1 / 8
                att.q_proj.bias[16 * h] = 12.0
    return m


def wrap(hf_model):
    from saekit.models.hf_vision import HFVisionModel
    from saekit.models.preprocess import HALF

    return HFVisionModel(hf_model, {"size": 32, "mean": HALF, "std": HALF, "resample": "nearest"}, model_id="planted-vit")


def planted_images(n: int = 16, seed: int = 0, per_image: tuple[int, int] = (2, 6)):
    """Noise images with a few uniform-colour patches; returns samples and the truth mask [n, 64]."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    samples, truth = [], []
    for i in range(n):
        img = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
        cells = rng.choice(64, size=int(rng.integers(per_image[0], per_image[1] + 1)), replace=False)
        mask = np.zeros(64, bool)
        for c in cells:
            r, cc = divmod(int(c), 8)
            img[r * 4:(r + 1) * 4, cc * 4:(cc + 1) * 4] = rng.integers(0, 256, size=3, dtype=np.uint8)
            mask[c] = True
        samples.append(Img(id=i, image=Image.fromarray(img)))
        truth.append(mask)
    return samples, np.stack(truth)


@pytest.fixture(scope="module")
def planted():
    torch.manual_seed(0)
    model = wrap(planted_hf_vit())
    samples, truth = planted_images()
    report, stats = analyze_artifacts(model, samples, ArtifactConfig())
    return model, samples, truth, report, stats


def precision_recall(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    tp = float((pred & truth).sum())
    return tp / max(pred.sum(), 1), tp / max(truth.sum(), 1)


# ----------------------------------------------------------------------------- the threshold rule


def test_auto_threshold_finds_the_gap_and_nothing_on_clean_norms():
    rng = np.random.default_rng(0)
    bulk = rng.normal(50, 5, size=2000).clip(30)
    high = rng.uniform(200, 600, size=40)
    t = auto_threshold(np.concatenate([bulk, high]))
    assert t is not None and bulk.max() < t < high.min()
    # a clean layer (max ~1.7x the median, like the real DINOv2-small) has no outliers
    clean = rng.lognormal(np.log(50), 0.12, size=5000)
    assert clean.max() / np.median(clean) < 2.0
    assert auto_threshold(clean) is None
    # the sparse top of the high mode holds a larger jump (600 -> 3000) than the valley: still the valley
    t2 = auto_threshold(np.concatenate([bulk, high, [3000.0]]))
    assert bulk.max() < t2 < high.min()


def test_config_rejects_bad_threshold():
    with pytest.raises(SaekitError, match="threshold"):
        ArtifactConfig(threshold=-1.0)


# ----------------------------------------------------------------------------- detection on the planted ViT


def test_planted_outliers_flagged_with_precision_and_recall(planted):
    model, samples, truth, report, _ = planted
    assert report.first_outlier_layer == PLANT_LAYER
    for row in report.layers[:PLANT_LAYER]:
        assert row.n_outliers == 0 and row.threshold is None
    for layer in range(PLANT_LAYER, model.n_layers):
        p, r = precision_recall(report.masks[:, layer], truth)
        assert p >= 0.95 and r >= 0.95, (layer, p, r)
        row = report.layers[layer]
        assert row.outlier_frac == pytest.approx(truth.mean(), abs=0.01)
        # outliers are dissimilar to their neighbours at the layer; their input patches are redundant
        assert row.cos_to_neighbours.outliers < row.cos_to_neighbours.normal - 0.3
        assert row.input_cos_to_neighbours.outliers > row.input_cos_to_neighbours.normal
    # block 3 attends from CLS into the outliers of its input: far above their uniform share
    share = report.layers[PLANT_LAYER + 1].cls_attention_share
    assert share.outliers > 0.9 and share.uniform < 0.15
    listed = {(o.sample_id, o.patch) for o in report.outliers if o.layer == PLANT_LAYER}
    assert listed == {(i, int(p)) for i, p in zip(*np.nonzero(truth))}
    assert all(o.position == o.patch + 1 for o in report.outliers)  # token index after CLS


def test_clean_model_reports_no_outliers():
    model = wrap(planted_hf_vit(plant=False))
    samples, _ = planted_images(n=6)
    report, _ = analyze_artifacts(model, samples, ArtifactConfig())
    assert report.first_outlier_layer is None
    assert all(r.n_outliers == 0 for r in report.layers)
    assert report.test_time_registers == TestTimeRegisters(skipped="no outlier tokens found")


def test_fixed_threshold_applies_to_every_layer(planted):
    model, samples, truth, _, _ = planted
    report, _ = analyze_artifacts(model, samples[:4], ArtifactConfig(threshold=300.0), registers=False)
    assert [r.threshold for r in report.layers] == [300.0] * model.n_layers
    p, r = precision_recall(report.masks[:, -1], truth[:4])
    assert p == 1.0 and r == 1.0


def test_artifact_token_mask_for_capture(planted):
    model, samples, truth, _, _ = planted
    inputs = model.prepare(samples[:4])
    mask = artifact_token_mask(model, inputs)
    assert mask.shape == model.token_mask(inputs, "all").shape and mask.dtype == torch.bool
    assert not mask[:, 0].any()                       # CLS is never an artifact token
    assert np.array_equal(mask[:, 1:].numpy(), truth[:4])
    # before the planted layer there is nothing to drop
    assert not artifact_token_mask(model, inputs, layer=PLANT_LAYER - 1).any()


# ----------------------------------------------------------------------------- register neurons, test-time registers


def test_register_neurons_are_the_planted_ones(planted):
    _, _, _, report, _ = planted
    top = {(n.layer, n.neuron) for n in report.register_neurons[:2]}
    assert top == {(PLANT_LAYER, 0), (PLANT_LAYER, 1)}
    assert report.register_neurons[0].score == pytest.approx(B_REG, rel=0.01)   # GELU(b) at uniform patches
    assert all(n.score < 0.05 for n in report.register_neurons[2:])


def test_test_time_register_moves_the_outlier_norm(planted):
    _, _, _, report, _ = planted
    ttr = report.test_time_registers
    before, after = ttr.before, ttr.after
    assert before["n_outliers"] > 0 and before["outlier_positions_norm_mean"] > 500
    assert after["n_outliers"] == 0
    assert after["outlier_positions_norm_mean"] < 1.2 * after["other_patches_norm_median"]
    assert after["register_norm_mean"] > 0.9 * before["outlier_positions_norm_mean"]


def test_test_time_register_keeps_output_shapes_and_is_removed(planted):
    model, samples, _, _, _ = planted
    inputs = model.prepare(samples[:2])
    out = model.forward(inputs)
    neurons = [RegisterNeuron(PLANT_LAYER, 0, 1.0), RegisterNeuron(PLANT_LAYER, 1, 1.0)]
    with use_test_time_registers(model, neurons):
        acts = model.capture(inputs, ["blocks.3.hook_resid_post", "ln_final.hook_normalized"])
        out_ttr = model.forward(inputs)
    assert acts["blocks.3.hook_resid_post"].shape[1] == 66          # CLS + 64 patches + register
    assert acts["ln_final.hook_normalized"].shape[1] == 65          # register dropped before the output
    assert out_ttr.shape == out.shape
    assert model.capture(inputs, ["blocks.3.hook_resid_post"])["blocks.3.hook_resid_post"].shape[1] == 65


# ----------------------------------------------------------------------------- CLI


def _save_planted(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    model_dir = tmp_path / "planted_vit"
    planted_hf_vit().save_pretrained(model_dir)
    (model_dir / "preprocessor_config.json").write_text(json.dumps(
        {"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "size": {"height": 32, "width": 32}, "resample": 0,
         "do_center_crop": False}))
    data_dir = tmp_path / "images"
    data_dir.mkdir()
    samples, truth = planted_images(n=6)
    for s in samples:
        s.image.save(data_dir / f"img_{s.id:02d}.png")
    return model_dir, data_dir, truth


def test_cli_writes_json_heatmaps_and_html(tmp_path, capsys):
    from saekit.cli.main import main

    model_dir, data_dir, truth = _save_planted(tmp_path)
    out = tmp_path / "out"
    rc = main(["artifacts", "--model", f"hf:{model_dir}", "--data", str(data_dir), "--out", str(out), "--json",
               "--device", "cpu"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc == json.loads((out / "artifacts.json").read_text())
    assert doc["kind"] == "artifacts" and doc["format_version"] == 1
    assert doc["first_outlier_layer"] == PLANT_LAYER
    assert sum(o["layer"] == PLANT_LAYER for o in doc["outliers"]) == int(truth.sum())
    assert {(n["layer"], n["neuron"]) for n in doc["register_neurons"][:2]} == {(PLANT_LAYER, 0), (PLANT_LAYER, 1)}
    assert doc["test_time_registers"]["after"]["n_outliers"] == 0
    for row in doc["layers"]:
        assert (out / row["heatmap"]).is_file()
        assert {"norm_quantiles", "hist", "threshold", "outlier_frac", "cos_to_neighbours", "cls_attention_share"} <= set(row)
    assert "High-norm artifact tokens" in (out / "index.html").read_text()


def test_cli_bad_input_exits_2(tmp_path, capsys):
    from saekit.cli.main import main

    texts = tmp_path / "t.txt"
    texts.write_text("hello\nworld\n")
    assert main(["artifacts", "--model", "random:vit", "--data", str(texts), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs images" in err
    assert main(["artifacts", "--model", "random:vit", "--data", str(texts), "--out", str(tmp_path / "o"),
                 "--threshold", "-3"]) == 2
    assert not (tmp_path / "o" / "artifacts.json").exists()
