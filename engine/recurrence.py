"""A GRU recurrence for CPU training, about twice as fast as ``nn.GRU``'s there.

``nn.GRU`` on the CPU records every time step as separate autograd nodes and
accumulates the recurrent weight gradient one small rank-B update per step,
which is bound by memory traffic. Here the forward pass saves the gates, the
backward pass walks time once computing only the hidden-state gradient, and
the weight gradient is one large matrix product at the end. The parameters are
``nn.GRU``'s own (gate order r, z, n), so CUDA and inference keep using cuDNN
or the ATen kernels on the very same weights.

With ``products=torch.bfloat16`` (``bfloat16_products``: a CPU that multiplies bfloat16 natively, with AMX or
AVX-512 BF16) the matrix products read their inputs in bfloat16 and everything else (the gates, the state, the
weights and their updates) stays in 32 bits: mixed precision, as on a GPU. The default model then trains at
7,633 characters/s against 4,888 on one thread of this project's machines (bench/results/variants-37-bfloat16.txt).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def bfloat16_products() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AMX or AVX-512 BF16): elsewhere torch emulates
    them, slower than 32 bits."""
    cpu = torch.cpu
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, products: torch.dtype | None = None) -> Tensor:
    """``F.linear``; with ``products``, the product computed in that type and returned in x's, the bias added in
    x's type."""
    if products is None:
        return F.linear(x, weight, bias)
    out = F.linear(x.to(products), weight.to(products)).to(x.dtype)
    return out if bias is None else out + bias


class GRURecurrence(torch.autograd.Function):
    """h_t = GRU(xi_t, h_{t-1}) where xi = x W_ih^T + b_ih is precomputed for all steps.

    ``products``: the type of the recurrent matrix products (None: the state's own).
    """

    @staticmethod
    def forward(
        ctx, xi: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor, products: torch.dtype | None = None
    ) -> tuple[Tensor, Tensor]:
        steps, batch, three_h = xi.shape  # (T, B, 3H)
        hidden = three_h // 3
        hs = xi.new_empty(steps + 1, batch, hidden)  # h_0 .. h_T
        rz = xi.new_empty(steps, batch, 2 * hidden)  # reset and update gates
        n = xi.new_empty(steps, batch, hidden)  # candidate state
        gh = xi.new_empty(steps, batch, three_h)  # h_{t-1} W_hh^T + b_hh
        hs[0] = h0
        w_t = w_hh.t() if products is None else w_hh.t().to(products)
        for t in range(steps):
            if products is None:
                torch.addmm(b_hh, hs[t], w_t, out=gh[t])
            else:
                torch.add(torch.mm(hs[t].to(products), w_t), b_hh, out=gh[t])
            torch.sigmoid(torch.add(xi[t, :, : 2 * hidden], gh[t, :, : 2 * hidden]), out=rz[t])
            torch.tanh(torch.addcmul(xi[t, :, 2 * hidden :], rz[t, :, :hidden], gh[t, :, 2 * hidden :]), out=n[t])
            # h_t = (1 - z) * n + z * h_{t-1}
            torch.lerp(n[t], hs[t], rz[t, :, hidden:], out=hs[t + 1])
        ctx.save_for_backward(hs, rz, n, gh, w_hh)
        ctx.products = products
        return hs[1:], hs[steps].clone()

    @staticmethod
    def backward(ctx, d_out: Tensor, d_last: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor, None]:
        hs, rz, n, gh, w_hh = ctx.saved_tensors
        products = ctx.products
        steps, batch, hidden = n.shape
        w = w_hh if products is None else w_hh.to(products)
        # d_gh holds the gradient at h W_hh^T + b_hh; its r and z parts equal
        # those at xi, so xi's gradient is d_gh with the n part swapped in.
        d_gh = d_out.new_empty(steps, batch, 3 * hidden)
        d_n = d_out.new_empty(steps, batch, hidden)
        dh = d_last.clone() if d_last is not None else d_out.new_zeros(batch, hidden)
        for t in range(steps - 1, -1, -1):
            dh += d_out[t]
            r, z, n_t = rz[t, :, :hidden], rz[t, :, hidden:], n[t]
            torch.mul(dh * (1 - z), 1 - n_t * n_t, out=d_n[t])
            torch.mul(dh * (hs[t] - n_t), z * (1 - z), out=d_gh[t, :, hidden : 2 * hidden])
            torch.mul(d_n[t] * gh[t, :, 2 * hidden :], r * (1 - r), out=d_gh[t, :, :hidden])
            torch.mul(d_n[t], r, out=d_gh[t, :, 2 * hidden :])
            if products is None:
                dh = torch.addmm(dh * z, d_gh[t], w)
            else:
                dh = torch.mm(d_gh[t].to(products), w).to(dh.dtype).add_(dh * z)
        flat = d_gh.view(steps * batch, 3 * hidden)
        states = hs[:-1].reshape(steps * batch, hidden)
        if products is None:
            d_w = flat.t().mm(states)
        else:
            d_w = flat.t().to(products).mm(states.to(products)).to(w_hh.dtype)
        d_b = flat.sum(0)
        d_xi = torch.cat([d_gh[:, :, : 2 * hidden], d_n], dim=2)
        return d_xi, dh, d_w, d_b, None


def layer_weights(rnn: nn.GRU, layer: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One layer's (weight_ih, weight_hh, bias_ih, bias_hh) of an ``nn.GRU``: (3H, E), (3H, H), (3H,), (3H,)."""
    return (
        getattr(rnn, f"weight_ih_l{layer}"),
        getattr(rnn, f"weight_hh_l{layer}"),
        getattr(rnn, f"bias_ih_l{layer}"),
        getattr(rnn, f"bias_hh_l{layer}"),
    )


def gru_forward(
    rnn: nn.GRU, x: Tensor, h0: Tensor, products: torch.dtype | None = None, weight_drop: float = 0.0
) -> tuple[Tensor, Tensor]:
    """``rnn(x, h0)`` for a time-major, unidirectional ``nn.GRU``, computed with GRURecurrence (its matrix
    products in ``products``, when given; with ``weight_drop``, each layer's W_hh read with that share of its
    weights dropped, the same at every step)."""
    # x (T, B, E), h0 (L, B, H)
    last = []
    for layer in range(rnn.num_layers):
        w_ih, w_hh, b_ih, b_hh = layer_weights(rnn, layer)
        if weight_drop:
            w_hh = F.dropout(w_hh, weight_drop, training=True)
        xi = linear(x, w_ih, b_ih, products)  # x W_ih^T + b_ih (T, B, 3H)
        x, h = GRURecurrence.apply(xi, h0[layer], w_hh, b_hh, products)
        last.append(h)
        if rnn.dropout and rnn.training and layer < rnn.num_layers - 1:
            x = F.dropout(x, rnn.dropout, training=True)
    return x, torch.stack(last)  # (T, B, H), (L, B, H)
