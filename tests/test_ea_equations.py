"""The module's evolving-attention update equals a direct, loop-by-loop reading of the equations."""

import math

import pytest
import torch

from ea_mt.models import AttentionChain, EAConfig, EvolvingMultiheadAttention

EMBED, HEADS = 8, 2
HEAD_DIM = EMBED // HEADS

# Offsets (row, column) of the cells that output cell (i, j) reads: DEVELOPERS.md, k = 3.
READS = {
    "encoder": [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)],
    "decoder": [(di, dj) for di in (-2, -1, 0) for dj in (-2, -1, 0)],
    "cross": [(di, dj) for di in (-2, -1, 0) for dj in (-1, 0, 1)],
}


def reference(module, chain, query, key, previous, key_pad, causal, alpha, beta):
    """Attention output and A computed cell by cell, straight from the method's equations."""
    tq, batch, _ = query.shape
    tk = key.shape[0]
    q = (module.q_proj(query) / math.sqrt(HEAD_DIM)).view(tq, batch, HEADS, HEAD_DIM)
    k = module.k_proj(key).view(tk, batch, HEADS, HEAD_DIM)
    v = module.v_proj(key).view(tk, batch, HEADS, HEAD_DIM)
    weight, bias = module.ea_conv.weight, module.ea_conv.bias
    top, left = READS[chain][0]  # kernel cell (0, 0) reads offset (top, left)

    def masked(b, i, j):
        return bool(key_pad[b, j]) or (causal and j > i)

    def padding_query(b, i):  # before a convolution, padding queries' rows are zeroed too
        return module.self_attention and bool(key_pad[b, i])

    mixed = torch.zeros(batch, HEADS, tq, tk)
    for b in range(batch):
        for h in range(HEADS):
            for i in range(tq):
                for j in range(tk):
                    if not masked(b, i, j) and not padding_query(b, i):
                        logit = torch.dot(q[i, b, h], k[j, b, h])
                        mixed[b, h, i, j] = alpha * previous[b, h, i, j] + (1 - alpha) * logit
    evolved = torch.zeros_like(mixed)
    for b in range(batch):
        for o in range(HEADS):
            for i in range(tq):
                for j in range(tk):
                    total = bias[o].clone()
                    for c in range(HEADS):
                        for di, dj in READS[chain]:
                            r, s = i + di, j + dj
                            if 0 <= r < tq and 0 <= s < tk:
                                kernel = weight[o, c, di - top, dj - left]
                                total = total + kernel * mixed[b, c, r, s]
                    evolved[b, o, i, j] = beta * torch.relu(total) + (1 - beta) * mixed[b, o, i, j]
    out = torch.zeros(tq, batch, HEADS, HEAD_DIM)
    for b in range(batch):
        for h in range(HEADS):
            for i in range(tq):
                cols = [j for j in range(tk) if not masked(b, i, j)]
                probs = torch.softmax(evolved[b, h, i, cols], dim=0)
                out[i, b, h] = sum(p * v[j, b, h] for p, j in zip(probs, cols, strict=True))
    return module.out_proj(out.reshape(tq, batch, EMBED)), evolved


@pytest.mark.parametrize("chain", ["encoder", "decoder", "cross"])
def test_module_matches_the_equations(chain: str) -> None:
    torch.manual_seed(1)
    alpha, beta = 0.3, 0.6
    links = AttentionChain()
    links.join()
    module = EvolvingMultiheadAttention(
        EMBED, HEADS, ea=EAConfig(alpha=alpha, beta=beta), chain=links, chain_name=chain,
        self_attention=chain != "cross", encoder_decoder_attention=chain == "cross",
    ).eval()
    batch, tq = 3, 6
    tk = tq if chain != "cross" else 5
    query = torch.randn(tq, batch, EMBED)
    key = query if chain != "cross" else torch.randn(tk, batch, EMBED)
    key_pad = torch.zeros(batch, tk, dtype=torch.bool)
    if chain == "encoder":
        key_pad[1, :2] = True  # fairseq left-pads the source
        key_pad[2, :1] = True
    elif chain == "cross":
        key_pad[0, :2] = True
    causal = chain == "decoder"
    attn_mask = torch.triu(torch.full((tq, tk), float("-inf")), 1) if causal else None
    previous = torch.randn(batch, HEADS, tq, tk)

    with links.forward_pass():
        links.previous = previous
        out, _ = module(query, key, key, key_padding_mask=key_pad if key_pad.any() else None,
                        attn_mask=attn_mask, static_kv=chain == "cross")
        evolved = links.previous

    with torch.no_grad():
        expected_out, expected_evolved = reference(
            module, chain, query, key, previous, key_pad, causal, alpha, beta
        )
    torch.testing.assert_close(evolved, expected_evolved, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-5)
