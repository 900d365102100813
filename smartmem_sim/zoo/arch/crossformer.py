"""CrossFormer-T: cross-scale embedding and long/short distance attention (Wang et al., ICLR 2022,
arXiv 2108.00154).

Written from the paper's description (Sec. 3, Table 1 and appendix):
- cross-scale embedding layer (CEL): several convs of different kernel sizes but one stride sample the
  same positions; their outputs (fewer channels for larger kernels) are concatenated along channels.
  Stem: kernels 4, 8, 16, 32 at stride 4 (32, 16, 8, 8 channels for width 64); between stages: LayerNorm,
  then kernels 2, 4 at stride 2 (half of the doubled width each);
- four stages (depths 1, 1, 8, 6; width 64, 128, 256, 512; heads 2, 4, 8, 16), blocks alternate
  short-distance attention (SDA: groups of G x G adjacent tokens, G = 7) and long-distance attention
  (LDA: groups of tokens sampled at a fixed interval I = S / G = 8, 4, 2, 1 for an S x S token image, so
  each group again holds G x G tokens spread over the image). Where the image is no larger than a group, attention is global;
- dynamic position bias (DPB): a small MLP (Linear 2->d/16, then 3 x [LayerNorm, ReLU, Linear]) maps every
  relative offset (dy, dx) of a group to one bias per head, gathered into the attention logits;
- MLP ratio 4, pre-norm residual blocks, LayerNorm, mean pooling, linear classifier.

SDA and LDA are both one Reshape + Transpose + Reshape of the token image, with the split axes swapped:
the pair SmartMem's elimination should fold into the attention's index arithmetic.
"""
from __future__ import annotations

import torch
from torch import nn

from smartmem_sim.zoo.arch._common import require, seeded_build

PAPER = {
    "name": "CrossFormer-T",
    "params_m": 27.8,
    "gmacs": 2.9,
    "input": (1, 3, 224, 224),
    "source": "Wang et al., CrossFormer, ICLR 2022, Table 2 (ImageNet-1K, 224^2): 27.8M params, 2.9G FLOPs",
}

FULL = {
    "img_size": 224, "embed_dim": 64, "depths": (1, 1, 8, 6), "heads": (2, 4, 8, 16),
    "group_size": 7, "stem_kernels": (4, 8, 16, 32),
    "merge_kernels": (2, 4), "mlp_ratio": 4.0, "num_classes": 1000,
}
# 64x64 -> 16, 8, 4, 2 tokens a side; groups of 4 x 4: stage 1 and 2 have SDA and LDA blocks
# (intervals 16/4 and 8/4), stages 3 and 4 are global; all four stem kernels kept.
TINY = {
    "img_size": 64, "embed_dim": 16, "depths": (2, 2, 1, 1), "heads": (1, 2, 2, 4),
    "group_size": 4, "stem_kernels": (4, 8, 16, 32),
    "merge_kernels": (2, 4), "mlp_ratio": 2.0, "num_classes": 10,
}


def input_shape(tiny: bool = False) -> tuple[int, ...]:
    size = (TINY if tiny else FULL)["img_size"]
    return (1, 3, size, size)


