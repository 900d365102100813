"""YOLOv8n: the anchor-free YOLO detector of Ultralytics (Jocher et al., 2023), at 640x640.

Which size: the SmartMem paper names "YOLOv8" without a size, and its Table 7 figures were not available
to us, so we take the smallest, YOLOv8n (the brief's default; the mobile-GPU setting makes n the likely
one). Written from the published architecture (the model yaml's layer list and the documented modules),
not from the ultralytics package (not installed here):
- Conv = Conv2d (no bias) + BatchNorm (eps 1e-3) + SiLU; channels scaled by width 0.25 (rounded up to a
  multiple of 8, capped at 1024 before scaling), block repeats by depth 0.33;
- backbone: Conv 3x3/2 (16), Conv 3x3/2 (32), C2f x1, Conv/2 (64), C2f x2, Conv/2 (128), C2f x2,
  Conv/2 (256), C2f x1, SPPF (three chained 5x5 max-pools, concatenated);
- C2f: a 1x1 Conv to 2c, split in two halves, n bottlenecks (two 3x3 Convs, residual in the backbone)
  chained on the second half, every intermediate concatenated, a 1x1 Conv out;
- PAN-FPN neck: nearest 2x upsample + concat + C2f top-down to P3 (stride 8), then 3x3/2 Conv + concat
  + C2f bottom-up to P4 and P5;
- decoupled Detect head per level: box branch (two 3x3 Convs, 1x1 conv to 4 x 16 DFL bins) and class
  branch (two 3x3 Convs, 1x1 conv to 80 classes); decoding as in the exported model: DFL (softmax over
  16 bins, expectation by a fixed 1x1 conv), distances to the anchor point -> (cx, cy, w, h) times the
  stride, class sigmoid; output (1, 84, 8400). No NMS.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from smartmem_sim.zoo.arch._common import require, seeded_build

PAPER = {
    "name": "YOLOv8n",
    "params_m": 3.2,
    "gmacs": 4.35,
    "input": (1, 3, 640, 640),
    "source": "Ultralytics YOLOv8 model table (COCO, 640^2): YOLOv8n 3.2M params, 8.7 GFLOPs; Ultralytics "
              "counts FLOPs as 2 x MACs, so 4.35 GMACs",
}

FULL = {"img_size": 640, "width": 0.25, "depth": 0.33, "max_channels": 1024, "num_classes": 80, "reg_max": 16}
# 64x64 -> P3 8x8, P4 4x4, P5 2x2; width 1/16 (8..64 channels), every C2f one bottleneck, 8 classes,
# 8 DFL bins (the bins set the box branch width, 4 x bins).
TINY = {"img_size": 64, "width": 0.0625, "depth": 0.2, "max_channels": 1024, "num_classes": 8, "reg_max": 8}


def input_shape(tiny: bool = False) -> tuple[int, ...]:
    size = (TINY if tiny else FULL)["img_size"]
    return (1, 3, size, size)


class Conv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=s, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool):
        super().__init__()
        self.cv1, self.cv2 = Conv(c, c, 3), Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, cin: int, cout: int, n: int, shortcut: bool):
        super().__init__()
        self.c = cout // 2
        self.cv1 = Conv(cin, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, cout, 1)
        self.m = nn.ModuleList([Bottleneck(self.c, shortcut) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys = list(self.cv1(x).chunk(2, dim=1))
        for block in self.m:
            ys.append(block(ys[-1]))
        return self.cv2(torch.cat(ys, dim=1))


class SPPF(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 5):
        super().__init__()
        hidden = cin // 2
        self.cv1 = Conv(cin, hidden, 1)
        self.cv2 = Conv(4 * hidden, cout, 1)
        self.pool = nn.MaxPool2d(k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys = [self.cv1(x)]
        for _ in range(3):
            ys.append(self.pool(ys[-1]))
        return self.cv2(torch.cat(ys, dim=1))


def anchor_grid(img_size: int, strides) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres (1, 2, A) in grid units and the stride of each anchor (1, A), levels in order."""
    points, stride_of = [], []
    for s in strides:
        n = img_size // s
        ys, xs = torch.meshgrid(torch.arange(n) + 0.5, torch.arange(n) + 0.5, indexing="ij")
        points.append(torch.stack([xs.reshape(-1), ys.reshape(-1)]))
        stride_of.append(torch.full((n * n,), float(s)))
    return torch.cat(points, dim=1).unsqueeze(0), torch.cat(stride_of).unsqueeze(0)


