"""Checkpoints: one dict of weights, config, vocabulary, optimizer, step and RNG state.

Written atomically, read with ``weights_only=True`` (no pickled code runs), and
checked on the way in: a damaged file, or weights that do not match their
config or vocabulary, are refused with a ``CheckpointError`` saying why.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from engine.atomic import atomic_write
from engine.cast import FILE as NAMES_FILE
from engine.cast import TrainingNames
from engine.copyguard import FILE as COPY_INDEX_FILE
from engine.copyguard import CopyIndex
from engine.errors import CheckpointError
from engine.gradients import FILE as GRADIENTS_FILE
from engine.gradients import GradientSizes
from engine.mixer import FILE as MIXER_FILE
from engine.mixer import Mixer
from engine.model import GRUConfig, GRUModel, resolve_device
from engine.ngram import FILE as NGRAM_FILE
from engine.ngram import TokenNgram
from engine.recall import Recall
from engine.vocab import Vocab, VocabError

__all__ = ["Bundle", "CheckpointError", "load_checkpoint", "read_checkpoint", "save_checkpoint"]

FORMAT = "relay-novel-gru"
VERSION = 1


@dataclass
class Bundle:
    model: GRUModel
    config: GRUConfig
    vocab: Vocab
    meta: dict[str, Any] = field(default_factory=dict)
    copy_index: CopyIndex | None = None  # every 40-character span of the training text, when training wrote one
    ngram: TokenNgram | None = None  # the counts mixed into the GRU's guess, when training wrote them
    mixer: Mixer | None = None  # the learned weights of the GRU, the counts, the story's memory and recall
    names: TrainingNames | None = None  # the people of each training text (engine/cast.py), when training found them
    gradients: GradientSizes | None = None  # what adaptation divides its steps by (engine/gradients.py), if measured

    @property
    def model_id(self) -> str:
        """Changes whenever the weights do; caches of hidden states are keyed on it."""
        return self.meta.get("model_id") or f"mem-{id(self.model)}"

    def new_recall(self, size: int) -> Recall:
        """An empty recall of ``size`` positions for this model's outputs (engine/recall.py), on its gate's basis."""
        basis = self.mixer.recall_basis if self.mixer is not None else None
        return Recall(size, self.model.config.hidden, len(self.vocab), basis=basis)


def save_checkpoint(
    path: str | PathLike[str],
    *,
    model: GRUModel,
    config: GRUConfig,
    vocab: Vocab,
    optimizer: torch.optim.Optimizer | None = None,
    step: int = 0,
    epoch: int = 0,
    extra: dict | None = None,
) -> None:
    if config.vocab_size != len(vocab):
        raise CheckpointError(f"config.vocab_size is {config.vocab_size} but the vocabulary has {len(vocab)} tokens")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_id": uuid.uuid4().hex,
        "config": asdict(config),
        "vocab": vocab.to_dict(),
        "vocab_hash": vocab.hash,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step),
        "epoch": int(epoch),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "extra": extra or {},
    }
    atomic_write(Path(path), lambda f: torch.save(payload, f))


def read_checkpoint(path: str | PathLike[str]) -> dict[str, Any]:
    """The checked payload of a checkpoint, tensors on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a truncated or foreign file
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: damaged or not a checkpoint ({reason[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a relay-novel checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {payload.get('version')!r}")
    try:
        vocab = Vocab.from_dict(payload["vocab"])
        config = GRUConfig.from_dict(payload["config"])
    except (VocabError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    if payload.get("vocab_hash") != vocab.hash:
        raise CheckpointError(f"{path}: the model was trained with another vocabulary (hash mismatch)")
    if config.vocab_size != len(vocab) or config.n_styles != len(vocab.styles):
        raise CheckpointError(
            f"{path}: config ({config.vocab_size} tokens, {config.n_styles} styles) does not match "
            f"its vocabulary ({len(vocab)} tokens, {len(vocab.styles)} styles)"
        )
    payload["vocab"] = vocab
    payload["config"] = config
    return payload


def model_from_payload(payload: dict[str, Any], path: str | PathLike[str] = "<checkpoint>") -> GRUModel:
    model = GRUModel(payload["config"], payload["vocab"].tokens)
    try:
        model.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f"{path}: weights do not match the config ({first[0] if first else e})") from None
    return model


def load_checkpoint(path: str | PathLike[str], *, device: str | torch.device = "cpu") -> Bundle:
    payload = read_checkpoint(path)
    model = model_from_payload(payload, path).to(resolve_device(device))
    model.eval()
    meta = {
        "path": str(path),
        "model_id": payload.get("model_id"),
        "step": payload["step"],
        "epoch": payload["epoch"],
        "vocab_hash": payload["vocab_hash"],
        "extra": payload.get("extra", {}),
    }
    index_path = Path(path).parent / COPY_INDEX_FILE
    copy_index = CopyIndex.load(index_path) if index_path.is_file() else None
    ngram_path = Path(path).parent / NGRAM_FILE
    ngram = TokenNgram.load(ngram_path, len(payload["vocab"])) if ngram_path.is_file() else None
    names_path = Path(path).parent / NAMES_FILE
    names = TrainingNames.load(names_path) if names_path.is_file() else None
    mixer_path = Path(path).parent / MIXER_FILE
    mixer = Mixer.load(mixer_path) if ngram is not None and mixer_path.is_file() else None
    if mixer is not None and mixer.ngram_order != ngram.order:
        raise CheckpointError(f"{mixer_path}: fitted for an n-gram of order {mixer.ngram_order}, not {ngram.order}")
    gradients_path = Path(path).parent / GRADIENTS_FILE
    gradients = GradientSizes.load(gradients_path) if gradients_path.is_file() else None
    basis = mixer.recall_basis if mixer is not None else None
    if basis is not None and basis.shape[0] != model.config.hidden:
        raise CheckpointError(f"{mixer_path}: its recall reads outputs of {basis.shape[0]}, not {model.config.hidden}")
    return Bundle(
        model=model,
        config=payload["config"],
        vocab=payload["vocab"],
        meta=meta,
        copy_index=copy_index,
        ngram=ngram,
        mixer=mixer,
        names=names,
        gradients=gradients,
    )
