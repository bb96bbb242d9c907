"""Low-rank adapters (LoRA, through peft) on a Hugging Face model: for a pretrained encoder
tuned inside a fusion model (encoders/hf_tower.py) and for a fine-tuned task model
(training/finetune.py). peft is optional (`pip install 'polymodal[tune]'`)."""
from __future__ import annotations

import warnings
from pathlib import Path

from torch import nn

from ..core.errors import ConfigError, ModelNotFoundError

# Attention projections as BERT, ViT and ViLT (query, value), CLIP and Whisper (q_proj, v_proj)
# and BLIP's vision tower (qkv, one fused projection) name them.
LORA_TARGETS = ["query", "value", "q_proj", "v_proj", "qkv"]
ADAPTER_FOLDER = "adapter"          # a model saved with its adapter apart keeps it in this sub-folder


def peft_module():
    try:
        import peft
    except ImportError:
        raise ModelNotFoundError("LoRA needs peft (pip install 'polymodal[tune]')") from None
    return peft


def linear_names(model: nn.Module) -> set[str]:
    return {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}


def with_lora(model: nn.Module, rank: int, targets: list[str] | None, name: str) -> nn.Module:
    """The model with LoRA adapters of rank `rank` on the linear layers named `targets`
    (default LORA_TARGETS, those the model has); the base weights frozen."""
    peft = peft_module()
    present = linear_names(model)
    chosen = [t for t in (targets or LORA_TARGETS) if t in present]
    if not chosen:
        raise ConfigError(f"{name}: none of the LoRA targets {targets or LORA_TARGETS} is a linear layer of this "
                          f"model (it has {', '.join(sorted(present)[:12])})")
    with warnings.catch_warnings():     # peft calls a transformers method that transformers 5 deprecates
        warnings.simplefilter("ignore", FutureWarning)
        return peft.get_peft_model(model, peft.LoraConfig(r=int(rank), lora_alpha=2 * int(rank),
                                                          target_modules=chosen))


def adapter_parameters(model: nn.Module) -> int:
    """The number of LoRA adapter weights in a model (those peft names lora_*)."""
    return sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n)


def apply_saved_adapter(model: nn.Module, directory: Path) -> nn.Module:
    """A base model with the adapter saved beside it (directory/adapter) merged into its
    weights; a model without one is returned as it is."""
    folder = Path(directory) / ADAPTER_FOLDER
    if not (folder / "adapter_config.json").is_file():
        return model
    peft = peft_module()
    try:
        tuned = peft.PeftModel.from_pretrained(model, str(folder))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelNotFoundError(f"{folder}: cannot load its LoRA adapter ({reason})") from None
    return tuned.merge_and_unload()
