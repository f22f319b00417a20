"""The model: embedding (+ a learned style vector) -> multi-layer GRU -> projection."""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any
from weakref import WeakKeyDictionary

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.recurrence import gru_forward, layer_weights, linear

IGNORE_INDEX = -1


@dataclass(frozen=True)
class GRUConfig:
    vocab_size: int
    n_styles: int = 1  # named styles; the style table has one more row, 0 = "any style"
    embed: int = 256
    hidden: int = 512
    layers: int = 2
    dropout: float = 0.1
    tie_weights: bool = False
    jamo: bool = False  # syllables share what their letters have in common, in and out (see ``jamo_index``)
    # DropConnect on the recurrent weights while training (AWD-LSTM's weight drop): each window reads W_hh
    # with this share of its weights zeroed, the same ones at every step.
    weight_drop: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight_drop < 1.0:
            raise ValueError("weight_drop must be in [0, 1)")
        if self.jamo and self.tie_weights:
            raise ValueError("letter tables (jamo) and tied weights do not go together: tie one or the other")

    @classmethod
    def tiny(cls, vocab_size: int, n_styles: int = 1) -> GRUConfig:
        """For tests: trains on a few thousand characters in seconds."""
        return cls(vocab_size, n_styles, embed=48, hidden=96, layers=1, dropout=0.0)

    @classmethod
    def small(cls, vocab_size: int, n_styles: int = 1) -> GRUConfig:
        """The demo model of `make run`: learns the demo stories in a couple of minutes on one core."""
        return cls(vocab_size, n_styles, embed=64, hidden=256, layers=1, dropout=0.0, jamo=True)

    @classmethod
    def default(cls, vocab_size: int, n_styles: int = 1) -> GRUConfig:
        """What a few minutes on 2 CPU cores buy best; generates about 2,000 characters/s on one core.

        Not the field defaults above (the issue's starting point, 256/512/2 layers):
        on KoCoNovel, one layer of 512 trains 3x faster per character and, within
        the same wall-clock time, reached lower held-out bits per character than
        2 x 512 or 2 x 384 (bench/results/engine-cpu.txt has the figures). Dropout
        on its input and output: without it the model learns the 36 training
        novels by heart after four epochs (20 minutes, bench/quality.py's split:
        best validation 3.97 bits/char without, 3.83 with 0.2). 0.35 rather than
        0.2: the same validation (3.82 against 3.83) but 3.92 against 3.97 bits/char
        on the four novels it never saw, in the same 20 minutes. Letter tables (``jamo``): in
        600 s beside the same model without them (bench/results/variants-37.txt), validation 3.934 against
        3.985 bits/char and 3.981 against 4.033 on the four novels it never saw, 3% fewer characters/s.
        """
        return cls(vocab_size, n_styles, embed=128, hidden=512, layers=1, dropout=0.35, jamo=True)

    @classmethod
    def large(cls, vocab_size: int, n_styles: int = 1) -> GRUConfig:
        """For a GPU."""
        return cls(vocab_size, n_styles, embed=512, hidden=1024, layers=3, dropout=0.2, jamo=True)

    @classmethod
    def preset(cls, size: str, vocab_size: int, n_styles: int = 1) -> GRUConfig:
        if size not in PRESETS:
            raise ValueError(f"unknown model size {size!r} (expected one of {', '.join(PRESETS)})")
        return getattr(cls, size)(vocab_size, n_styles)

    @classmethod
    def from_dict(cls, data: dict) -> GRUConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**data)


PRESETS = ("tiny", "small", "default", "large")


JAMO_ROWS = (20, 22, 29)  # initial, vowel and final letter tables: 0 = not a Hangul syllable; final 1 = none


