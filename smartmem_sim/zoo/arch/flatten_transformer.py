"""FLatten-Swin-T: Swin-T with focused linear attention (Han et al., ICCV 2023, arXiv 2308.00442).

Which variant: the FLatten paper applies its module to PVT, PVTv2, Swin and CSwin. SmartMem's text groups
FlattenFormer with the Swin-like hybrids and evaluates Swin-T beside it, so we take FLatten-Swin-T, the
variant the FLatten authors feature (and release a config for): 29M params, 4.5G FLOPs. The SmartMem
paper's Table 7 figures for FlattenFormer were not available to us to confirm this choice.

Written from the paper's description (Sec. 4, Sec. 5.1) and the released FLatten-Swin-T settings
(attention types "LLSS", linear-attention window 56):
- Swin-T skeleton: 4x4 patch embedding + LayerNorm; stages of depths 2, 2, 6, 2, width 96, 192, 384, 768,
  heads 3, 6, 12, 24; patch merging (2x2 neighbours concatenated, LayerNorm, Linear 4C -> 2C) between;
  MLP ratio 4; LayerNorm, mean pooling, linear classifier;
- stages 1-2 ("L"): focused linear attention over the whole 56x56 / 28x28 token image (the window of
  56 covers it, so no shift): a learned position embedding is added to K; phi(x) = f(ReLU(x)/s) with a
  learned per-channel s = softplus(scale) and the focusing function f(x) = ||x|| x^3 / ||x^3|| (p = 3);
  out = phi(Q) (phi(K)^T V) / (phi(Q) mean(phi(K))^T); plus the rank-restoration 5x5 depthwise conv on
  V, shared by all heads;
- stages 3-4 ("S"): Swin's 7x7 window softmax attention with relative position bias, shifted by 3 in
  every second block (torch.roll and an attention mask); stage 4 (7x7 tokens) has one window, no shift.
"""
from __future__ import annotations

import torch
from torch import nn

from smartmem_sim.zoo.arch._common import require, seeded_build

PAPER = {
    "name": "FLatten-Swin-T",
    "params_m": 29.0,
    "gmacs": 4.5,
    "input": (1, 3, 224, 224),
    "source": "Han et al., FLatten Transformer, ICCV 2023, Table 1 (ImageNet-1K, 224^2): FLatten-Swin-T "
              "29M params, 4.5G FLOPs",
}

FULL = {
    "img_size": 224, "embed_dim": 96, "depths": (2, 2, 6, 2), "heads": (3, 6, 12, 24),
    "attn_types": "LLSS", "window": 7, "focusing": 3, "dwc_kernel": 5, "mlp_ratio": 4.0, "num_classes": 1000,
}
# 64x64 -> 16, 8, 4, 2 tokens a side; linear attention on 16x16 and 8x8, window 2 on 4x4 with a
# shifted second block, a single window on 2x2.
TINY = {
    "img_size": 64, "embed_dim": 16, "depths": (1, 1, 2, 1), "heads": (2, 2, 2, 4),
    "attn_types": "LLSS", "window": 2, "focusing": 3, "dwc_kernel": 5, "mlp_ratio": 2.0, "num_classes": 10,
}


def input_shape(tiny: bool = False) -> tuple[int, ...]:
    size = (TINY if tiny else FULL)["img_size"]
    return (1, 3, size, size)


