"""SMT-T: scale-aware modulation transformer (Lin et al., ICCV 2023, arXiv 2307.08579).

Written from the paper's description (Sec. 3, Fig. 2-3, Table 1) and the released SMT-T settings:
- stem: 3x3 stride-2 conv, BatchNorm, ReLU, 2x2 stride-2 conv, LayerNorm on tokens; later stages start
  with a 3x3 stride-2 conv + LayerNorm; four stages (depths 2, 2, 8, 1; width 64, 128, 256, 512;
  MLP ratios 4, 4, 4, 2), each closed by a LayerNorm; mean pooling, linear classifier;
- scale-aware modulation (SAM) in stages 1-3: value v = Linear(x); a second projection s = Linear(x) is
  split into 4 heads, head i passes a depthwise conv of kernel 3 + 2i (multi-head mixed convolution);
  the heads' outputs are interleaved channel-wise (one channel of every head side by side) and mixed
  by a grouped 1x1 conv (groups = C / 4, expansion 2), BatchNorm, GELU, 1x1 conv (scale-aware
  aggregation); the result modulates v element-wise, then an output Linear;
- stage 3 alternates SAM and multi-head self-attention (evolutionary hybrid network); stage 4 is
  attention only (8 and 16 heads), each attention adds a 3x3 depthwise conv of V;
- the MLP has a 3x3 depthwise conv after its first Linear (x = GELU(fc1 x + dwconv(fc1 x))).

The distinctive layout work: per-head slices of a channel-split tensor go through convs of different
kernels and are re-interleaved by a Concat on a new axis + Reshape, between token (B, N, C) and image
(B, C, H, W) forms.
"""
from __future__ import annotations

import torch
from torch import nn

from smartmem_sim.zoo.arch._common import require, seeded_build

PAPER = {
    "name": "SMT-T",
    "params_m": 11.5,
    "gmacs": 2.4,
    "input": (1, 3, 224, 224),
    "source": "Lin et al., Scale-Aware Modulation Meet Transformer, ICCV 2023, Table 2 (ImageNet-1K, 224^2): "
              "SMT-T 11.5M params, 2.4G FLOPs",
}

FULL = {
    "img_size": 224, "dims": (64, 128, 256, 512), "depths": (2, 2, 8, 1), "sam_heads": 4,
    "attn_heads": (0, 0, 8, 16), "mlp_ratios": (4.0, 4.0, 4.0, 2.0), "expand": 2, "num_classes": 1000,
}
# 64x64 -> 16, 8, 4, 2 tokens a side; stage 3 keeps one SAM and one attention block, stage 4 attention.
TINY = {
    "img_size": 64, "dims": (16, 32, 32, 64), "depths": (1, 1, 2, 1), "sam_heads": 4,
    "attn_heads": (0, 0, 2, 4), "mlp_ratios": (2.0, 2.0, 2.0, 2.0), "expand": 2, "num_classes": 10,
}


def input_shape(tiny: bool = False) -> tuple[int, ...]:
    size = (TINY if tiny else FULL)["img_size"]
    return (1, 3, size, size)


def tokens_to_image(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    b, _, c = x.shape
    return x.transpose(1, 2).reshape(b, c, h, w)


class ConvMlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.fc1(x)
        x = self.act(x + self.dwconv(tokens_to_image(x, h, w)).flatten(2).transpose(1, 2))
        return self.fc2(x)


class ScaleAwareModulation(nn.Module):
    def __init__(self, dim: int, heads: int, expand: int):
        super().__init__()
        self.heads = heads
        self.v = nn.Linear(dim, dim)
        self.s = nn.Linear(dim, dim)
        d = dim // heads
        self.convs = nn.ModuleList([nn.Conv2d(d, d, 3 + 2 * i, padding=1 + i, groups=d) for i in range(heads)])
        self.mix = nn.Sequential(
            nn.Conv2d(dim, dim * expand, 1, groups=d), nn.BatchNorm2d(dim * expand), nn.GELU(),
            nn.Conv2d(dim * expand, dim, 1),
        )
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        m = self.heads
        s = self.s(x).reshape(b, h, w, m, c // m).permute(3, 0, 4, 1, 2)  # (m, B, C/m, H, W)
        # channel j of head i lands at j*m + i: each group of the 1x1 mix sees every kernel size once
        scales = torch.stack([conv(s[i]) for i, conv in enumerate(self.convs)], dim=2)  # (B, C/m, m, H, W)
        s = self.mix(scales.reshape(b, c, h, w)).reshape(b, c, n).transpose(1, 2)
        return self.proj(s * self.v(x))


class SelfAttentionDW(nn.Module):
    """Multi-head self-attention plus a 3x3 depthwise conv of V (as an image) added to the output."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.local = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        m = self.heads
        q = self.q(x).reshape(b, n, m, c // m).transpose(1, 2)
        k, v = self.kv(x).reshape(b, n, 2, m, c // m).permute(2, 0, 3, 1, 4).unbind(0)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, c)
        v_tokens = v.transpose(1, 2).reshape(b, n, c)
        return self.proj(out + self.local(tokens_to_image(v_tokens, h, w)).reshape(b, c, n).transpose(1, 2))


class Block(nn.Module):
    def __init__(self, dim: int, mixer: nn.Module, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.mixer = mixer
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


class Stage(nn.Module):
    def __init__(self, embed: nn.Module, dim: int, blocks: list[nn.Module]):
        super().__init__()
        self.embed = embed
        self.embed_norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW in, (B, N, C) tokens out; H, W are static for a given input size."""
        x = self.embed(x)
        h, w = x.shape[2], x.shape[3]
        x = self.embed_norm(x.flatten(2).transpose(1, 2))
        for blk in self.blocks:
            x = blk(x, h, w)
        return self.norm(x), h, w


class SMT(nn.Module):
    def __init__(self, img_size: int, dims, depths, sam_heads: int, attn_heads, mlp_ratios, expand: int,
                 num_classes: int):
        super().__init__()
        require(img_size % 32 == 0 and all(d % sam_heads == 0 for d in dims),
                f"smt config: img_size {img_size} must be a multiple of 32 and every width {dims} a multiple of "
                f"sam_heads {sam_heads}")
        stages = []
        for i, depth in enumerate(depths):
            if i == 0:
                embed = nn.Sequential(nn.Conv2d(3, dims[0], 3, stride=2, padding=1, bias=False),
                                      nn.BatchNorm2d(dims[0]), nn.ReLU(), nn.Conv2d(dims[0], dims[0], 2, stride=2))
            else:
                embed = nn.Conv2d(dims[i - 1], dims[i], 3, stride=2, padding=1)
            blocks = []
            for j in range(depth):
                # stage 1-2: SAM; stage 3: SAM and attention alternate; stage 4: attention
                use_sam = attn_heads[i] == 0 or (i == 2 and j % 2 == 0)
                mixer = (ScaleAwareModulation(dims[i], sam_heads, expand) if use_sam
                         else SelfAttentionDW(dims[i], attn_heads[i]))
                blocks.append(Block(dims[i], mixer, mlp_ratios[i]))
            stages.append(Stage(embed, dims[i], blocks))
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages[:-1]:
            x = tokens_to_image(*stage(x))
        tokens, _, _ = self.stages[-1](x)
        return self.head(tokens.mean(dim=1))


def make_model(cfg: dict) -> nn.Module:
    return SMT(**cfg)


def build(tiny: bool = False, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """SMT-T (tiny=False: 224x224, ImageNet head) or its tiny twin (64x64, 10 classes)."""
    return seeded_build("smt", make_model, TINY if tiny else FULL, input_shape(tiny), tiny, seed)
