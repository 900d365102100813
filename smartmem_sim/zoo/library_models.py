"""Builders for the zoo networks that well-kept libraries define (timm, transformers, diffusers).

Every builder has the signature ``(tiny: bool) -> (module, inputs, source)``: a torch module in eval mode
with random weights (the caller seeds torch first; nothing is downloaded), example inputs at the paper's
size (batch 1) or at the tiny twin's size, and a one-line description of the library and config that
goes into the exported model's metadata. A tiny twin keeps the full network's block structure and
operator patterns (same block types, attention kind, normalization, activation) with few blocks and
small widths, so onnxruntime runs it in milliseconds.

torch and the libraries are imported inside the builders: this module is imported only on the export
path (the optional ``[zoo]`` extra).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

Built = tuple[Any, tuple[Any, ...], str]

# Eager attention everywhere: an explicit MatMul -> Softmax -> MatMul, as the paper's graphs have, instead
# of a fused scaled_dot_product_attention that newer exporters turn into one ONNX Attention node.
_EAGER = "eager"


def _timm(model_name: str, image_size: int, tiny_kwargs: dict[str, Any], tiny_size: int) -> Callable[[bool], Built]:
    def build(tiny: bool) -> Built:
        import torch

        from smartmem_sim.zoo.timm_import import import_timm

        timm = import_timm()
        kwargs = dict(tiny_kwargs) if tiny else {}
        size = tiny_size if tiny else image_size
        if "regnet_cfg" in kwargs:
            # timm's regnet entry points take no width/depth arguments: build the class from a config.
            from timm.models.regnet import RegNet, RegNetCfg

            model = RegNet(RegNetCfg(**kwargs["regnet_cfg"]), num_classes=10).eval()
        else:
            model = timm.create_model(model_name, pretrained=False, **kwargs).eval()
        x = torch.randn(1, 3, size, size)
        cfg = ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items()))
        return model, (x,), f"timm {timm.__version__} {model_name}({cfg}) input 1x3x{size}x{size}"

    return build


swin = _timm(
    "swin_tiny_patch4_window7_224", 224,
    # 2 stages of 2 blocks: a regular and a shifted-window block in each, patch merging between them.
    dict(img_size=112, embed_dim=16, depths=(2, 2), num_heads=(1, 2), num_classes=10), 112,
)
vit = _timm(
    "vit_base_patch16_224", 224,
    dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10), 32,
)
convnext = _timm(
    "convnext_tiny", 224,
    dict(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32), num_classes=10), 64,
)
# The paper's RegNet has 282 ONNX ops; RegNetY-3.2GF (21 SE blocks) exports to about that many (see
# paper_table.toml), so it is the variant we use.
regnet = _timm(
    "regnety_032", 224,
    # RegNetY's quantized-linear widths at small scale: 4 stages of 1 SE bottleneck, group width 8.
    dict(regnet_cfg=dict(w0=8, wa=13.0, wm=2.0, depth=4, group_size=8, se_ratio=0.25)), 64,
)
resnext = _timm(
    "resnext50_32x4d", 224,
    dict(layers=(1, 1, 1, 1), channels=(8, 16, 32, 64), stem_width=8, base_width=32, cardinality=4,
         num_classes=10), 64,
)
efficientvit = _timm(
    "efficientvit_b1", 224,
    dict(widths=(8, 16, 32, 32, 64), depths=(1, 1, 1, 1, 1), head_dim=8, head_widths=(64, 80), num_classes=10), 64,
)


def pythia_1b(tiny: bool) -> Built:
    """Pythia-1B (EleutherAI): GPT-NeoX, 16 layers, d=2048, 8 heads, rotary on 25% of the head dims,
    parallel residual; prefill of 128 tokens (batch 1, no KV cache), output the logits."""
    import torch
    import transformers
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    if tiny:
        cfg = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=128, max_position_embeddings=64)
        seq = 16
    else:
        cfg = dict(vocab_size=50304, hidden_size=2048, num_hidden_layers=16, num_attention_heads=8,
                   intermediate_size=8192, max_position_embeddings=2048)
        seq = 128
    config = GPTNeoXConfig(rotary_pct=0.25, rotary_emb_base=10000, use_parallel_residual=True,
                           hidden_act="gelu", tie_word_embeddings=False, use_cache=False, **cfg)
    config._attn_implementation = _EAGER
    model = _Logits(GPTNeoXForCausalLM(config).eval())
    ids = torch.randint(0, cfg["vocab_size"], (1, seq), dtype=torch.int64)
    desc = _describe("transformers", transformers.__version__, "GPTNeoXForCausalLM", cfg, f"input_ids 1x{seq}")
    return model, (ids,), desc


def sd_text_encoder(tiny: bool) -> Built:
    """Stable Diffusion 1.5's text encoder: CLIP ViT-L/14 text tower, 12 layers, d=768, 77 tokens."""
    import torch
    import transformers
    from transformers import CLIPTextConfig, CLIPTextModel

    if tiny:
        cfg = dict(vocab_size=128, hidden_size=32, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, max_position_embeddings=16, pad_token_id=1, bos_token_id=0,
                   eos_token_id=2)
    else:
        cfg = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                   num_attention_heads=12, max_position_embeddings=77)
    config = CLIPTextConfig(hidden_act="quick_gelu", projection_dim=768, **cfg)
    config._attn_implementation = _EAGER
    model = _LastHidden(CLIPTextModel(config).eval())
    seq = cfg["max_position_embeddings"]
    ids = torch.randint(0, cfg["vocab_size"], (1, seq), dtype=torch.int64)
    desc = _describe("transformers", transformers.__version__, "CLIPTextModel", cfg, f"input_ids 1x{seq}")
    return model, (ids,), desc


