"""The CLI is generated from the config dataclasses: every field has a flag, old flag names still
work, types map to argparse the documented way, and bad values exit 2 with one line."""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Literal

import pytest

from saekit.cli.configcli import add_config_arguments, config_flags, config_from_args, parse_config
from saekit.commands import COMMANDS, Command


def _parse(cls, argv):
    p = argparse.ArgumentParser(prog="t")
    add_config_arguments(p, cls)
    return config_from_args(cls, p.parse_args(argv))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_config_field_of_every_command_has_a_flag(name):
    cls = COMMANDS[name].config_class()
    flags = config_flags(cls)
    covered = {fl.path[-1] for fl in flags}

    def leaves(c):
        hints = typing.get_type_hints(c)
        for f in dataclasses.fields(c):
            if dataclasses.is_dataclass(hints[f.name]):
                yield from leaves(hints[f.name])
            else:
                yield f.name
    missing = [f for f in leaves(cls) if f not in covered]
    assert not missing, f"{name}: config fields without a flag: {missing}"
    assert len({fl.flag for fl in flags}) == len(flags), "two fields share a flag"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_flag_has_a_help_line(name):
    for fl in config_flags(COMMANDS[name].config_class()):
        text = fl.kwargs["help"]
        assert text and not text.startswith("default:") and text != "repeatable", f"{name}: {fl.flag} has no help"


def test_help_of_every_command_imports_no_torch():
    """`saekit CMD --help` must stay instant: no command's config may pull in torch (or the model stacks)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from saekit.cli.main import main\n"
        "from saekit.commands import COMMANDS\n"
        "for name in COMMANDS:\n"
        "    try:\n"
        "        main([*name.split(), '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sklearn', 'dash') if m in sys.modules), file=sys.stderr)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip().splitlines()[-1] == "[]"
    for name in COMMANDS:
        assert f"usage: saekit {name} " in p.stdout


def test_train_flags_keep_their_names_and_reach_the_formerly_hidden_fields():
    from saekit.train.config import TrainConfig

    cfg = _parse(TrainConfig, [
        "--store", "s.h5", "--hook", "h", "--arch", "topk", "--tokens", "100", "--out", "o", "--lr", "auto",
        "--matryoshka-prefixes", "2,4", "--matryoshka-prefixes", "8", "--checkpoint-every", "5", "--no-progress",
        "--d-sae", "64", "--decay-frac", "0.1", "--grad-clip", "2", "--resample-every", "0", "--init-threshold", "0.5",
        "--no-sparse-kernels", "--autocast", "off", "--gm-sample", "128", "--holdout-salt", "x"])
    assert cfg.lr is None and cfg.matryoshka_prefixes == (2, 4, 8) and cfg.checkpoint_every_steps == 5
    assert cfg.progress is False and cfg.d_sae == 64 and cfg.decay_frac == 0.1 and cfg.grad_clip == 2.0
    assert cfg.resample_every == 0 and cfg.init_threshold == 0.5 and cfg.sparse_kernels is False
    assert cfg.autocast == "off" and cfg.gm_sample == 128 and cfg.holdout_salt == "x"
    default = _parse(TrainConfig, ["--hook", "h", "--arch", "topk", "--tokens", "1", "--out", "o"])
    assert default == TrainConfig(hook="h", arch="topk", tokens=1, out="o")


def test_nested_options_are_flattened_with_their_old_flag_names():
    from saekit.analysis.naming import NameConfig, NamingOptions

    cfg = _parse(NameConfig, ["--sae", "a", "--store", "b", "--out", "c", "--candidates", "3", "--no-mono",
                              "--html-latents", "7", "--method", "decoder", "--no-progress"])
    assert cfg.options == NamingOptions(n_candidates=3, mono=False, heatmap_latents=7, method="decoder")
    assert cfg.progress is False


@dataclasses.dataclass(frozen=True)
class _Toy:
    kind: Literal["a", "b"] = "a"
    names: tuple[str, ...] = ("x",)
    extra: dict = dataclasses.field(default_factory=dict)
    limit: int | None = None  # how many


def test_types_map_to_argparse():
    assert _parse(_Toy, []) == _Toy()
    cfg = _parse(_Toy, ["--kind", "b", "--names", "p,q", "--names", "r", "--extra", '{"t": 1}', "--limit", "none"])
    assert cfg == _Toy(kind="b", names=("p,q", "r"), extra={"t": 1}, limit=None)
    assert [fl.kwargs["help"] for fl in config_flags(_Toy) if fl.flag == "--limit"] == ["how many"]
    with pytest.raises(SystemExit) as e:
        _parse(_Toy, ["--kind", "c"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        parse_config(_Toy, ["--extra", "[1]"])


def test_cli_bad_value_and_missing_flag_exit_2(capsys):
    from saekit.cli.main import main

    assert main(["train", "--hook", "h", "--arch", "topk", "--tokens", "0", "--out", "o", "--store", "s"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["saekit train: error: --tokens must be positive, got 0"]
    with pytest.raises(SystemExit) as e:
        main(["train", "--hook", "h"])
    assert e.value.code == 2


def test_registering_a_command_adds_it_to_the_cli(capsys, monkeypatch):
    from saekit import commands
    from saekit.cli.main import main

    monkeypatch.setitem(commands.COMMANDS, "toy", Command("toy", "test_cli_generated:_Toy", "builtins:repr",
                                                          "a toy command", summary="builtins:print"))
    assert main(["toy", "--kind", "b"]) == 0
    assert "kind='b'" in capsys.readouterr().out