def jamo_index(tokens: Sequence[str]) -> list[tuple[int, int, int]]:
    """Each token's three letters as rows of the letter tables: (initial, vowel, final), or (0, 0, 0).

    A Hangul syllable is an initial consonant, a vowel and perhaps a final
    consonant (Unicode numbers the 11,172 of them in that order). Tokens that
    are not one syllable (punctuation, Latin letters, Hanja, the specials) have
    no letters: row 0 of each table, which stays zero.
    """
    rows = []
    for token in tokens:
        code = ord(token) - 0xAC00 if len(token) == 1 else -1
        if 0 <= code < 11172:
            rows.append((code // 588 + 1, code % 588 // 28 + 1, code % 28 + 1))
        else:
            rows.append((0, 0, 0))
    return rows


class GRUModel(nn.Module):
    """The network. With ``config.jamo`` a syllable's input vector and output row are its own plus its letters'.

    On a few hundred thousand characters most of 1,500 syllables are rare: alone,
    the network learns each one's habits from its own few occurrences. Whether a
    syllable ends in a consonant decides what may follow it (은 or 는, 이 or 가,
    을 or 를), and syllables sharing an initial and a vowel are used alike; with
    the letter tables (starting at zero, so the model starts as without them)
    what is learned of one syllable's letters helps every syllable that has them.
    Generation reads the sums, folded once into one table and one output matrix:
    it costs the same as without. ``tokens`` (the vocabulary's) are needed with ``jamo``.
    """

    def __init__(self, config: GRUConfig, tokens: Sequence[str] | None = None) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed)
        # Zero rows: a style starts as "no particular style" and learns from there,
        # which is also what a style added by fine-tuning gets.
        self.style = nn.Embedding(config.n_styles + 1, config.embed)
        nn.init.zeros_(self.style.weight)
        self.drop = nn.Dropout(config.dropout)
        self.rnn = nn.GRU(
            config.embed, config.hidden, config.layers, dropout=config.dropout if config.layers > 1 else 0.0
        )
        head_in = config.hidden
        self.down: nn.Linear | None = None
        if config.tie_weights and config.hidden != config.embed:
            self.down = nn.Linear(config.hidden, config.embed, bias=False)
            head_in = config.embed
        self.head = nn.Linear(head_in, config.vocab_size)
        if config.tie_weights:
            self.head.weight = self.embed.weight
        self.letters_in: nn.ParameterList | None = None
        self.letters_out: nn.ParameterList | None = None
        if config.jamo:
            if tokens is None or len(tokens) != config.vocab_size:
                raise ValueError("a model with jamo needs its vocabulary's tokens, one per row")
            self.register_buffer("letters", torch.tensor(jamo_index(tokens), dtype=torch.long), persistent=False)
            self.letters_in = nn.ParameterList(nn.Parameter(torch.zeros(n, config.embed)) for n in JAMO_ROWS)
            self.letters_out = nn.ParameterList(nn.Parameter(torch.zeros(n, head_in)) for n in JAMO_ROWS)
        # The type of the matrix products while training on the CPU (engine/recurrence.py): None, 32 bits;
        # training sets torch.bfloat16 for its steps where the CPU has it (TrainConfig.bfloat16).
        self.products: torch.dtype | None = None

    def _with_letters(self, own: Tensor, tables: nn.ParameterList | None) -> Tensor:
        if tables is None:
            return own
        letters = self.letters
        total = own
        for column, table in enumerate(tables):
            row = table[letters[:, column]]  # (V, D)
            total = total + row * (letters[:, column : column + 1] > 0)  # row 0 (no letters) adds nothing
        return total

    def input_table(self) -> Tensor:
        """(V, E): each token's input vector (its own, plus its letters' with ``jamo``)."""
        return self._with_letters(self.embed.weight, self.letters_in)

    def head_weight(self) -> Tensor:
        """(V, H or E): each token's output row (its own, plus its letters' with ``jamo``)."""
        return self._with_letters(self.head.weight, self.letters_out)

    def folded(self) -> GRUModel:
        """A copy that computes the same, with each token's letters folded into its own rows and no letter tables
        (without letter tables, a plain copy).

        What adaptation to one story steps on: a letter's row is shared by hundreds of syllables, and a
        plain gradient step on the sum of all their gradients overshoots (the story's bits/char went to NaN
        on a model trained for 10 s); folded, each syllable's rows follow the story on their own, as before.
        """
        if self.letters_in is None:
            return copy.deepcopy(self)
        plain = GRUModel(replace(self.config, jamo=False)).to(self.head.weight.device)
        state = {name: value for name, value in self.state_dict().items() if not name.startswith("letters_")}
        with torch.no_grad():
            state["embed.weight"] = self.input_table().detach().clone()
            state["head.weight"] = self.head_weight().detach().clone()
        plain.load_state_dict(state)
        plain.train(self.training)
        return plain

    def init_hidden(self, batch: int) -> Tensor:
        weight = self.head.weight
        return weight.new_zeros(self.config.layers, batch, self.config.hidden)  # (L, B, H)

    def style_vectors(self, style: Tensor | int | None, batch: int, steps: int) -> Tensor:
        """(T, B, E) or broadcastable: the style added to every input embedding."""
        table = self.style.weight
        if style is None:
            return table[0].view(1, 1, -1)
        if isinstance(style, int):
            return table[style].view(1, 1, -1)
        if style.dim() == 1:  # (B,): one style per row
            return self.style(style).unsqueeze(0)  # (1, B, E)
        return self.style(style.t())  # (B, T) -> (T, B, E)

    def forward(
        self,
        idx: Tensor,
        hidden: Tensor | None = None,
        targets: Tensor | None = None,
        style: Tensor | int | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        batch, steps = idx.shape  # (B, T)
        out, hidden = self.run(idx, hidden, style)  # (T, B, H)
        logits = self.project(out)  # (T, B, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.reshape(steps * batch, -1), targets.t().reshape(-1), ignore_index=IGNORE_INDEX
            )
        return logits.transpose(0, 1), hidden, loss  # (B, T, V), (L, B, H)

    def run(
        self, idx: Tensor, hidden: Tensor | None = None, style: Tensor | int | None = None
    ) -> tuple[Tensor, Tensor]:
        """The recurrent part alone: time-major outputs (T, B, H) and the new hidden state."""
        batch, steps = idx.shape
        if hidden is None:
            hidden = self.init_hidden(batch)
        # Time-major inside: each step of the recurrence then reads contiguous memory.
        x = F.embedding(idx.t(), self.input_table()) + self.style_vectors(style, batch, steps)  # (T, B, E)
        x = self.drop(x)
        weight_drop = self.config.weight_drop if self.training and torch.is_grad_enabled() else 0.0
        if (x.is_cuda and not weight_drop) or not torch.is_grad_enabled():
            return self.rnn(x, hidden)  # cuDNN / ATen: best for inference and GPUs
        return gru_forward(self.rnn, x, hidden, self._products(), weight_drop)  # (T, B, H), (L, B, H)

    def _products(self) -> torch.dtype | None:
        """``products`` where it applies: a training step on the CPU."""
        if self.products is None or not (self.training and torch.is_grad_enabled()) or self.head.weight.is_cuda:
            return None
        return self.products

    def project(self, out: Tensor) -> Tensor:
        out = self.drop(out)
        if self.down is not None:
            out = self.down(out)
        weight = self.head.weight if self.letters_out is None else self.head_weight()
        return linear(out, weight, self.head.bias, self._products())

    def stepper(
        self, style: int = 0, *, half: bool = True
    ) -> Callable[[Tensor, list[Tensor]], tuple[Tensor, list[Tensor]]]:
        """A one-token step for generation: (tokens (B,), per-layer hidden [(B, H)]) -> (logits (B, V), hidden).

        Weights are looked up once here, not per character: at generation
        speed, Python attribute lookups cost as much as the small matrix products.
        On the CPU, with ``half``, the step reads its matrices in 16 bits (``HalfStep``); ``half=False``
        keeps them in 32.
        """
        with torch.no_grad():
            table = self.input_table() + self.style.weight[style]  # (V, E): the style and letters folded in once
        if half and table.device.type == "cpu" and HALF_KERNELS:
            return HalfStep(table, half_weights(self), self.config.hidden)
        with torch.no_grad():
            head = (self.head_weight(), self.head.bias)
        layers = [layer_weights(self.rnn, layer) for layer in range(self.config.layers)]
        down = self.down.weight if self.down is not None else None

        def step(tokens: Tensor, hidden: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
            x = table[tokens]  # (B, E)
            new = []
            for (w_ih, w_hh, b_ih, b_hh), h in zip(layers, hidden, strict=True):
                x = torch.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)  # one fused ATen call per layer
                new.append(x)
            if down is not None:
                x = F.linear(x, down)
            return F.linear(x, *head), new

        return step

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# fbgemm's 16-bit matrix products: in x86 builds of torch, not in every other.
HALF_KERNELS = "fbgemm" in torch.backends.quantized.supported_engines


@dataclass(frozen=True)
class HalfWeights:
    """A model's step matrices packed by fbgemm in 16-bit floats, with the fingerprint of the weights packed."""

    fingerprint: tuple[int, ...]
    layers: tuple[tuple[Any, Any], ...]  # per layer: (input, recurrent), each with its bias
    down: Any | None
    head: Any


_packed: WeakKeyDictionary[GRUModel, HalfWeights] = WeakKeyDictionary()


def half_weights(model: GRUModel) -> HalfWeights:
    """The model's matrices in 16 bits, packed again whenever the weights' contents have changed since.

    Packing the default model takes about 28 ms, so it is kept per model object (about 3.5 MB for the
    default model, for each story's adapted copy too). Whether to pack again is decided by the weights'
    contents (a CRC-32 of each matrix's bytes: 2.7 ms for the default model's 10 MB, measured beside the
    packing), not by torch's version counters: the fused AdamW kernel that training steps with changes
    the weights in place without bumping them, and samples written between epochs kept reading the
    first epoch's weights.
    """
    rnn = model.rnn
    params = [model.head.weight, model.head.bias, *rnn.parameters()]
    if model.down is not None:
        params.append(model.down.weight)
    if model.letters_out is not None:
        params.extend(model.letters_out)
    with torch.no_grad():
        fingerprint = tuple(zlib.crc32(p.detach().contiguous().numpy()) for p in params)
    kept = _packed.get(model)
    if kept is not None and kept.fingerprint == fingerprint:
        return kept
    pack = torch.ops.quantized.linear_prepack_fp16
    with torch.no_grad():
        layers = []
        for layer in range(model.config.layers):
            w_ih, w_hh, b_ih, b_hh = layer_weights(rnn, layer)
            layers.append((pack(w_ih.detach(), b_ih.detach()), pack(w_hh.detach(), b_hh.detach())))
        down = pack(model.down.weight.detach(), None) if model.down is not None else None
        head = pack(model.head_weight().detach(), model.head.bias.detach())
        kept = HalfWeights(fingerprint, tuple(layers), down, head)
    _packed[model] = kept
    return kept


class HalfStep:
    """The generation step with the matrices in 16-bit floats and everything else in 32.

    Writing one character reads the recurrent and output matrices whole, about 6 MB in
    32 bits for the default model, and between two characters the sampler's work and
    the machine's other tenants push them out of the processor's cache: the step is
    bound by reading memory, not by arithmetic. In 16 bits they are half as many bytes.
    fbgemm converts them back as it multiplies and sums in 32 bits. On bench/quality.py's
    engines the logits moved by 3.3e-3 at most over 4,000 characters of a novel they never
    saw, and the two distributions differed by 3e-8 nats on average. The gates are
    ``nn.GRU``'s (r, z, n) written out: ``torch.gru_cell`` takes only 32-bit matrices.
    """

    def __init__(self, table: Tensor, weights: HalfWeights, hidden: int) -> None:
        self.table = table
        self.weights = weights
        self.hidden = hidden
        self.linear = torch.ops.quantized.linear_dynamic_fp16  # looked up once, as the stepper's weights are

    def __call__(self, tokens: Tensor, hidden: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        linear = self.linear
        size = self.hidden
        x = self.table[tokens]  # (B, E)
        new = []
        for (w_ih, w_hh), h in zip(self.weights.layers, hidden, strict=True):
            gi = linear(x, w_ih)  # (B, 3H): x W_ih^T + b_ih
            gh = linear(h, w_hh)  # (B, 3H): h W_hh^T + b_hh
            rz = gi[:, : 2 * size].add_(gh[:, : 2 * size]).sigmoid_()  # reset and update gates
            n = torch.tanh(torch.addcmul(gi[:, 2 * size :], rz[:, :size], gh[:, 2 * size :]))
            x = torch.lerp(n, h, rz[:, size:])  # (1 - z) n + z h
            new.append(x)
        if self.weights.down is not None:
            x = linear(x, self.weights.down)
        return linear(x, self.weights.head), new


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" means CUDA when there is one, else the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r} (expected auto, cpu, cuda or cuda:N)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    return resolved