def cel_widths(out_dim: int, n: int) -> list[int]:
    """Channels per kernel in a cross-scale embedding: halves for the small kernels, the last two equal."""
    widths = [out_dim // 2 ** (i + 1) for i in range(n - 1)]
    return widths + [out_dim - sum(widths)]


class CrossScaleEmbed(nn.Module):
    """Convs of several kernel sizes at one stride, concatenated along channels (NCHW in and out)."""

    def __init__(self, in_dim: int, out_dim: int, kernels, stride: int):
        super().__init__()
        widths = cel_widths(out_dim, len(kernels))
        self.convs = nn.ModuleList([
            nn.Conv2d(in_dim, w, k, stride=stride, padding=(k - stride) // 2) for k, w in zip(kernels, widths, strict=True)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x) for conv in self.convs], dim=1)


class DynamicPosBias(nn.Module):
    """MLP from a relative offset (dy, dx) to one bias per head."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        hidden = max(dim // 16, 4)  # d/16 as released (d/4 of a quarter-width input); >= 4 for tiny widths
        self.proj = nn.Linear(2, hidden)
        self.layers = nn.Sequential(*[
            nn.Sequential(nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, hidden if i < 2 else heads))
            for i in range(3)
        ])

    def forward(self, offsets: torch.Tensor) -> torch.Tensor:
        return self.layers(self.proj(offsets))


class GroupAttention(nn.Module):
    """Multi-head attention inside one group of g*g tokens with dynamic position bias."""

    def __init__(self, dim: int, group: int, heads: int):
        super().__init__()
        self.heads, self.group = heads, group
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.pos = DynamicPosBias(dim, heads)
        span = torch.arange(1 - group, group, dtype=torch.float32)
        offsets = torch.stack(torch.meshgrid(span, span, indexing="ij"), dim=-1).reshape(-1, 2)
        self.register_buffer("offsets", offsets, persistent=False)
        coords = torch.stack(torch.meshgrid(torch.arange(group), torch.arange(group), indexing="ij")).flatten(1)
        rel = coords[:, :, None] - coords[:, None, :] + (group - 1)
        self.register_buffer("bias_index", (rel[0] * (2 * group - 1) + rel[1]).reshape(-1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, c = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.pos(self.offsets)[self.bias_index].reshape(length, length, self.heads).permute(2, 0, 1)
        attn = torch.softmax(attn + bias.unsqueeze(0), dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, length, c))


class CrossFormerBlock(nn.Module):
    def __init__(self, dim: int, resolution: int, heads: int, group: int, long_distance: bool, mlp_ratio: float):
        super().__init__()
        if resolution <= group:
            group, long_distance = resolution, False
        self.res, self.group, self.long = resolution, group, long_distance
        # groups per side in SDA; sampling interval in LDA
        self.interval = resolution // group
        self.norm1 = nn.LayerNorm(dim)
        self.attn = GroupAttention(dim, group, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        r, g, i = self.res, self.group, self.interval
        y = self.norm1(x)
        if self.long:
            # LDA: token (a*i + p, b*i + q) goes to group (p, q) at position (a, b)
            y = y.reshape(b, g, i, g, i, c).permute(0, 2, 4, 1, 3, 5).reshape(-1, g * g, c)
            y = self.attn(y).reshape(b, i, i, g, g, c).permute(0, 3, 1, 4, 2, 5)
        else:
            # SDA: token (a*g + p, b*g + q) goes to group (a, b) at position (p, q)
            y = y.reshape(b, i, g, i, g, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, g * g, c)
            y = self.attn(y).reshape(b, i, i, g, g, c).permute(0, 1, 3, 2, 4, 5)
        x = x + y.reshape(b, r * r, c)
        return x + self.mlp(self.norm2(x))


class MergeLayer(nn.Module):
    """LayerNorm on tokens, then a stride-2 cross-scale embedding to twice the width."""

    def __init__(self, dim: int, resolution: int, kernels):
        super().__init__()
        self.res = resolution
        self.norm = nn.LayerNorm(dim)
        self.embed = CrossScaleEmbed(dim, 2 * dim, kernels, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = self.norm(x).transpose(1, 2).reshape(b, c, self.res, self.res)
        return self.embed(x).flatten(2).transpose(1, 2)


class CrossFormer(nn.Module):
    def __init__(self, img_size: int, embed_dim: int, depths, heads, group_size: int, stem_kernels,
                 merge_kernels, mlp_ratio: float, num_classes: int):
        super().__init__()
        for i in range(len(depths)):
            res = img_size // 4 // 2 ** i
            require(img_size % 32 == 0 and (res % group_size == 0 or res < group_size),
                    f"crossformer config: stage {i + 1} has {res} tokens a side, not a multiple of group_size "
                    f"{group_size} (padding is not implemented); use an img_size that is")
        self.stem = CrossScaleEmbed(3, embed_dim, stem_kernels, stride=4)
        self.stem_norm = nn.LayerNorm(embed_dim)
        layers: list[nn.Module] = []
        res, dim = img_size // 4, embed_dim
        for s, depth in enumerate(depths):
            layers += [CrossFormerBlock(dim, res, heads[s], group_size, j % 2 == 1, mlp_ratio)
                       for j in range(depth)]
            if s < len(depths) - 1:
                layers.append(MergeLayer(dim, res, merge_kernels))
                res, dim = res // 2, 2 * dim
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_norm(self.stem(x).flatten(2).transpose(1, 2))
        x = self.norm(self.layers(x))
        return self.head(x.mean(dim=1))


def make_model(cfg: dict) -> nn.Module:
    return CrossFormer(**cfg)


def build(tiny: bool = False, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """CrossFormer-T (tiny=False: 224x224, ImageNet head) or its tiny twin (64x64, 10 classes)."""
    return seeded_build("crossformer", make_model, TINY if tiny else FULL, input_shape(tiny), tiny, seed)
