"""BiFormer-T: vision transformer with bi-level routing attention (Zhu et al., CVPR 2023, arXiv 2303.08810).

Written from the paper's description (Sec. 3, Fig. 3, Table 1 and appendix):
- stem: two 3x3 stride-2 convs with BatchNorm (GELU between); between stages one 3x3 stride-2 conv +
  BatchNorm; four stages (depths 2, 2, 8, 2; width 64, 128, 256, 512; head dim 32; MLP ratio 3);
- a block: 3x3 depthwise conv as relative position encoding (residual), then pre-norm attention and MLP
  on channel-last tokens;
- bi-level routing attention (BRA) in stages 1-3: the S x S token image is cut into 7 x 7 regions;
  region-level queries and keys are the mean of each region's q and k; a region-to-region affinity
  (q_r k_r^T) picks, for every region, the top-k regions (k = 1, 4, 16); the key/value tokens of those
  regions are gathered, and each token of the region attends to them (token-to-token attention);
  LePE (5x5 depthwise conv on V over the whole image) is added to the output;
- stage 4 (7 x 7 tokens, one region) uses plain global attention with the same LePE;
- final BatchNorm, mean pooling, linear classifier.

The routing is the distinctive pattern: TopK + GatherElements on an expanded index, then region-major
to head-major Reshape/Transpose chains around the two matmuls. Like the authors' release, the logits of
both routing and attention are scaled by qk_dim^-0.5 (the whole width, not the head width).
"""
from __future__ import annotations

import torch
from torch import nn

from smartmem_sim.zoo.arch._common import require, seeded_build

PAPER = {
    "name": "BiFormer-T",
    "params_m": 13.1,
    "gmacs": 2.2,
    "input": (1, 3, 224, 224),
    "source": "Zhu et al., BiFormer, CVPR 2023, Table 2 (ImageNet-1K, 224^2): 13.1M params, 2.2G FLOPs",
}

FULL = {
    "img_size": 224, "dims": (64, 128, 256, 512), "depths": (2, 2, 8, 2), "topks": (1, 4, 16, 0),
    "regions": 7, "head_dim": 32, "mlp_ratio": 3.0, "num_classes": 1000,
}
# 64x64 -> 16, 8, 4, 2 tokens a side; 4 x 4 regions keep routing with top-1, top-2, top-4 (regions of
# 4x4, 2x2 and 1x1 tokens) and the global last stage (topk 0 = plain attention).
TINY = {
    "img_size": 64, "dims": (16, 32, 48, 64), "depths": (1, 1, 1, 1), "topks": (1, 2, 4, 0),
    "regions": 4, "head_dim": 8, "mlp_ratio": 3.0, "num_classes": 10,
}


def input_shape(tiny: bool = False) -> tuple[int, ...]:
    size = (TINY if tiny else FULL)["img_size"]
    return (1, 3, size, size)


