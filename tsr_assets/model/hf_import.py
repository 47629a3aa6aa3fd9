"""Models made elsewhere, as platform models: `transformers` GPT-2-architecture models (a folder
or a Hub id) and nanoGPT checkpoints (`model_args` and a state dict under `transformer.*`,
`torch.compile`'s `_orig_mod.` prefix included).

They are data, never code: `.pt` files are read with `weights_only=True` (see
`checkpoints.read_torch_file`), `transformers` folders with their safetensors weights where they
have them, and nothing is loaded with `trust_remote_code`."""

from __future__ import annotations

from pathlib import Path

import torch

from tsr_assets.core.hub import hub_offline_reason, safe_loading_kwargs
from tsr_assets.model.checkpoints import CheckpointError, read_torch_file
from tsr_assets.model.gpt import GPT, GPTConfig
from tsr_assets.model.hf_export import ACTIVATIONS, BLOCK_PARAMETERS


class ExternalModelError(ValueError):
    """A model from elsewhere cannot be used here; the message says what and why."""


def _from_gpt2_names(state: dict[str, torch.Tensor], config: GPTConfig, conv1d: bool
                     ) -> dict[str, torch.Tensor]:
    """Our parameter names from GPT-2/nanoGPT names (`conv1d`: GPT-2's transposed layout)."""
    out = {"wte.weight": state["transformer.wte.weight"],
           "wpe.weight": state["transformer.wpe.weight"],
           "lm_head.weight": state.get("lm_head.weight", state["transformer.wte.weight"])}
    pairs = [("ln_f", "transformer.ln_f", False)] + [
        (f"blocks.{i}.{ours}", f"transformer.h.{i}.{theirs}", transposed)
        for i in range(config.n_layer) for ours, theirs, transposed in BLOCK_PARAMETERS]
    for ours, theirs, transposed in pairs:
        weight = state[f"{theirs}.weight"]
        out[f"{ours}.weight"] = weight.t().contiguous() if transposed and conv1d else weight
        if config.bias:
            out[f"{ours}.bias"] = state[f"{theirs}.bias"]
    return out


def _build(config: GPTConfig, state: dict[str, torch.Tensor], source: str) -> GPT:
    model = GPT(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ExternalModelError(f"{source}: weights do not fit a {config.n_layer}-layer, "
                                 f"{config.n_embd}-wide GPT: missing {missing[:5]}, "
                                 f"unexpected {unexpected[:5]}")
    return model.eval()


def from_transformers(name_or_path: str) -> GPT:
    """A GPT-2-architecture `transformers` model (folder or Hub id) as a platform model."""
    from transformers import AutoConfig, AutoModelForCausalLM

    hf_config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=False)
    if hf_config.model_type != "gpt2":
        raise ExternalModelError(f"{name_or_path} is a {hf_config.model_type!r} model; only "
                                 "GPT-2-architecture models can be imported")
    approximate = {v: k for k, v in ACTIVATIONS.items()}.get(hf_config.activation_function)
    if approximate is None:
        raise ExternalModelError(f"{name_or_path}: activation {hf_config.activation_function!r}"
                                 " is not GELU (exact or tanh)")
    state = AutoModelForCausalLM.from_pretrained(
        name_or_path, **safe_loading_kwargs(name_or_path)).state_dict()
    has_bias = any(v.abs().sum() > 0 for k, v in state.items()
                   if k.endswith(".bias") and not k.endswith(("attn.bias", "masked_bias")))
    config = GPTConfig(vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions,
                       n_layer=hf_config.n_layer, n_head=hf_config.n_head,
                       n_embd=hf_config.n_embd, bias=has_bias, gelu_approximate=approximate)
    return _build(config, _from_gpt2_names(state, config, conv1d=True), name_or_path)


def from_nanogpt(path: Path) -> GPT:
    """A nanoGPT checkpoint (`ckpt.pt`: `model_args` + `model`) as a platform model."""
    try:
        saved = read_torch_file(path)
    except CheckpointError as exc:
        raise ExternalModelError(str(exc)) from exc
    if not isinstance(saved, dict) or "model_args" not in saved or "model" not in saved:
        raise ExternalModelError(f"{path} is not a nanoGPT checkpoint: it needs the keys "
                                 "model_args and model")
    args = saved["model_args"]
    state = {k.removeprefix("_orig_mod."): v for k, v in saved["model"].items()}
    config = GPTConfig(vocab_size=args["vocab_size"], block_size=args["block_size"],
                       n_layer=args["n_layer"], n_head=args["n_head"], n_embd=args["n_embd"],
                       bias=bool(args.get("bias", True)))
    return _build(config, _from_gpt2_names(state, config, conv1d=False), str(path))


def is_nanogpt_checkpoint(path: Path) -> bool:
    """True for a readable `.pt` file holding nanoGPT's `model_args`."""
    if path.suffix != ".pt" or not path.is_file():
        return False
    try:
        saved = read_torch_file(path, mmap=True)
    except CheckpointError:  # a damaged or refused file is the platform loader's to report
        return False
    return isinstance(saved, dict) and "model_args" in saved


def load_external(source: str) -> GPT:
    """A nanoGPT `.pt`, a `transformers` folder or a Hub id, as a platform model."""
    path = Path(source).expanduser()
    if path.suffix == ".pt":
        if not path.is_file():
            raise ExternalModelError(f"{path} does not exist")
        return from_nanogpt(path)
    if not path.exists():
        reason = hub_offline_reason()
        if reason:
            raise ExternalModelError(f"{source} is not a local folder or file, and {reason}; "
                                     "download the model elsewhere and give its folder")
    try:
        return from_transformers(str(path) if path.exists() else source)
    except OSError as exc:
        raise ExternalModelError(f"{source} is neither a nanoGPT .pt file nor a transformers "
                                 f"model folder or reachable Hub id: {exc}") from exc
