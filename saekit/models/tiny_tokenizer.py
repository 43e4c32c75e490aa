"""A byte-level tokenizer built in code, so tiny random text models need no hub download.

Every byte is one token (no merges), so any text round-trips; BOS is prepended, and
`append_eos=True` also appends EOS (CLIP's text tower pools at the EOS token).
"""
from __future__ import annotations

PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"
PAD_ID, BOS_ID, EOS_ID = 0, 1, 3  # EOS is not 2: CLIP treats eos_token_id == 2 as a legacy config
N_SPECIAL = 4
VOCAB_SIZE = N_SPECIAL + 256


def byte_tokenizer(append_eos: bool = False, model_max_length: int = 64):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {PAD: PAD_ID, BOS: BOS_ID, "<|unused|>": 2, EOS: EOS_ID}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    assert len(vocab) == VOCAB_SIZE
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    single = f"{BOS} $A {EOS}" if append_eos else f"{BOS} $A"
    tk.post_processor = processors.TemplateProcessing(
        single=single, pair=f"{single} $B:1", special_tokens=[(BOS, BOS_ID), (EOS, EOS_ID)])
    # add_bos_token and name_or_path keep TransformerLens from reloading the tokenizer from a hub.
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token=BOS, eos_token=EOS, pad_token=PAD, add_bos_token=True, add_eos_token=append_eos,
        name_or_path="saekit/byte-tokenizer", model_max_length=model_max_length, padding_side="right")
