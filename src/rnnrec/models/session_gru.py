"""GRU4Rec for anonymous sessions: one GRU step per event, scores against item output vectors.

Three ways to feed items into the GRU (GRU4Rec's embedding modes):

* ``none``: one-hot input. The first layer's input weights are then one row per item
  (n_items × 3·hidden), so the step just looks the row up;
* ``separate``: an input embedding of ``embedding_dim`` feeding an ordinary GRU layer;
* ``shared`` (GRU4Rec's constrained embedding): the item output vectors are also the inputs.

The loss picks the final activation: softmax for cross-entropy (scores stay linear),
ELU(``elu_param``) or linear for BPR-max and TOP1-max. Ranking uses the linear scores, which
every one of these activations preserves in order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from rnnrec.errors import ConfigError, require_at_least, require_fraction
from rnnrec.models.dropout import dropout_mask
from rnnrec.models.gru_cell import GRUCache, gru_cell_forward, product

LOSSES = ("cross-entropy", "bpr-max", "top1-max")
EMBEDDINGS = ("none", "separate", "shared")


@dataclass
class SessionGRUConfig:
    loss: str = "cross-entropy"  # cross-entropy | bpr-max | top1-max
    embedding: str = "shared"  # none (one-hot) | separate | shared (= constrained)
    embedding_dim: int = 0  # with embedding = "separate"; 0 means equal to hidden
    hidden: int = 100
    layers: int = 1
    dropout_embed: float = 0.1  # on the input rows (not used with one-hot input)
    dropout_hidden: float = 0.0
    logq: float = 1.0  # cross-entropy only: subtract logq * log(item popularity) (logQ correction)
    bpreg: float = 0.0  # bpr-max only: weight of the score regulariser
    elu_param: float = 0.0  # bpr-max / top1-max: ELU final activation with this alpha (0 = linear)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"model.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.embedding not in EMBEDDINGS:
            raise ConfigError(f"model.embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        require_at_least("model", self, ("hidden", "layers"), 1)
        if self.embedding_dim < 0:
            raise ConfigError(f"model.embedding_dim must be >= 0, got {self.embedding_dim}")
        if self.embedding_dim and self.embedding != "separate":
            raise ConfigError("model.embedding_dim applies only to embedding = \"separate\"")
        require_fraction("model", self, ("dropout_embed", "dropout_hidden"))
        if self.loss == "cross-entropy" and (self.elu_param or self.bpreg):
            raise ConfigError("cross-entropy uses a softmax final activation: model.elu_param and model.bpreg must be 0")
        if self.loss != "cross-entropy" and self.logq:
            raise ConfigError(f"model.logq (logQ correction) applies to cross-entropy only, not {self.loss}; set it to 0")
        if self.loss == "top1-max" and self.bpreg:
            raise ConfigError("model.bpreg is the BPR-max regulariser; top1-max has its own and takes no bpreg")
        if self.elu_param < 0 or self.bpreg < 0 or self.logq < 0:
            raise ConfigError("model.elu_param, model.bpreg and model.logq must be >= 0")

    @property
    def input_dim(self) -> int:
        if self.embedding == "separate":
            return self.embedding_dim or self.hidden
        return self.hidden


class LayerTrace(NamedTuple):
    """One layer of a traced step: its input, its cell's cache, its output's dropout mask."""

    input: torch.Tensor
    cache: GRUCache
    dropout_mask: torch.Tensor | None
    one_hot: bool  # the input rows were the input projection (no input weights)


@dataclass
class StepTrace:
    """What :meth:`SessionGRU.step` keeps for a backward written out by hand."""

    dtype: torch.dtype | None = None  # of the matrix products (see gru_cell.product); None: float32
    embed_mask: torch.Tensor | None = None
    layers: list[LayerTrace] = field(default_factory=list)


def _glorot_(t: torch.Tensor, fan_in: int, fan_out: int) -> None:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        t.uniform_(-bound, bound)


class SessionGRU(nn.Module):
    """Item tables + a stack of GRU cells. Row 0 of every item table is padding.

    The item tables (``item_out``, ``item_bias`` and, by mode, ``item_in``) are read by row
    inside the training step so the optimiser can update only the rows a mini-batch touched.
    """

    def __init__(self, n_items: int, config: SessionGRUConfig) -> None:
        super().__init__()
        self.n_items = n_items  # table size, padding row included
        self.config = config
        H = config.hidden
        self.item_out = nn.Parameter(torch.empty(n_items, H))
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        if config.embedding == "none":
            self.item_in = nn.Parameter(torch.empty(n_items, 3 * H))  # one-hot input weights, per item
        elif config.embedding == "separate":
            self.item_in = nn.Parameter(torch.empty(n_items, config.input_dim))
        else:
            self.register_parameter("item_in", None)
        self.cells = nn.ModuleList()
        for layer in range(config.layers):
            if layer:
                in_dim = H
            else:
                in_dim = 1 if config.embedding == "none" else config.input_dim
            self.cells.append(nn.GRUCell(in_dim, H))
        if config.embedding == "none":
            # The first layer's input weights live in ``item_in``; its own stay unused at size 1.
            self.cells[0].weight_ih.requires_grad_(False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        H = self.config.hidden
        _glorot_(self.item_out, self.n_items, H)
        if self.item_in is not None:
            _glorot_(self.item_in, self.n_items, self.item_in.shape[1])
        with torch.no_grad():
            self.item_bias.zero_()
            for cell in self.cells:
                for gate in range(3):
                    rows = slice(gate * H, (gate + 1) * H)
                    _glorot_(cell.weight_ih[rows], cell.weight_ih.shape[1], H)
                    _glorot_(cell.weight_hh[rows], H, H)
                cell.bias_ih.zero_()
                cell.bias_hh.zero_()
            self.item_out[0].zero_()
            if self.item_in is not None:
                self.item_in[0].zero_()

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(self.config.layers, batch, self.config.hidden, device=device)

    def input_rows(self, items: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """The rows fed to the first layer for ``items`` (from ``table`` if given: a gathered copy)."""
        if table is not None:
            return table
        source = self.item_out if self.config.embedding == "shared" else self.item_in
        return source[items]

    def step(
        self, rows: torch.Tensor, state: torch.Tensor, trace: "StepTrace | None" = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One event per row: ``rows`` are the first-layer input rows, ``state`` (L, B, H).

        Returns the top layer's output (B, H), dropout applied in training, and the new state.
        With ``trace``, every layer keeps in it what the training step's written-out backward
        needs (one-hot input or not, its cell runs as :func:`gru_cell_forward`).
        """
        cfg = self.config
        x = rows
        if self.embed_dropout:
            mask = dropout_mask(x, cfg.dropout_embed)
            x = x * mask
            if trace is not None:
                trace.embed_mask = mask
        new_states = []
        for layer, cell in enumerate(self.cells):
            one_hot = layer == 0 and cfg.embedding == "none"  # the input rows are the input projection
            if one_hot or trace is not None:
                dtype = None if trace is None else trace.dtype
                if one_hot:
                    gi = x + cell.bias_ih
                elif dtype is None:
                    gi = torch.addmm(cell.bias_ih, x, cell.weight_ih.T)
                else:
                    gi = product(x, cell.weight_ih.T, dtype).add_(cell.bias_ih)
                h, cache = gru_cell_forward(gi, state[layer], cell.weight_hh, cell.bias_hh, dtype)
            else:  # torch's fused cell: faster for the one-event steps of serving
                h = torch.gru_cell(x, state[layer], cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
            mask = dropout_mask(h, cfg.dropout_hidden) if self.hidden_dropout else None
            if trace is not None:
                trace.layers.append(LayerTrace(x, cache, mask, one_hot))
            new_states.append(h)
            x = h * mask if mask is not None else h
        return x, (new_states[0].unsqueeze(0) if len(new_states) == 1 else torch.stack(new_states))

    @property
    def embed_dropout(self) -> bool:
        """Whether a training step drops input rows (one-hot inputs are never dropped)."""
        return self.training and self.config.embedding != "none" and self.config.dropout_embed > 0

    @property
    def hidden_dropout(self) -> bool:
        return self.training and self.config.dropout_hidden > 0

    def final_activation(self, scores: torch.Tensor) -> torch.Tensor:
        """ELU for BPR-max / TOP1-max when ``elu_param`` > 0; identity otherwise (softmax is in the loss)."""
        if self.config.loss != "cross-entropy" and self.config.elu_param > 0:
            return nn.functional.elu(scores, alpha=self.config.elu_param)
        return scores

    @torch.no_grad()
    def encode(self, items: torch.Tensor) -> torch.Tensor:
        """Hidden outputs (B, T, H) for right-padded sessions ``items`` (B, T), each from a zero state
        (outputs at padded positions are computed but meaningless)."""
        B, T = items.shape
        state = self.initial_state(B, items.device)
        outputs = []
        for t in range(T):
            out, state = self.step(self.input_rows(items[:, t]), state)
            outputs.append(out)
        return torch.stack(outputs, dim=1)

    @torch.no_grad()
    def score_all(self, outputs: torch.Tensor) -> torch.Tensor:
        """Linear scores over the whole catalogue; padding gets -inf."""
        scores = torch.addmm(self.item_bias, outputs, self.item_out.T)
        scores[:, 0] = float("-inf")
        return scores

