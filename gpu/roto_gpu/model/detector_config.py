"""What the concept detector is built from without a checkpoint: SAM 3's image-model config
shrunk for a CPU (a forward pass well under a second), or left at its full size on a GPU, and a
byte-level tokenizer made here, since the real one comes only with the gated weights. With these
random weights the detector's instances, and the meaning of any text, are noise: only the flow
is real."""

from __future__ import annotations

from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, Sam3Config

#: Tokens SAM 3 reads of a text (its CLIP text encoder's context); longer text is cut.
TEXT_TOKENS = 32
#: The reduced model's input side: 12 x 12 patches of 14 px.
REDUCED_IMAGE_SIZE = 168
PATCH_SIZE = 14
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def local_tokenizer() -> PreTrainedTokenizerFast:
    """One token per UTF-8 byte between CLIP's start and end tokens (ids 256 and 257), padded
    with the end token as CLIP pads."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    vocab[BOS], vocab[EOS] = len(alphabet), len(alphabet) + 1
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        model_max_length=TEXT_TOKENS,
    )


def _text_config(tokenizer: PreTrainedTokenizerFast, **sizes: Any) -> dict[str, Any]:
    """CLIP text settings that agree with ``tokenizer``'s ids (its end token pools the text)."""
    return {
        **sizes,
        "vocab_size": max(len(tokenizer), sizes.get("vocab_size", 0)),
        "max_position_embeddings": TEXT_TOKENS,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def reduced_config(tokenizer: PreTrainedTokenizerFast) -> Sam3Config:
    """SAM 3's image model with every part kept but made tiny: 2 ViT layers of width 64 at
    168 px, a 1-layer CLIP text encoder, 1-layer DETR encoder and decoder with 20 queries."""
    side = REDUCED_IMAGE_SIZE // PATCH_SIZE
    return Sam3Config(
        vision_config={
            "backbone_config": {
                "model_type": "sam3_vit_model",
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": REDUCED_IMAGE_SIZE,
                "patch_size": PATCH_SIZE,
                "window_size": side // 2,
                "global_attn_indexes": [1],
                "pretrain_image_size": REDUCED_IMAGE_SIZE,
            },
            "fpn_hidden_size": 32,
            "backbone_feature_sizes": [[side * 4] * 2, [side * 2] * 2, [side] * 2],
        },
        text_config=_text_config(
            tokenizer,
            hidden_size=32,
            intermediate_size=64,
            projection_dim=32,
            num_hidden_layers=1,
            num_attention_heads=2,
        ),
        geometry_encoder_config=_small_layers(),
        detr_encoder_config=_small_layers(),
        detr_decoder_config={**_small_layers(), "num_queries": 20},
        mask_decoder_config={"hidden_size": 32, "num_attention_heads": 2},
    )


def full_config(tokenizer: PreTrainedTokenizerFast) -> Sam3Config:
    """SAM 3's image model at its published size, its text encoder reading ``tokenizer``'s ids."""
    text: Any = Sam3Config().text_config
    defaults = text.to_dict()
    sizes = {
        key: defaults[key]
        for key in (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "projection_dim",
            "num_hidden_layers",
            "num_attention_heads",
            "hidden_act",
        )
    }
    return Sam3Config(text_config=_text_config(tokenizer, **sizes))


def _small_layers() -> dict[str, Any]:
    return {"hidden_size": 32, "num_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