class BiLevelRoutingAttention(nn.Module):
    """BRA on channel-last tokens (B, S, S, C); regions x regions regions of S/regions tokens a side."""

    def __init__(self, dim: int, heads: int, regions: int, topk: int):
        super().__init__()
        self.dim, self.heads, self.regions, self.topk = dim, heads, regions, topk
        self.scale = dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.lepe = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _, c = x.shape
        nr, m = self.regions, self.heads
        side = s // nr
        p2, w2 = nr * nr, side * side
        regions = x.reshape(b, nr, side, nr, side, c).permute(0, 1, 3, 2, 4, 5).reshape(b, p2, w2, c)
        q, k, v = self.qkv(regions).chunk(3, dim=-1)  # each (B, p2, w2, C)
        kv = torch.cat([k, v], dim=-1)
        # LePE runs on V laid back out as the full image
        v_img = v.reshape(b, nr, nr, side, side, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, s, s)
        lepe = self.lepe(v_img).permute(0, 2, 3, 1)
        # region-level routing: top-k most related regions for each region
        logits = (q.mean(dim=2) * self.scale) @ k.mean(dim=2).transpose(-2, -1)  # (B, p2, p2)
        _, index = torch.topk(logits, self.topk, dim=-1)  # (B, p2, topk)
        index = index.reshape(b, p2, self.topk, 1, 1).expand(-1, -1, -1, w2, 2 * c)
        kv_all = kv.reshape(b, 1, p2, w2, 2 * c).expand(-1, p2, -1, -1, -1)
        kv_sel = torch.gather(kv_all, 2, index)  # (B, p2, topk, w2, 2C)
        k_sel, v_sel = kv_sel.chunk(2, dim=-1)
        kw = self.topk * w2
        k_sel = k_sel.reshape(b * p2, kw, m, c // m).permute(0, 2, 3, 1)  # (B*p2, m, c/m, topk*w2)
        v_sel = v_sel.reshape(b * p2, kw, m, c // m).permute(0, 2, 1, 3)  # (B*p2, m, topk*w2, c/m)
        q_pix = q.reshape(b * p2, w2, m, c // m).permute(0, 2, 1, 3)  # (B*p2, m, w2, c/m)
        attn = torch.softmax((q_pix * self.scale) @ k_sel, dim=-1)
        out = (attn @ v_sel).permute(0, 2, 1, 3).reshape(b, nr, nr, side, side, c)
        out = out.permute(0, 1, 3, 2, 4, 5).reshape(b, s, s, c)
        return self.out(out + lepe)


class GlobalAttentionLePE(nn.Module):
    """Plain multi-head attention over all tokens of (B, S, S, C), plus LePE on V."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.lepe = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _, c = x.shape
        m, n = self.heads, s * s
        q, k, v = self.qkv(x.reshape(b, n, c)).chunk(3, dim=-1)
        lepe = self.lepe(v.transpose(1, 2).reshape(b, c, s, s)).flatten(2).transpose(1, 2)
        q, k, v = (t.reshape(b, n, m, c // m).transpose(1, 2) for t in (q, k, v))
        attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, c) + lepe
        return self.out(out).reshape(b, s, s, c)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, regions: int, topk: int, mlp_ratio: float):
        super().__init__()
        self.pos = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = (BiLevelRoutingAttention(dim, heads, regions, topk) if topk > 0
                     else GlobalAttentionLePE(dim, heads))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + self.pos(x)).permute(0, 2, 3, 1)  # NCHW -> NHWC
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x.permute(0, 3, 1, 2)


def conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout))


class BiFormer(nn.Module):
    def __init__(self, img_size: int, dims, depths, topks, regions: int, head_dim: int, mlp_ratio: float,
                 num_classes: int):
        super().__init__()
        for i, topk in enumerate(topks):
            res = img_size // 4 // 2 ** i
            require(img_size % 32 == 0 and dims[i] % head_dim == 0 and (topk == 0 or (res % regions == 0
                    and topk <= regions ** 2)),
                    f"biformer config: stage {i + 1} needs {res} tokens a side divisible by regions {regions}, "
                    f"topk {topk} <= {regions ** 2} regions, and width {dims[i]} divisible by head_dim {head_dim}")
        layers: list[nn.Module] = [conv_bn(3, dims[0] // 2), nn.GELU(), conv_bn(dims[0] // 2, dims[0])]
        for i, depth in enumerate(depths):
            if i > 0:
                layers.append(conv_bn(dims[i - 1], dims[i]))
            layers += [Block(dims[i], dims[i] // head_dim, regions, topks[i], mlp_ratio) for _ in range(depth)]
        self.layers = nn.Sequential(*layers)
        self.norm = nn.BatchNorm2d(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.layers(x))
        return self.head(x.flatten(2).mean(dim=-1))


def make_model(cfg: dict) -> nn.Module:
    return BiFormer(**cfg)


def build(tiny: bool = False, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """BiFormer-T (tiny=False: 224x224, ImageNet head) or its tiny twin (64x64, 10 classes)."""
    return seeded_build("biformer", make_model, TINY if tiny else FULL, input_shape(tiny), tiny, seed)
