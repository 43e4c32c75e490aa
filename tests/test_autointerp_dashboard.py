"""The dashboard shows real `explain` output: explanation and detection score columns (sortable,
searchable) and, on a feature page, the explanation, its scores and the samples it was judged on."""
from __future__ import annotations

from autointerp_fixtures import ScriptedClient, oracle_client, planted_sae, text_store
from saekit.autointerp import ExplainConfig, explain


def test_explanations_in_the_feature_list_and_page(tmp_path):
    from dashboards.app import render_page
    from dashboards.context import Browser
    from dashboards.inputs import load_inputs
    from test_dashboard import _text

    store, _ = text_store(tmp_path)
    sae = planted_sae(tmp_path)
    base = dict(sae=str(sae), store=str(store), progress=False)
    explain(ExplainConfig(client="oracle", out=str(tmp_path / "o"), latents=(0, 1), **base), client=oracle_client())
    # a worse judge for latent 2 only, appended to the same names document through --names
    worse = ScriptedClient("no", lambda kind, expl, ex: False, explain=lambda spans: "nothing in particular")
    explain(ExplainConfig(client="no", out=str(tmp_path / "e"), latents=(2,), names=str(tmp_path / "o"), **base),
            client=worse)
    b = Browser(load_inputs(sae, store, names_dir=tmp_path / "e", progress=False))
    cat = b.catalog
    page = cat.query(sort_by=[{"column_id": "detection", "direction": "desc"}], page_size=10)
    assert [r["latent"] for r in page.rows[:3]] == [0, 1, 2]
    assert [r["detection"] for r in page.rows[:3]] == [1.0, 1.0, 0.5]
    assert page.rows[0]["explanation"] == "the word cat" and page.rows[3]["detection"] is None
    assert [r["latent"] for r in cat.query(search="word dog").rows] == [1]
    assert [r["latent"] for r in cat.query(filter_query="{detection} < 0.9").rows] == [2]
    feat = _text(render_page(b, "/feature/0"))
    assert "the word cat" in feat and "detection: balanced accuracy 1" in feat and "fuzzing" in feat
    judged = {j.sample_id for j in b.name_entries[0].explanation.detection.judged}
    assert all(f"/sample/{sid}" in feat for sid in judged)
