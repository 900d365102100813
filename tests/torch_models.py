"""Small torch models with random weights, for front-end and zoo tests (import only where torch exists).

Each builder returns ``(module in eval mode, example inputs tuple, input names, dynamic axes)``; the
dynamic axes (legacy exporter format) make the exporters emit the shape logic that real exports have
(Shape -> Gather -> Unsqueeze -> Concat -> Reshape), which the front end must fold away.

* ``small_cnn``: conv/BN/ReLU stages with a residual block, global pooling, ``view(n, -1)``, Linear.
* ``swin_like``: Swin-Transformer blocks: patch embedding, shifted windows (``torch.roll``), window
  partition/reverse by view/permute/reshape, relative position bias gathered from a table, attention
  mask for the shifted windows, MLP, patch merging by strided slicing and concat.
* ``bert_like``: BERT encoder: word/position/type embeddings, additive attention mask from an input
  mask, multi-head attention by view/permute, GELU MLP, LayerNorm, pooler.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SmallCNN(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                   nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16))
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=2)
        self.fc = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = F.relu(x + self.block(x))
        x = F.relu(self.down(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(x.view(x.size(0), -1))


def _window_partition(x: torch.Tensor, w: int) -> torch.Tensor:
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, w * w, c)


def _window_reverse(windows: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    c = windows.shape[-1]
    x = windows.view(-1, h // w, wd // w, w, w, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, h, wd, c)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.window, self.heads, self.scale = window, heads, (dim // heads) ** -0.5
        self.bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("bias_index", rel[..., 0] * (2 * window - 1) + rel[..., 1], persistent=False)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.bias_table[self.bias_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, res: int, window: int, heads: int, shift: int) -> None:
        super().__init__()
        self.res, self.window, self.shift = res, window, shift
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        mask = None
        if shift:
            img = torch.zeros(1, res, res, 1)
            cnt = 0
            for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
                for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
                    img[:, hs, ws, :] = cnt
                    cnt += 1
            mw = _window_partition(img, window).squeeze(-1)
            mask = (mw.unsqueeze(1) - mw.unsqueeze(2)).ne(0).float() * -100.0
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        h = w = self.res
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(_window_partition(y, self.window), self.attn_mask)
        y = _window_reverse(y, self.window, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int, res: int) -> None:
        super().__init__()
        self.res = res
        self.norm = nn.LayerNorm(4 * dim)
        self.reduce = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, self.res, self.res, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduce(self.norm(x.view(b, -1, 4 * c)))


class SwinLike(nn.Module):
    def __init__(self, img: int = 32, patch: int = 4, dim: int = 16, window: int = 4, heads: int = 2,
                 classes: int = 10) -> None:
        super().__init__()
        res = img // patch
        self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.stage1 = nn.Sequential(SwinBlock(dim, res, window, heads, 0),
                                    SwinBlock(dim, res, window, heads, window // 2))
        self.merge = PatchMerging(dim, res)
        self.stage2 = nn.Sequential(SwinBlock(2 * dim, res // 2, window, 2 * heads, 0))
        self.norm = nn.LayerNorm(2 * dim)
        self.head = nn.Linear(2 * dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = self.stage2(self.merge(self.stage1(x)))
        return self.head(self.norm(x).mean(dim=1))


class BertLayer(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff1, self.ff2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, s, d = t.size()
        return t.view(b, s, self.heads, d // self.heads).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, s, d = x.size()
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / (d // self.heads) ** 0.5 + mask
        ctx = torch.matmul(scores.softmax(-1), v).permute(0, 2, 1, 3).contiguous().view(b, s, d)
        x = self.norm1(x + self.o(ctx))
        return self.norm2(x + self.ff2(F.gelu(self.ff1(x))))


class BertLike(nn.Module):
    def __init__(self, vocab: int = 100, dim: int = 32, heads: int = 2, layers: int = 2, max_len: int = 64) -> None:
        super().__init__()
        self.word, self.pos, self.token_type = nn.Embedding(vocab, dim), nn.Embedding(max_len, dim), nn.Embedding(2, dim)
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(BertLayer(dim, heads) for _ in range(layers))
        self.pool = nn.Linear(dim, dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq = ids.size(1)
        pos = torch.arange(seq, dtype=torch.long, device=ids.device).unsqueeze(0).expand_as(ids)
        x = self.norm(self.word(ids) + self.pos(pos) + self.token_type(torch.zeros_like(ids)))
        ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, ext)
        return x, torch.tanh(self.pool(x[:, 0]))


def small_cnn(seed: int = 0):
    torch.manual_seed(seed)
    model = SmallCNN().eval()
    _randomize_bn(model)
    return model, (torch.randn(2, 3, 16, 16),), ["x"], {"x": {0: "batch"}}


def swin_like(seed: int = 0):
    torch.manual_seed(seed)
    model = SwinLike().eval()
    return model, (torch.randn(2, 3, 32, 32),), ["x"], {"x": {0: "batch"}}


def bert_like(seed: int = 0):
    torch.manual_seed(seed)
    model = BertLike().eval()
    ids = torch.randint(0, 100, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 12:] = 0
    return model, (ids, mask), ["ids", "mask"], {"ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}}


def _randomize_bn(model: nn.Module) -> None:
    """Give BatchNorm non-trivial running statistics, so folding mistakes show in the outputs."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


BUILDERS = {"cnn": small_cnn, "swin": swin_like, "bert": bert_like}
