"""The README's Python API example runs as written (on a folder of random images)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "images" / label / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert (tmp_path / "sae" / "weights.safetensors").exists()
    assert type(namespace["result"]).__name__ == "TrainResult" and namespace["result"].outs == ("sae",)
    assert namespace["logits"].shape[0] == 1
    assert "fve" in capsys.readouterr().out
