"""saekit.results: typed, versioned result documents (codec, versions, atomic writes, fingerprints)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest

from saekit.common.atomic import atomic_file, write_json_atomic
from saekit.common.errors import SaekitError
from saekit.results import (EvaluationDocument, Metric, NamesDocument, SaeRef, SteeringDocument, StoreMetadata,
                            StoreRef, fingerprint)
from saekit.results.codec import decode_dataclass
from saekit.results.formats import DOC_PATH, describe, render
from saekit.results.names import LatentName, TopSample, VocabRef
from saekit.results.steering import DoseRow, SteeringPlots


def _names() -> NamesDocument:
    top = (TopSample(sample_id=3, activation=1.5, label="cat", heatmap="heatmaps/l0_0.png"),
           TopSample(sample_id=4, activation=0.5, tokens=(("the", 0.0), (" cat", 2.0))))
    lat = LatentName(latent=0, name="cat", score=0.4, candidates=(("cat", 0.4), ("dog", 0.3)), mono_score=None,
                     freq=0.1, sample_freq=0.2, mean_act=1.0, max_act=2.0, top=top)
    return NamesDocument(sae=SaeRef(path="sae", fingerprint="abc", hook="h", d_sae=4),
                         store=StoreRef(path="s.h5", fingerprint="def", modality="image", n_samples=9),
                         vocab=VocabRef(source="default", size=2), method="top-images", text_space={"kind": "clip"},
                         mono_embedding=None, params={"top_n": 10}, n_live=1, n_named=1, notes=(), created="now",
                         seconds=1.0, latents=(lat,))


def test_names_roundtrip_through_a_directory(tmp_path):
    doc = _names()
    doc.save(tmp_path)
    back = NamesDocument.load(tmp_path)
    assert back == doc
    assert NamesDocument.load(tmp_path / "names.json") == doc
    raw = json.loads((tmp_path / "names.json").read_text())
    assert raw["kind"] == "names" and raw["format_version"] == 2 and raw["latents"][0]["mono_score"] is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_version_kind_and_field_errors_are_one_line(tmp_path):
    raw = _names().to_json()
    for change, match in [({"format_version": 7}, r"names format version 7; this saekit reads versions 1, 2 .*saekit name"),
                          ({"kind": "audit"}, "has kind 'audit', expected 'names'"),
                          ({"format_version": None}, "no format_version")]:
        (tmp_path / "names.json").write_text(json.dumps({**raw, **change}))
        with pytest.raises(SaekitError, match=match) as err:
            NamesDocument.load(tmp_path)
        assert "\n" not in str(err.value)
    bad = json.loads(json.dumps(raw))
    bad["latents"][0]["top"][1]["activation"] = "high"
    (tmp_path / "names.json").write_text(json.dumps(bad))
    with pytest.raises(SaekitError, match=r"latents\[0\]\.top\[1\]\.activation: expected a number"):
        NamesDocument.load(tmp_path)
    bad = json.loads(json.dumps(raw))
    bad["latents"][0]["colour"] = "red"
    (tmp_path / "names.json").write_text(json.dumps(bad))
    with pytest.raises(SaekitError, match="unknown field 'colour'"):
        NamesDocument.load(tmp_path)
    with pytest.raises(SaekitError, match="holds no latent names"):
        NamesDocument.load(tmp_path / "elsewhere")


def test_legacy_flat_eval_json_loads_as_metrics_on_all_samples(tmp_path):
    flat = {"hook": "blocks.1.hook_resid_post", "arch": "topk", "d_in": 8, "d_sae": 32, "n_rows": 100, "l0": 4.0,
            "fve": 0.9, "dead_frac": 0.0, "downstream": {"ce_loss_increase": 0.1}}
    (tmp_path / "eval.json").write_text(json.dumps(flat))
    doc = EvaluationDocument.load(tmp_path)
    assert doc.sae.hook == "blocks.1.hook_resid_post" and doc.sae.d_sae == 32
    assert doc.metrics["fve"] == Metric(value=0.9, split="all", n=100)
    assert doc.value("downstream.ce_loss_increase") == 0.1
    doc2 = dataclasses.replace(doc, metrics={**doc.metrics, "spatial": Metric.skip("no patch grid", "holdout")})
    doc2.save(tmp_path)
    again = EvaluationDocument.load(tmp_path)
    assert again.metrics["spatial"].skipped == "no patch grid" and again.value("spatial") is None
    bad = {**again.to_json(), "metrics": {"fve": {"value": 0.9, "split": "test"}}}
    (tmp_path / "eval.json").write_text(json.dumps(bad))
    with pytest.raises(SaekitError, match=r"metrics\.fve\.split: expected one of 'holdout', 'train', 'all'"):
        EvaluationDocument.load(tmp_path)


def test_nan_is_written_as_null_and_read_back_as_nan(tmp_path):
    doc = SteeringDocument(model="m", sae=SaeRef(), positions="all", plots=SteeringPlots(html="a.html", png="a.png"),
                           latent=1, mode="clamp", effect="logit", hook="h", value=None, baseline=float("nan"),
                           rows=(DoseRow(strength=1.0, effect=2.0, delta=1.0, delta_std=0.0),))
    doc.save(tmp_path)
    assert json.loads((tmp_path / "steer.json").read_text())["baseline"] is None
    assert math.isnan(SteeringDocument.load(tmp_path).baseline)


def test_store_metadata_keeps_unknown_attributes_and_rejects_wrong_types():
    meta = StoreMetadata.from_attrs({"model_id": "random:vit", "patch_grid": [4, 4], "custom": 1})
    assert meta.patch_grid == (4, 4) and meta.other == {"custom": 1} and meta.sample_modality == "image"
    assert meta.to_attrs() == {"model_id": "random:vit", "model_revision": "", "modality": "", "patch_grid": [4, 4],
                               "config_hash": "", "tokens": "", "data": "", "dataset_modality": "",
                               "pooled_hooks": [], "rank": 0, "world_size": 1, "position_meaning": "", "custom": 1}
    with pytest.raises(SaekitError, match=r"store attributes\.patch_grid: expected a list of 2 items"):
        StoreMetadata.from_attrs({"patch_grid": [4, 4, 4]})
    assert StoreMetadata.from_attrs({"dataset_modality": "text", "patch_grid": [2, 2]}).sample_modality == "text"


def test_atomic_file_leaves_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "x.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
    assert (target.stat().st_mode & 0o777) != 0o600


def test_fingerprint_is_sha256_of_the_parts_in_order():
    cfg = {"b": 1, "a": [1, 2]}
    arr = np.arange(4, dtype=np.float32)
    h = hashlib.sha256()
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    h.update(b"W")
    h.update(arr.tobytes())
    assert fingerprint(cfg, "W", arr) == h.hexdigest()[:16]
    assert fingerprint(cfg) != fingerprint({"b": 2, "a": [1, 2]})


def test_formats_md_is_generated_from_the_documents():
    assert DOC_PATH.read_text(encoding="utf-8") == render(), \
        "docs/formats.md is out of date: run `python -m saekit.results.formats --write`"


def test_a_field_without_a_description_fails_the_docs():
    @dataclasses.dataclass(frozen=True)
    class Doc:
        described: int  # says what it is
        bare: int

    with pytest.raises(ValueError, match="bare have no comment"):
        describe(Doc, set())
    assert decode_dataclass(Doc, {"described": 1, "bare": 2}, "x") == Doc(1, 2)


def test_names_version_1_loads_with_its_centred_score_under_its_own_name(tmp_path):
    """Version 1 held one score per latent under mono_score: centred unless the run said otherwise (params.mono_centre
    False, or mono_centred False); runs from before that option used raw cosines. Version 2 keeps Pach et al.'s
    score under mono_score, so a centred one moves to mono_score_centred."""
    v2 = _names().to_json()
    lat = {k: v for k, v in v2["latents"][0].items() if k != "mono_score_centred"}
    v1 = {**{k: v for k, v in v2.items() if k != "mono_mean_pair_cosine"}, "format_version": 1,
          "latents": [{**lat, "mono_score": 0.25}]}
    for extra, pach, centred in [({"params": {"mono_centre": True}}, None, 0.25),
                                 ({"params": {"mono_centre": False}}, 0.25, None),
                                 ({"params": {}}, 0.25, None),
                                 ({"params": {"mono_centre": True}, "mono_centred": False}, 0.25, None),
                                 ({"params": {}, "mono_centred": True}, None, 0.25)]:
        (tmp_path / "names.json").write_text(json.dumps({**v1, **extra}))
        back = NamesDocument.load(tmp_path).latents[0]
        assert (back.mono_score, back.mono_score_centred) == (pach, centred), extra
