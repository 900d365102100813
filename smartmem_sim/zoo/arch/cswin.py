"""CSWin-T: cross-shaped window self-attention (Dong et al., CVPR 2022, arXiv 2107.00652).

Written from the paper's description (Sec. 3, Table 1):
- stem: 7x7 conv, stride 4 (overlapping), then LayerNorm on the token sequence;
- four stages of CSWin blocks (depths 1, 2, 21, 1; width 64, 128, 256, 512; heads 2, 4, 8, 16), with a
  3x3 stride-2 conv + LayerNorm between stages;
- a block splits its heads in two halves: one half attends inside horizontal stripes of height sw, the other
  inside vertical stripes of width sw (sw = 1, 2, 7, 7 per stage); the last stage (7x7 tokens) attends
  globally with all heads in one branch;
- locally-enhanced positional encoding (LePE): a 3x3 depthwise conv on V inside each stripe, added to
  the attention output;
- MLP ratio 4, pre-norm residual blocks, mean-pooled tokens into a linear classifier.

The stripe partition is the reason SmartMem cites CSwin (769 layout transforms, 3863 graph ops): each
branch turns the token sequence into an image, cuts stripes, and back, for q, k and v separately.

Figures: 22.32M params by our count against the published 23M (-3%; every layer the paper describes is
here, we found nothing in the description that adds the rest), 4.32 GMACs against 4.3G.
"""
from __future__ import annotations

import torch
from torch import nn

from smartmem_sim.zoo.arch._common import require, seeded_build

PAPER = {
    "name": "CSWin-T",
    "params_m": 23.0,
    "gmacs": 4.3,
    "input": (1, 3, 224, 224),
    "source": "Dong et al., CSWin Transformer, CVPR 2022, Table 2 (ImageNet-1K, 224^2): 23M params, 4.3G FLOPs",
}

FULL = {
    "img_size": 224, "embed_dim": 64, "depths": (1, 2, 21, 1), "heads": (2, 4, 8, 16),
    "stripe_widths": (1, 2, 7, 7), "mlp_ratio": 4.0, "num_classes": 1000,
}
# 64x64 input -> 16, 8, 4, 2 tokens a side; stripes of 1 and 2 keep both stripe branches and the
# global last stage; two heads in the first stages so each branch keeps one.
TINY = {
    "img_size": 64, "embed_dim": 16, "depths": (1, 1, 1, 1), "heads": (2, 2, 4, 4),
    "stripe_widths": (1, 2, 2, 2), "mlp_ratio": 2.0, "num_classes": 10,
}