def _unet_config(tiny: bool) -> dict[str, Any]:
    down = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
    up = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")
    if tiny:
        return dict(sample_size=8, block_out_channels=(8, 16), layers_per_block=1, cross_attention_dim=16,
                    attention_head_dim=4, norm_num_groups=4, down_block_types=(down[0], down[3]),
                    up_block_types=(up[0], up[3]))
    return dict(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32,
                down_block_types=down, up_block_types=up)


def sd_unet(tiny: bool) -> Built:
    """Stable Diffusion 1.5's UNet2DConditionModel: one denoising step on a 64x64x4 latent (512x512
    image), 77x768 text embedding, batch 1 (no classifier-free-guidance doubling)."""
    import diffusers
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import AttnProcessor

    cfg = _unet_config(tiny)
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, **cfg).eval()
    unet.set_attn_processor(AttnProcessor())  # explicit MatMul/Softmax, not fused SDPA
    size, ctx = cfg["sample_size"], cfg["cross_attention_dim"]
    seq = 8 if tiny else 77
    inputs = (torch.randn(1, 4, size, size), torch.tensor([999], dtype=torch.int64), torch.randn(1, seq, ctx))
    desc = _describe("diffusers", diffusers.__version__, "UNet2DConditionModel", cfg,
                     f"sample 1x4x{size}x{size}, timestep [1], encoder_hidden_states 1x{seq}x{ctx}")
    return _UNetSample(unet), inputs, desc


def sd_vae_decoder(tiny: bool) -> Built:
    """Stable Diffusion 1.5's AutoencoderKL decoder (post_quant_conv + decoder): 64x64x4 -> 512x512x3."""
    import diffusers
    import torch
    from diffusers import AutoencoderKL
    from diffusers.models.attention_processor import AttnProcessor

    if tiny:
        cfg = dict(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, sample_size=32)
        size = 8
    else:
        cfg = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32,
                   sample_size=512)
        size = 64
    n = len(cfg["block_out_channels"])
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                        **cfg).eval()
    vae.set_attn_processor(AttnProcessor())
    desc = _describe("diffusers", diffusers.__version__, "AutoencoderKL.decode", cfg, f"latent 1x4x{size}x{size}")
    return _VaeDecode(vae), (torch.randn(1, 4, size, size),), desc


def conformer(tiny: bool) -> Built:
    """A Conformer encoder on log-mel features: transformers' ParakeetEncoder (Conformer blocks: half-step
    feed-forward, relative-position self-attention, depthwise-conv module, feed-forward, LayerNorm) at
    Conformer-M widths (Gulati et al. 2020: d=256, 16 blocks, 4 heads, conv kernel 31), 4x conv
    subsampling of 80 mel bins x 512 frames (5.12 s at 10 ms hop) -> 128 positions."""
    import torch
    import transformers
    from transformers import ParakeetEncoder, ParakeetEncoderConfig

    if tiny:
        cfg = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                   conv_kernel_size=7, subsampling_factor=4, subsampling_conv_channels=8, num_mel_bins=16)
        frames = 64
    else:
        cfg = dict(hidden_size=256, num_hidden_layers=16, num_attention_heads=4, intermediate_size=1024,
                   conv_kernel_size=31, subsampling_factor=4, subsampling_conv_channels=256, num_mel_bins=80)
        frames = 512
    config = ParakeetEncoderConfig(dropout=0.0, layerdrop=0.0, activation_dropout=0.0, attention_dropout=0.0,
                                   **cfg)
    config._attn_implementation = _EAGER
    model = _LastHidden(ParakeetEncoder(config).eval())
    feats = torch.randn(1, frames, cfg["num_mel_bins"])
    desc = _describe("transformers", transformers.__version__, "ParakeetEncoder", cfg,
                     f"input_features 1x{frames}x{cfg['num_mel_bins']}")
    return model, (feats,), desc


def _describe(library: str, version: str, cls: str, cfg: dict[str, Any], inputs: str) -> str:
    return f"{library} {version} {cls}({', '.join(f'{k}={v}' for k, v in cfg.items())}) {inputs}"


def _wrapper(forward: Callable[..., Any]):
    import torch

    class Wrapper(torch.nn.Module):
        """Expose one tensor output so the exported graph has one output, named by the exporter."""

        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return forward(self.inner, *args)

    return Wrapper


def _Logits(model):
    return _wrapper(lambda m, ids: m(input_ids=ids).logits)(model).eval()


def _LastHidden(model):
    return _wrapper(lambda m, x: m(x).last_hidden_state)(model).eval()


def _UNetSample(unet):
    return _wrapper(lambda m, s, t, c: m(s, t, encoder_hidden_states=c).sample)(unet).eval()


def _VaeDecode(vae):
    return _wrapper(lambda m, z: m.decode(z).sample)(vae).eval()


BUILDERS: dict[str, Callable[[bool], Built]] = {
    "swin": swin,
    "vit": vit,
    "convnext": convnext,
    "regnet": regnet,
    "resnext": resnext,
    "efficientvit": efficientvit,
    "pythia_1b": pythia_1b,
    "sd_text_encoder": sd_text_encoder,
    "sd_unet": sd_unet,
    "sd_vae_decoder": sd_vae_decoder,
    "conformer": conformer,
}
