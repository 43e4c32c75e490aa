"""End to end on SAEs made by other libraries: a SAELens TopK SAE on random:gpt2's residual stream
(capture, eval, steer) and a dictionary_learning BatchTopK SAE on random:clip's (capture, name, audit,
dashboard), each passed to the commands as a `FORMAT:PATH` spec."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saekit.cli.main import main
from test_interop_peers import peer_python, run_peer

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> Path:
    peer_python()
    out = tmp_path_factory.mktemp("foreign")
    run_peer("e2e", str(out))
    return out


def _listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def _find(doc, key: str):
    """The first value of `key` anywhere in a JSON document."""
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        doc = list(doc.values())
    if isinstance(doc, list):
        for v in doc:
            found = _find(v, key)
            if found is not None:
                return found
    return None


def _ok(rc: int, capsys) -> str:
    captured = capsys.readouterr()
    assert rc == 0, captured.err[-2000:]
    return captured.out


def test_llm_commands_on_a_saelens_topk_sae(foreign, tmp_path, capsys, one_torch_thread):
    sae_dir = foreign / "saelens_topk_gpt2"
    before = _listing(sae_dir)
    spec = f"saelens:{sae_dir}"
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(f"the cat number {i} sat on the mat and looked at bird {i * 7}" for i in range(24)))
    store = tmp_path / "store.h5"
    _ok(main(["capture", "--model", "random:gpt2", "--data", str(texts), "--hook", HOOK, "--out", str(store),
              "--device", "cpu"]), capsys)
    out = _ok(main(["eval", "--sae", spec, "--store", str(store), "--json", "--device", "cpu"]), capsys)
    l0 = _find(json.loads(out.strip().splitlines()[-1]), "l0")
    assert l0 == pytest.approx(8.0)  # the SAELens TopK SAE's k
    steer = tmp_path / "steer"
    _ok(main(["steer", "--model", "random:gpt2", "--sae", spec, "--latent", "3", "--mode", "add", "--value", "1",
              "--strengths", "0,8", "--prompt", "the cat sat on", "--max-new-tokens", "3", "--out", str(steer),
              "--device", "cpu"]), capsys)
    doc = json.loads((steer / "steer.json").read_text())
    assert doc["sae"]["hook"] == HOOK and len(doc["rows"]) == 2
    # the recorded hook/width is checked against the store as for saekit's own SAEs
    rc = main(["eval", "--sae", f"dictlearn:{foreign / 'dictlearn_batchtopk_clip'}", "--store", str(store)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert _listing(sae_dir) == before  # nothing written into the other library's folder


def _images(root: Path) -> Path:
    rng = np.random.default_rng(0)
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 40, 230)}
    for label, rgb in colours.items():
        (root / label).mkdir(parents=True)
        for i in range(8):
            img = np.clip(np.array(rgb) + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / label / f"{i}.png")
    return root


def test_vision_commands_on_a_dictlearn_batchtopk_sae(foreign, tmp_path, capsys, monkeypatch, one_torch_thread):
    from dashboards.app import create_app, render_page
    from dashboards.inputs import load_inputs

    monkeypatch.setenv("SAEKIT_CACHE", str(tmp_path / "cache"))
    sae_dir = foreign / "dictlearn_batchtopk_clip"
    before = _listing(sae_dir)
    spec = f"dictlearn:{sae_dir}"
    data = _images(tmp_path / "images")
    store = tmp_path / "store.h5"
    _ok(main(["capture", "--model", "random:clip", "--data", str(data), "--hook", HOOK, "--out", str(store),
              "--device", "cpu"]), capsys)
    names = tmp_path / "names"
    _ok(main(["name", "--sae", spec, "--store", str(store), "--out", str(names), "--html-latents", "4",
              "--device", "cpu", "--no-progress"]), capsys)
    named = json.loads((names / "names.json").read_text())
    assert named["n_live"] > 0
    audit = tmp_path / "audit"
    _ok(main(["audit", "--model", "random:clip", "--data", str(data), "--sae", spec, "--out", str(audit),
              "--per-class", "4", "--top-k", "6", "--active-threshold", "0", "--classifier", "zero-shot",
              "--examples", "2", "--vocab", "none"]), capsys)
    assert json.loads((audit / "audit.json").read_text())["sae"]["hook"] == HOOK
    inputs = load_inputs(spec, store, names_dir=names, audit_dir=audit, progress=False)
    app = create_app(inputs)
    latent = int(named["latents"][0]["latent"])
    home = json.dumps(render_page(app.browser, "/").to_plotly_json(), default=str)
    feature = json.dumps(render_page(app.browser, f"/feature/{latent}").to_plotly_json(), default=str)
    assert "96 latents" in home and f"#{latent}" in feature
    assert _listing(sae_dir) == before  # summaries went to SAEKIT_CACHE, not into the foreign folder
    assert any((tmp_path / "cache" / "foreign").rglob("*"))