class Detect(nn.Module):
    def __init__(self, channels, num_classes: int, reg_max: int, img_size: int):
        super().__init__()
        self.nc, self.reg_max = num_classes, reg_max
        c2 = max(16, channels[0] // 4, 4 * reg_max)
        c3 = max(channels[0], min(num_classes, 100))
        self.box = nn.ModuleList([nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
                                  for c in channels])
        self.cls = nn.ModuleList([nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, num_classes, 1))
                                  for c in channels])
        # DFL: the expected bin index, as a fixed 1x1 conv over the 16 bins
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        self.dfl_bins = reg_max
        anchors, strides = anchor_grid(img_size, (8, 16, 32))
        self.register_buffer("anchors", anchors, persistent=False)
        self.register_buffer("strides", strides, persistent=False)

    def reset_dfl(self) -> None:
        with torch.no_grad():
            self.dfl.weight.copy_(torch.arange(self.dfl_bins, dtype=torch.float32).reshape(1, -1, 1, 1))

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        b = feats[0].shape[0]
        no = 4 * self.reg_max + self.nc
        out = torch.cat([torch.cat([box(f), cls(f)], dim=1).reshape(b, no, -1)
                         for f, box, cls in zip(feats, self.box, self.cls, strict=True)], dim=2)
        box, cls = out.split((4 * self.reg_max, self.nc), dim=1)
        a = box.shape[-1]
        bins = box.reshape(b, 4, self.reg_max, a).transpose(2, 1).softmax(dim=1)
        dist = self.dfl(bins).reshape(b, 4, a)
        lt, rb = dist.chunk(2, dim=1)
        x1y1, x2y2 = self.anchors - lt, self.anchors + rb
        xywh = torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], dim=1) * self.strides
        return torch.cat([xywh, cls.sigmoid()], dim=1)


class YOLOv8(nn.Module):
    def __init__(self, img_size: int, width: float, depth: float, max_channels: int, num_classes: int,
                 reg_max: int):
        super().__init__()
        require(img_size % 32 == 0, f"yolov8 config: img_size {img_size} must be a multiple of 32 (stride of P5)")

        def ch(c: int) -> int:
            return int(math.ceil(min(c, max_channels) * width / 8) * 8)

        def rep(n: int) -> int:
            return max(round(n * depth), 1)

        c1, c2, c3, c4, c5 = ch(64), ch(128), ch(256), ch(512), ch(1024)
        self.stem = nn.Sequential(Conv(3, c1, 3, 2), Conv(c1, c2, 3, 2), C2f(c2, c2, rep(3), True),
                                  Conv(c2, c3, 3, 2), C2f(c3, c3, rep(6), True))  # P3
        self.down4 = nn.Sequential(Conv(c3, c4, 3, 2), C2f(c4, c4, rep(6), True))  # P4
        self.down5 = nn.Sequential(Conv(c4, c5, 3, 2), C2f(c5, c5, rep(3), True), SPPF(c5, c5))  # P5
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.td4 = C2f(c5 + c4, c4, rep(3), False)
        self.td3 = C2f(c4 + c3, c3, rep(3), False)
        self.bu4_down, self.bu4 = Conv(c3, c3, 3, 2), C2f(c3 + c4, c4, rep(3), False)
        self.bu5_down, self.bu5 = Conv(c4, c4, 3, 2), C2f(c4 + c5, c5, rep(3), False)
        self.detect = Detect((c3, c4, c5), num_classes, reg_max, img_size)
        self.detect.reset_dfl()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.stem(x)
        p4 = self.down4(p3)
        p5 = self.down5(p4)
        t4 = self.td4(torch.cat([self.up(p5), p4], dim=1))
        n3 = self.td3(torch.cat([self.up(t4), p3], dim=1))
        n4 = self.bu4(torch.cat([self.bu4_down(n3), t4], dim=1))
        n5 = self.bu5(torch.cat([self.bu5_down(n4), p5], dim=1))
        return self.detect([n3, n4, n5])


def make_model(cfg: dict) -> nn.Module:
    return YOLOv8(**cfg)


def build(tiny: bool = False, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """YOLOv8n (tiny=False: 640x640, 80 classes) or its tiny twin (64x64, 8 classes); output (1, 4+nc, A)."""
    return seeded_build("yolov8", make_model, TINY if tiny else FULL, input_shape(tiny), tiny, seed)
