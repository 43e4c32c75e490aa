"""`saekit.<command>(cfg)` is `saekit <command>`: every command of the table is served under its name by the
function the CLI runs (a package callable as that function where the name is a package), its config class
is exported, none of them is listed by hand in saekit/__init__.py, and on a tiny random ViT the Python
call and the CLI return the same kind of result (`saekit.train` a `TrainResult`, sweeps included)."""
from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import torch

import saekit
from saekit.cli.main import main
from saekit.commands import COMMANDS, read_table, resolve

HOOK = "blocks.1.hook_resid_post"
SAEKIT_COMMANDS = {name: c for name, c in COMMANDS.items() if c.requires is None}  # the dashboard sits above saekit


def _served(public: object) -> object:
    """The function ``saekit.<name>`` runs: itself, or for a callable package its command function."""
    if isinstance(public, types.ModuleType):
        assert callable(public), public.__name__
        return getattr(public, public.__command__)
    return public


@pytest.mark.parametrize("name", sorted(SAEKIT_COMMANDS))
def test_every_command_is_the_function_the_cli_runs_and_its_config_is_exported(name):
    command = SAEKIT_COMMANDS[name]
    public = name.replace(" ", "_")
    assert _served(getattr(saekit, public)) is resolve(command.function), name
    config_class = resolve(command.config)
    assert getattr(saekit, config_class.__name__) is config_class
    assert {public, config_class.__name__} <= set(saekit.__all__)


def test_no_command_or_config_is_listed_by_hand():
    hand = {*saekit._EXPORTS, *saekit._RENAMED}
    table = {n.replace(" ", "_") for n in SAEKIT_COMMANDS} | {c.config.partition(":")[2] for c in SAEKIT_COMMANDS.values()}
    assert not hand & table
    assert set(saekit.__all__) == hand | table


def test_the_table_accepts_only_the_summary_key(tmp_path):
    entry = '{"name": "toy", "config": "m:C", "function": "m:f", "help": "h", %s}'
    path = tmp_path / "commands.json"
    path.write_text('{"groups": {}, "commands": [%s]}' % (entry % '"summary": "m:s"'))
    assert read_table(path)[1][0].summary == "m:s"
    path.write_text('{"groups": {}, "commands": [%s]}' % (entry % '"report": "m:s"'))
    with pytest.raises(ValueError, match=r"entry 'toy': unknown keys \['report'\]"):
        read_table(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A random:vit store of a few random images."""
    from PIL import Image

    root = tmp_path_factory.mktemp("parity")
    rng = np.random.default_rng(0)
    for i in range(6):
        (root / "images" / "a").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / "images" / "a" / f"{i}.png")
    py = saekit.capture(saekit.CaptureConfig(model="random:vit", data=str(root / "images"), hooks=(HOOK,),
                                             out=str(root / "store.h5"), device="cpu", progress=False))
    assert isinstance(py, resolve("saekit.capture.run:CaptureResult"))
    return root / "store.h5"


def _cli_result(monkeypatch, argv: list[str]) -> object:
    """What the CLI's run of ``argv`` returned (the object its summary is given)."""
    import saekit.train.summary

    got = []
    monkeypatch.setattr(saekit.train.summary, "summarize", lambda result, cfg: got.append(result))
    assert main(argv) == 0
    (result,) = got
    return result


@pytest.mark.parametrize("sweep", [(), ("k=2,4",)])
def test_train_returns_what_the_cli_returns(store, tmp_path, monkeypatch, sweep):
    args = dict(store=str(store), hook=HOOK, arch="topk", k=4, expansion=2, tokens=2_000, batch_size=64,
                device="cpu", progress=False, seed=0)
    py = saekit.train(saekit.TrainConfig(out=str(tmp_path / "py"), sweep=sweep, **args))
    argv = ["train", "--store", str(store), "--hook", HOOK, "--arch", "topk", "--k", "4", "--expansion", "2",
            "--tokens", "2000", "--batch-size", "64", "--device", "cpu", "--no-progress", "--seed", "0",
            "--out", str(tmp_path / "cli"), *[f for s in sweep for f in ("--sweep", s)]]
    cli = _cli_result(monkeypatch, argv)
    assert type(py) is type(cli) is saekit.TrainResult
    assert len(py.saes) == len(cli.saes) == len(py.outs) == max(1, 2 * len(sweep))
    assert [Path(o).relative_to(tmp_path / "py") for o in py.outs] == [Path(o).relative_to(tmp_path / "cli")
                                                                      for o in cli.outs]
    for a, b in zip(py.saes, cli.saes):
        assert isinstance(a, saekit.SAE) and a.cfg == b.cfg
        torch.testing.assert_close(a.W_dec, b.W_dec)