def input_shape(tiny: bool = False) -> tuple[int, ...]:
    size = (TINY if tiny else FULL)["img_size"]
    return (1, 3, size, size)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class StripeAttention(nn.Module):
    """Self-attention inside stripes of stripe_h x stripe_w tokens, plus LePE on V.

    Input q, k, v: (B, H*W, C) with C = this branch's channels.
    """

    def __init__(self, dim: int, resolution: int, stripe_h: int, stripe_w: int, heads: int):
        super().__init__()
        self.res, self.sh, self.sw, self.heads = resolution, stripe_h, stripe_w, heads
        self.scale = (dim // heads) ** -0.5
        self.lepe = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def _to_stripes(self, t: torch.Tensor) -> torch.Tensor:
        """(B, H*W, C) -> (B*nStripes, sh*sw, C), each stripe's tokens row-major."""
        b, _, c = t.shape
        r, sh, sw = self.res, self.sh, self.sw
        t = t.reshape(b, r // sh, sh, r // sw, sw, c).permute(0, 1, 3, 2, 4, 5)
        return t.reshape(-1, sh * sw, c)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        n, length, c = t.shape
        return t.reshape(n, length, self.heads, c // self.heads).permute(0, 2, 1, 3)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, _, c = q.shape
        r, sh, sw = self.res, self.sh, self.sw
        q, k, v = self._to_stripes(q), self._to_stripes(k), self._to_stripes(v)
        # LePE sees each stripe as a small image, so it never mixes tokens across stripes.
        v_img = v.transpose(1, 2).reshape(-1, c, sh, sw)
        lepe = self.lepe(v_img).reshape(-1, c, sh * sw).transpose(1, 2)
        q, k, v, lepe = (self._split_heads(t) for t in (q, k, v, lepe))
        attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        out = (attn @ v + lepe).permute(0, 2, 1, 3).reshape(-1, sh * sw, c)
        out = out.reshape(b, r // sh, r // sw, sh, sw, c).permute(0, 1, 3, 2, 4, 5)
        return out.reshape(b, r * r, c)


class CSWinBlock(nn.Module):
    def __init__(self, dim: int, resolution: int, heads: int, stripe: int, mlp_ratio: float, last: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        if last or stripe >= resolution:
            self.branches = nn.ModuleList([StripeAttention(dim, resolution, resolution, resolution, heads)])
        else:
            half = dim // 2
            self.branches = nn.ModuleList([
                StripeAttention(half, resolution, resolution, stripe, heads // 2),  # vertical stripes
                StripeAttention(half, resolution, stripe, resolution, heads // 2),  # horizontal stripes
            ])
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        if len(self.branches) == 1:
            out = self.branches[0](q, k, v)
        else:
            parts = [t.chunk(2, dim=-1) for t in (q, k, v)]
            out = torch.cat([branch(parts[0][i], parts[1][i], parts[2][i])
                             for i, branch in enumerate(self.branches)], dim=-1)
        x = x + self.proj(out)
        return x + self.mlp(self.norm2(x))


class MergeBlock(nn.Module):
    """3x3 stride-2 conv between stages on the token image, then LayerNorm."""

    def __init__(self, dim: int, out_dim: int, resolution: int):
        super().__init__()
        self.res = resolution
        self.conv = nn.Conv2d(dim, out_dim, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.transpose(1, 2).reshape(b, c, self.res, self.res)
        return self.norm(self.conv(x).flatten(2).transpose(1, 2))


class CSWin(nn.Module):
    def __init__(self, img_size: int, embed_dim: int, depths, heads, stripe_widths, mlp_ratio: float,
                 num_classes: int):
        super().__init__()
        for i, (sw, h) in enumerate(zip(stripe_widths, heads, strict=True)):
            res = img_size // 4 // 2 ** i
            require(img_size % 32 == 0 and res % sw == 0 and (embed_dim << i) % h == 0 and h % 2 == 0 or i == 3,
                    f"cswin config: stage {i + 1} needs img_size % 32 == 0, {res} tokens a side divisible by "
                    f"stripe width {sw}, and an even head count dividing {embed_dim << i} (got {h})")
        self.stem = nn.Conv2d(3, embed_dim, 7, stride=4, padding=2)
        self.stem_norm = nn.LayerNorm(embed_dim)
        layers: list[nn.Module] = []
        res, dim = img_size // 4, embed_dim
        for i, depth in enumerate(depths):
            last = i == len(depths) - 1
            layers += [CSWinBlock(dim, res, heads[i], stripe_widths[i], mlp_ratio, last) for _ in range(depth)]
            if not last:
                layers.append(MergeBlock(dim, 2 * dim, res))
                res, dim = res // 2, 2 * dim
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_norm(self.stem(x).flatten(2).transpose(1, 2))
        x = self.norm(self.layers(x))
        return self.head(x.mean(dim=1))


def make_model(cfg: dict) -> nn.Module:
    return CSWin(**cfg)


def build(tiny: bool = False, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """CSWin-T (tiny=False: 224x224, ImageNet head) or its tiny twin (64x64, 10 classes)."""
    return seeded_build("cswin", make_model, TINY if tiny else FULL, input_shape(tiny), tiny, seed)