def to_windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, S, S, C) -> (B*(S/w)^2, w*w, C)."""
    b, s, _, c = x.shape
    return x.reshape(b, s // w, w, s // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def from_windows(x: torch.Tensor, w: int, b: int, s: int) -> torch.Tensor:
    """(B*(S/w)^2, w*w, C) -> (B, S, S, C)."""
    c = x.shape[-1]
    return x.reshape(b, s // w, s // w, w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(b, s, s, c)


class FocusedLinearAttention(nn.Module):
    """Linear attention with the focusing map and the depthwise-conv rank restoration, on w*w tokens."""

    def __init__(self, dim: int, heads: int, window: int, focusing: int, dwc_kernel: int):
        super().__init__()
        self.heads, self.window, self.focusing = heads, window, focusing
        head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dwc = nn.Conv2d(head_dim, head_dim, dwc_kernel, padding=dwc_kernel // 2, groups=head_dim)
        self.scale = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.pos = nn.Parameter(torch.randn(1, window * window, dim) * 0.02)

    def _focus(self, t: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        t = (torch.relu(t) + 1e-6) / scale
        norm = t.norm(dim=-1, keepdim=True)
        t = t ** self.focusing
        return t / t.norm(dim=-1, keepdim=True) * norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        m, w = self.heads, self.window
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scale = nn.functional.softplus(self.scale)
        q, k = self._focus(q, scale), self._focus(k + self.pos, scale)
        q, k, v = (t.reshape(b, n, m, c // m).transpose(1, 2) for t in (q, k, v))  # (B, m, N, d)
        z = 1.0 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + 1e-6)
        kv = (k.transpose(-2, -1) * n ** -0.5) @ (v * n ** -0.5)  # (B, m, d, d): linear in N
        out = (q @ kv * z).transpose(1, 2).reshape(b, n, c)
        v_img = v.reshape(b * m, w, w, c // m).permute(0, 3, 1, 2)
        out = out + self.dwc(v_img).reshape(b, c, n).transpose(1, 2)
        return self.proj(out)


class WindowAttention(nn.Module):
    """Swin window softmax attention with a learned relative position bias, on w*w tokens."""

    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = coords[:, :, None] - coords[:, None, :] + (window - 1)
        self.register_buffer("bias_index", (rel[0] * (2 * window - 1) + rel[1]).reshape(-1), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        m = self.heads
        q, k, v = self.qkv(x).reshape(bw, n, 3, m, c // m).permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn + self.bias_table[self.bias_index].reshape(n, n, m).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.reshape(bw // nw, nw, m, n, n) + mask.reshape(1, nw, 1, n, n)).reshape(bw, m, n, n)
        attn = torch.softmax(attn, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c))


def shift_mask(s: int, w: int, shift: int) -> torch.Tensor:
    """(nW, w*w, w*w) additive mask: -100 between tokens that came from different regions before the roll."""
    region = torch.zeros(1, s, s, 1)
    bounds = (slice(0, -w), slice(-w, -shift), slice(-shift, None))
    label = 0
    for hs in bounds:
        for ws in bounds:
            region[:, hs, ws, :] = label
            label += 1
    labels = to_windows(region, w).squeeze(-1)
    diff = labels.unsqueeze(1) - labels.unsqueeze(2)
    return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))


class Block(nn.Module):
    def __init__(self, dim: int, res: int, heads: int, kind: str, window: int, shifted: bool, cfg: dict):
        super().__init__()
        if kind == "L" or res <= window:
            window = res  # linear attention covers the whole stage; a window as large as the image
        self.res, self.window = res, window
        self.shift = window // 2 if (shifted and kind == "S" and res > window) else 0
        self.norm1 = nn.LayerNorm(dim)
        if kind == "L":
            self.attn: nn.Module = FocusedLinearAttention(dim, heads, window, cfg["focusing"], cfg["dwc_kernel"])
        else:
            self.attn = WindowAttention(dim, heads, window)
        self.register_buffer("mask", shift_mask(res, window, self.shift) if self.shift else None,
                             persistent=False)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * cfg["mlp_ratio"])
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        s, w, sh = self.res, self.window, self.shift
        y = self.norm1(x).reshape(b, s, s, c)
        if sh:
            y = torch.roll(y, shifts=(-sh, -sh), dims=(1, 2))
        y = to_windows(y, w)
        y = self.attn(y, self.mask) if isinstance(self.attn, WindowAttention) else self.attn(y)
        y = from_windows(y, w, b, s)
        if sh:
            y = torch.roll(y, shifts=(sh, sh), dims=(1, 2))
        x = x + y.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int, res: int):
        super().__init__()
        self.res = res
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.reshape(b, self.res, self.res, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.reshape(b, -1, 4 * c)))


class FLattenSwin(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        dim, res = cfg["embed_dim"], cfg["img_size"] // 4
        for i, kind in enumerate(cfg["attn_types"]):
            r, w = res // 2 ** i, cfg["window"]
            require(kind in "LS" and cfg["img_size"] % 32 == 0 and (kind == "L" or r % w == 0 or r < w),
                    f"flatten_transformer config: stage {i + 1} ({kind!r}, {r} tokens a side) needs kind L or S "
                    f"and, for S, a side divisible by window {w}")
        self.patch_embed = nn.Conv2d(3, dim, 4, stride=4)
        self.patch_norm = nn.LayerNorm(dim)
        layers: list[nn.Module] = []
        for i, depth in enumerate(cfg["depths"]):
            kind = cfg["attn_types"][i]
            layers += [Block(dim, res, cfg["heads"][i], kind, cfg["window"], j % 2 == 1, cfg) for j in range(depth)]
            if i < len(cfg["depths"]) - 1:
                layers.append(PatchMerging(dim, res))
                dim, res = 2 * dim, res // 2
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, cfg["num_classes"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_norm(self.patch_embed(x).flatten(2).transpose(1, 2))
        x = self.norm(self.layers(x))
        return self.head(x.mean(dim=1))


def make_model(cfg: dict) -> nn.Module:
    return FLattenSwin(cfg)


def build(tiny: bool = False, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """FLatten-Swin-T (tiny=False: 224x224, ImageNet head) or its tiny twin (64x64, 10 classes)."""
    return seeded_build("flatten_transformer", make_model, TINY if tiny else FULL, input_shape(tiny), tiny, seed)
