"""AutoFormer-T: the tiny ViT subnet found by AutoFormer's one-shot supernet search (Chen et al., ICCV 2021,
arXiv 2107.00651).

Written from the paper's description (Sec. 3-4, Table 1-2) and the published AutoFormer-T subnet
(embedding 192, 13 layers, per-layer heads and MLP ratios below; the search space of Table 1: embed
192-240, depth 12-14, MLP ratio 3.5-4 (searched values go down to 3.0), heads 3-4):
- 16x16 patch embedding conv, a class token and a learned absolute position embedding;
- pre-norm transformer layers whose Q/K/V width is 64 per head (so it changes with the layer's head
  count, independent of the embedding width) and whose attention adds 2-D relative position encodings
  (iRPE style): a learned table per axis, indexed by the clipped vertical and horizontal distance of two
  patches (max 14), added to the logits as q . r_k(i, j) and to the output as sum_j a_ij r_v(i, j); the
  class token uses entry 0;
- LayerNorm, then global average pooling over the patch tokens (the released subnets are trained with
  --gp), linear classifier.

The relative-position terms are the SmartMem-relevant part: each computes a batched matmul over a
(tokens, batch*heads, dim) permutation of q or of the attention matrix, i.e. Transpose-MatMul-Transpose.

Figures: 5.87M params (published 5.7M; the authors' own counter gives 5.87M for this subnet, the paper's
figure appears to leave out some small tensors). 1.48 GMACs counted over every conv/matmul, of which
0.19 G are the two relative-position matmuls per layer (2 x 197^2 x 64 x heads); without them 1.29 G,
the published 1.3G.
"""
from __future__ import annotations

import torch
from torch import nn

from smartmem_sim.errors import UserError
from smartmem_sim.zoo.arch._common import seeded_build

PAPER = {
    "name": "AutoFormer-T",
    "params_m": 5.7,
    "gmacs": 1.3,
    "input": (1, 3, 224, 224),
    "source": "Chen et al., AutoFormer, ICCV 2021, Table 2 (ImageNet-1K, 224^2): 5.7M params, 1.3G FLOPs; "
              "subnet config from the authors' AutoFormer-T release (embed 192, depth 13)",
}

FULL = {
    "img_size": 224, "patch": 16, "embed_dim": 192,
    "heads": (3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3),
    "mlp_ratios": (3.5, 3.5, 3.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5),
    "head_dim": 64, "max_rel": 14, "num_classes": 1000,
}
# 32x32 input, 8x8 patches -> 4x4 patches + class token; max_rel 2 < 3 so the clipping is exercised;
# two layers with different head counts and MLP ratios, as in the searched subnet.
TINY = {
    "img_size": 32, "patch": 8, "embed_dim": 24, "heads": (1, 2), "mlp_ratios": (2.0, 3.0),
    "head_dim": 16, "max_rel": 2, "num_classes": 10,
}


def input_shape(tiny: bool = False) -> tuple[int, ...]:
    size = (TINY if tiny else FULL)["img_size"]
    return (1, 3, size, size)


def relative_index(side: int, max_rel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Table rows for every (query, key) pair of side*side patches plus a class token in front.

    Row 0 is the class token's; patch pairs use clip(dist, -max_rel, max_rel) + max_rel + 1 per axis.
    Returns (vertical, horizontal), each (N, N) int64 with N = side*side + 1.
    """
    pos = torch.arange(side * side)
    idx = []
    for coord in (pos // side, pos % side):
        dist = (coord[None, :] - coord[:, None]).clamp(-max_rel, max_rel) + max_rel + 1
        idx.append(nn.functional.pad(dist, (1, 0, 1, 0)))
    return idx[0], idx[1]


class RelativePosition2D(nn.Module):
    """Learned per-axis tables; forward returns the (N, N, dim) embedding of every token pair."""

    def __init__(self, dim: int, side: int, max_rel: int):
        super().__init__()
        rows = 2 * max_rel + 2
        self.table_v = nn.Parameter(torch.randn(rows, dim) * 0.02)
        self.table_h = nn.Parameter(torch.randn(rows, dim) * 0.02)
        iv, ih = relative_index(side, max_rel)
        self.register_buffer("index_v", iv, persistent=False)
        self.register_buffer("index_h", ih, persistent=False)

    def forward(self) -> torch.Tensor:
        return self.table_v[self.index_v] + self.table_h[self.index_h]


class RelPosAttention(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, side: int, max_rel: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, dim)
        self.rel_k = RelativePosition2D(head_dim, side, max_rel)
        self.rel_v = RelativePosition2D(head_dim, side, max_rel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        h, d = self.heads, self.head_dim
        q, k, v = self.qkv(x).reshape(b, n, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, d)
        attn = q @ k.transpose(-2, -1)
        # q_i . r_k(i, j): batch over query tokens i, so the (N, N, d) table is one matmul operand
        q_by_token = q.permute(2, 0, 1, 3).reshape(n, b * h, d)
        rel_logits = (q_by_token @ self.rel_k().transpose(1, 2)).transpose(0, 1).reshape(b, h, n, n)
        attn = torch.softmax((attn + rel_logits) * self.scale, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, h * d)
        attn_by_token = attn.permute(2, 0, 1, 3).reshape(n, b * h, n)
        rel_out = (attn_by_token @ self.rel_v()).transpose(0, 1).reshape(b, h, n, d)
        out = out + rel_out.transpose(1, 2).reshape(b, n, h * d)
        return self.proj(out)


class Layer(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, head_dim: int, side: int, max_rel: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RelPosAttention(dim, heads, head_dim, side, max_rel)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class AutoFormer(nn.Module):
    def __init__(self, img_size: int, patch: int, embed_dim: int, heads, mlp_ratios, head_dim: int, max_rel: int,
                 num_classes: int):
        super().__init__()
        if len(heads) != len(mlp_ratios):
            raise UserError(f"autoformer config: {len(heads)} head counts but {len(mlp_ratios)} MLP ratios")
        if img_size % patch:
            raise UserError(f"autoformer config: img_size {img_size} is not a multiple of patch {patch}")
        side = img_size // patch
        self.patch_embed = nn.Conv2d(3, embed_dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, embed_dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, side * side + 1, embed_dim) * 0.02)
        self.layers = nn.Sequential(*[Layer(embed_dim, h, r, head_dim, side, max_rel)
                                      for h, r in zip(heads, mlp_ratios, strict=True)])
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.layers(x)
        return self.head(self.norm(x)[:, 1:].mean(dim=1))


def make_model(cfg: dict) -> nn.Module:
    return AutoFormer(**cfg)


def build(tiny: bool = False, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """AutoFormer-T (tiny=False: 224x224, ImageNet head) or its tiny twin (32x32, 10 classes)."""
    return seeded_build("autoformer", make_model, TINY if tiny else FULL, input_shape(tiny), tiny, seed)
