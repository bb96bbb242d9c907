"""CLIP from a Hugging Face CLIP folder, run by polymodal's own PyTorch code: the same weights
(read from model.safetensors by their Hugging Face names), the same image preprocessing and
the same tokenizer (tokenizer.json through `tokenizers`), without importing transformers.

Why: a process that classifies a few images spends more time importing transformers' CLIP
code (about 3 s of a fresh `polymodal classify` on this 2-core CPU, `python -X importtime`)
than running the model, and a batch's images were preprocessed one at a time. Here a batch is
resized and cropped per image (PIL, as transformers does) and normalised as one tensor.

`load(directory)` returns None where the folder needs transformers (another layout, an
activation or processor setting this module does not reproduce, a LoRA adapter saved beside
it); HFAligner then loads it with transformers as before. tests/test_native_clip.py checks
features, tokens and pixels against transformers on random-weight folders."""
from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ModelNotFoundError
from .int8_linear import Int8Linear
from .loading import read_hf_config
from .lora import ADAPTER_FOLDER
from .packed_linear import PackedLinear, wide_products_pay

# the layer classes a tower's products are laid out in once (pack): oneDNN's packed float
# product (hf/packed_linear.py) or its int8 one (hf/int8_linear.py, precision int8-bf16);
# both are built as product(weight, bias[, activation]) and product.of(linear)
Product = type[PackedLinear] | type[Int8Linear]

WEIGHTS = "model.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt")
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
QUICK_GELU = 1.702


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(1.702 x), computed as silu(1.702 x) / 1.702 (the same function), in x's own
    memory where no gradient is taken (x is a product's fresh output). torch's CPU sigmoid is
    slow beside its silu: on 2 AMD EPYC cores, over an int8 ViT-B/32 layer's [8, 50, 3072]
    hidden activations, the sigmoid form took 4.2 ms, this one 0.28 ms (max difference 4.8e-7)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return F.silu(QUICK_GELU * x) / QUICK_GELU
    return F.silu(x.mul_(QUICK_GELU), inplace=True).div_(QUICK_GELU)


ACTIVATIONS = {"quick_gelu": quick_gelu, "gelu": F.gelu}
# CLIPTextConfig's and CLIPVisionConfig's defaults, for keys a folder's config leaves out
TEXT_DEFAULTS = {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
                 "num_attention_heads": 8, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                 "layer_norm_eps": 1e-5, "eos_token_id": 49407}
VISION_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                   "num_channels": 3, "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu",
                   "layer_norm_eps": 1e-5}
INIT_FILLS = ("normal_", "uniform_", "kaiming_uniform_", "ones_", "zeros_")     # what the layers' constructors call
BICUBIC = 3                     # PIL's resample code, CLIP's setting


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))
        self.qkv: nn.Module | None = None           # the three projections as one product (pack)

    def pack(self, product: Product = PackedLinear) -> None:
        """The query, key and value projections as one product (one pass over the input, one
        call) and the output projection, laid out as `product`; the separate layers are dropped."""
        self.qkv = product(torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]),
                           torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]))
        self.out_proj = product.of(self.out_proj)
        self.q_proj = self.k_proj = self.v_proj = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, queries: int | None = None) -> torch.Tensor:
        """-> the output of every token, or of the first `queries` (which still attend to all)."""
        batch, tokens, width = x.shape

        def split(t):
            return t.view(batch, t.shape[1], self.heads, width // self.heads).transpose(1, 2)
        if self.qkv is not None:
            query, key, value = self.qkv(x).view(batch, tokens, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            query = query if queries is None else query[:, :, :queries]
        else:
            query = split(self.q_proj(x if queries is None else x[:, :queries]))
            key, value = split(self.k_proj(x)), split(self.v_proj(x))
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(batch, -1, width))


class MLP(nn.Module):
    def __init__(self, width: int, hidden: int, act: str):
        super().__init__()
        self.fc1, self.fc2, self.act_name = nn.Linear(width, hidden), nn.Linear(hidden, width), act
        self.fused = False          # whether fc1's product applies the activation (pack)

    def pack(self, product: Product = PackedLinear) -> None:
        """fc1 and fc2 laid out as `product`, the activation applied by fc1's product (no pass
        of its own over the hidden activations). oneDNN's swish is silu, so for quick_gelu fc1
        holds 1.702 W1, 1.702 b1 and fc2 W2 / 1.702: silu(1.702 h) / 1.702 = quick_gelu(h)."""
        scale = QUICK_GELU if self.act_name == "quick_gelu" else 1.0
        activation = "swish" if self.act_name == "quick_gelu" else "gelu"
        weight, bias, out = self.fc1.weight, self.fc1.bias, self.fc2.weight
        self.fc1 = product((weight.float() * scale).to(weight.dtype), (bias.float() * scale).to(bias.dtype),
                           activation)
        self.fc2 = product((out.float() / scale).to(out.dtype), self.fc2.bias)
        self.fused = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self.fc2(self.fc1(x))
        plain = isinstance(self.fc1, nn.Linear) and isinstance(self.fc2, nn.Linear)      # not int8 ones
        if self.act_name != "quick_gelu" or not plain:
            return self.fc2(ACTIVATIONS[self.act_name](self.fc1(x)))
        # quick_gelu(h) = silu(1.702 h) / 1.702, and the two scales ride on the products
        # (addmm's alpha and beta): one elementwise pass over the hidden activations instead
        # of three (a ViT-B/32 tower at batch 8 in fp32 spends 7% of its time in those)
        rows = x.reshape(-1, x.shape[-1])
        hidden = torch.addmm(self.fc1.bias, rows, self.fc1.weight.t(), beta=QUICK_GELU, alpha=QUICK_GELU)
        hidden = F.silu(hidden, inplace=not torch.is_grad_enabled())
        out = torch.addmm(self.fc2.bias, hidden, self.fc2.weight.t(), alpha=1 / QUICK_GELU)
        return out.view(*x.shape[:-1], out.shape[-1])


class Layer(nn.Module):
    """A pre-norm transformer layer, named as transformers names CLIP's."""

    def __init__(self, c: dict):
        super().__init__()
        width = c["hidden_size"]
        self.self_attn = Attention(width, c["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(width, eps=c["layer_norm_eps"])
        self.mlp = MLP(width, c["intermediate_size"], c["hidden_act"])
        self.layer_norm2 = nn.LayerNorm(width, eps=c["layer_norm_eps"])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, queries: int | None = None) -> torch.Tensor:
        attended = self.self_attn(self.layer_norm1(x), mask, queries)
        x = (x if queries is None else x[:, :queries]) + attended
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, keep: int | None = None) -> torch.Tensor:
        """keep: the last layer computes the first `keep` tokens' outputs only, where no more
        are read (the image tower's class token: its last layer's queries, output projection and
        MLP for one token instead of 50, 6.6% of a ViT-B/32's arithmetic)."""
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, keep if i == len(self.layers) - 1 else None)
        return x


class VisionEmbeddings(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        width, patch = c["hidden_size"], c["patch_size"]
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.patch_embedding = nn.Conv2d(c["num_channels"], width, patch, stride=patch, bias=False)
        self.position_embedding = nn.Embedding((c["image_size"] // patch) ** 2 + 1, width)
        self.projection: PackedLinear | None = None     # the patch kernels as a packed product (pack)

    def pack(self) -> None:
        """The flattened patch kernels packed: in fp32 torch's product is MKL's, which on an AMD
        CPU runs its AVX2 kernels (hf/packed_linear.py); eight 224-pixel images, 32-pixel
        patches, on 2 AMD EPYC cores: 9.4 ms a batch, a twelfth of an int8 tower's time; packed
        4.1 ms."""
        weight = self.patch_embedding.weight
        self.projection = PackedLinear(weight.reshape(len(weight), -1), None)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        # the patch convolution (stride = kernel: each patch seen once) as one product of the
        # flattened patches with the flattened kernels, the same sums: on this CPU 2.7x faster
        # than oneDNN's convolution in bf16 (eight 224-pixel images, 32-pixel patches: 1.4
        # against 3.8 ms) and 1.2x in fp32
        weight = self.patch_embedding.weight                    # [width, channels, patch, patch]
        batch, channels, height, width = pixels.shape
        size = weight.shape[-1]
        rows, cols = height // size, width // size                # as the convolution, any remainder unread
        flat = pixels[:, :, :rows * size, :cols * size].to(weight.dtype) \
            .reshape(batch, channels, rows, size, cols, size).permute(0, 2, 4, 1, 3, 5).reshape(batch, rows * cols, -1)
        patches = flat @ weight.reshape(len(weight), -1).t() if self.projection is None else self.projection(flat)
        cls = self.class_embedding.expand(batch, 1, -1)        # (len() would fix the batch in an export)
        return torch.cat([cls, patches], 1) + self.position_embedding.weight


class VisionTower(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.embeddings = VisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])      # (transformers' spelling)
        self.encoder = Encoder(c)
        self.post_layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def pack(self) -> int:
        """The patch projection packed (VisionEmbeddings.pack), and each layer's attention and
        MLP (Attention.pack, MLP.pack), whatever the dtype; -> how many layers were packed (none
        where they are int8 or packed already). The patch projection, a convolution's kernels,
        which int8 does not quantize, is packed either way."""
        if self.embeddings.projection is None:
            self.embeddings.pack()
        return self.pack_layers(PackedLinear)

    def pack_layers(self, product: Product) -> int:
        """Each layer's attention and MLP laid out as `product` (Attention.pack, MLP.pack);
        -> how many layers (none where they are int8 or laid out already)."""
        layers = self.encoder.layers
        if not all(type(layer.mlp.fc1) is nn.Linear and type(layer.self_attn.out_proj) is nn.Linear
                   for layer in layers):
            return 0
        for layer in layers:
            layer.self_attn.pack(product)
            layer.mlp.pack(product)
        return len(layers)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """-> the class token's output, normed: [B, width]."""
        hidden = self.encoder(self.pre_layrnorm(self.embeddings(pixels)), keep=1)
        return self.post_layernorm(hidden[:, 0])


class TextEmbeddings(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(ids) + self.position_embedding.weight[:ids.shape[1]]


class TextTower(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.eos = c["eos_token_id"]
        self.embeddings = TextEmbeddings(c)
        self.encoder = Encoder(c)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids: torch.Tensor, attention: torch.Tensor | None) -> torch.Tensor:
        """-> the end token's output, normed: [B, width]. Causal attention, padding masked."""
        tokens = ids.shape[1]
        mask = torch.ones(tokens, tokens, dtype=torch.bool, device=ids.device).tril()
        if attention is not None:
            mask = mask & attention.bool()[:, None, None, :]
        hidden = self.final_layer_norm(self.encoder(self.embeddings(ids), mask))
        # the end token: the highest id where the config still says 2 (CLIP's first configs,
        # as transformers reads them), else the first eos_token_id in the row
        ends = ids.argmax(-1) if self.eos == 2 else (ids == self.eos).int().argmax(-1)
        return hidden[torch.arange(len(ids), device=ids.device), ends]


class NativeClip(nn.Module):
    """CLIPModel's inference and contrastive loss, with its parameter names: the state dict
    loads from and saves to the same safetensors keys."""

    def __init__(self, config: dict):
        super().__init__()
        self.source_config = config
        text = {**TEXT_DEFAULTS, **config.get("text_config", {})}
        vision = {**VISION_DEFAULTS, **config.get("vision_config", {})}
        dim = config.get("projection_dim", 512)
        self.text_model, self.vision_model = TextTower(text), VisionTower(vision)
        self.visual_projection = nn.Linear(vision["hidden_size"], dim, bias=False)
        self.text_projection = nn.Linear(text["hidden_size"], dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.get("logit_scale_init_value", 2.6592))))

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def pack_image_tower(self) -> int:
        """The image tower's patch projection and layers packed, for inference on a CPU
        (hf/packed_linear.py: no gradient, not saved afterwards); -> how many layers were packed
        (none where they are int8; the patch projection is packed then too).

        A ViT-B/32 tower at batch 8 (benchmarks/engineering_ablations.py): on 2 Xeon cores bf16
        1.19x the images/s for 0.09 s at loading, fp32 1.05x for 0.11 s; on 2 AMD EPYC cores,
        where torch's fp32 product is MKL's AVX2 one and the packed product oneDNN's AVX-512
        one, fp32 2.1x (docs/performance.md); where packing does not pay (an AVX2-only CPU in
        fp32: 0.78x, packed_linear.wide_products_pay) nothing is packed. fp16 weights are left
        as they are (unmeasured).
        The text tower is left as it is: it runs once per label set (the pipeline caches its
        features)."""
        weights = self.vision_model.embeddings.patch_embedding.weight       # (int8 leaves convolutions as they are)
        if not wide_products_pay(weights.dtype) or weights.device.type != "cpu" or weights.dtype == torch.float16:
            return 0
        return self.vision_model.pack()

    def int8_image_tower(self) -> int:
        """The image tower's layers as oneDNN int8 products (precision int8-bf16), each
        attention's three projections one product and the activation applied by fc1's product,
        as pack_image_tower lays them out; -> how many layers. The patch projection is left to
        pack_image_tower."""
        return self.vision_model.pack_layers(Int8Linear)

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.visual_projection(self.vision_model(pixel_values))

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.text_projection(self.text_model(input_ids, attention_mask))

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                return_loss: bool = False) -> SimpleNamespace:
        """CLIPModel's call: image-text logits and (return_loss) the symmetric contrastive loss."""
        images = F.normalize(self.get_image_features(pixel_values), dim=-1)
        texts = F.normalize(self.get_text_features(input_ids, attention_mask), dim=-1)
        per_text = self.logit_scale.exp() * texts @ images.T
        out = SimpleNamespace(logits_per_text=per_text, logits_per_image=per_text.T, loss=None)
        if return_loss:
            target = torch.arange(len(per_text), device=per_text.device)
            out.loss = (F.cross_entropy(per_text, target) + F.cross_entropy(per_text.T, target)) / 2
        return out

    def save_pretrained(self, directory: str) -> None:
        """config.json and model.safetensors as transformers writes them (it loads the folder)."""
        from safetensors.torch import save_file
        folder = Path(directory)
        (folder / "config.json").write_text(json.dumps(self.source_config, indent=2) + "\n")
        tensors = {k: v.detach().float().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(folder / WEIGHTS), metadata={"format": "pt"})


class ClipImages:
    """CLIPImageProcessor's steps (resize the short side, centre crop, rescale, normalise) on a
    batch: each image resized by PIL as transformers does, the batch normalised as one tensor."""

    def __init__(self, settings: dict, directory: Path):
        self.directory = directory
        self.short = settings["size"]["shortest_edge"]
        self.crop = (settings["crop_size"]["height"], settings["crop_size"]["width"])
        self.resample = settings.get("resample", BICUBIC)
        scale = settings.get("rescale_factor", 1 / 255)
        self.mean = torch.tensor(settings["image_mean"], dtype=torch.float32).view(1, 3, 1, 1) / scale
        self.std = torch.tensor(settings["image_std"], dtype=torch.float32).view(1, 3, 1, 1) / scale

    @staticmethod
    def usable(settings: dict) -> bool:
        """The settings this class reproduces: every step on, a crop within the resized image."""
        size, crop = settings.get("size") or {}, settings.get("crop_size") or {}
        steps = all(settings.get(k, True) for k in ("do_resize", "do_center_crop", "do_rescale", "do_normalize"))
        return (steps and settings.get("do_convert_rgb", True) and set(size) == {"shortest_edge"}
                and {"height", "width"} <= set(crop) and max(crop["height"], crop["width"]) <= size["shortest_edge"]
                and len(settings.get("image_mean") or ()) == 3 and len(settings.get("image_std") or ()) == 3
                and not settings.get("do_pad"))

    def one(self, image: np.ndarray) -> np.ndarray:
        from PIL import Image
        height, width = image.shape[:2]
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.short * long / short)
        size = (self.short, new_long) if width <= height else (new_long, self.short)      # PIL: (width, height)
        resized = np.asarray(Image.fromarray(image).resize(size, resample=self.resample))
        top, left = (resized.shape[0] - self.crop[0]) // 2, (resized.shape[1] - self.crop[1]) // 2
        return resized[top:top + self.crop[0], left:left + self.crop[1]]

    def __call__(self, images, return_tensors: str = "pt") -> dict:
        crops = torch.from_numpy(np.stack([self.one(np.ascontiguousarray(im)) for im in images]))
        # channels first in memory too: the permute's channels-last strides make the two
        # elementwise passes 2.3x slower on this CPU (eight 224-pixel images: 1.5 against 0.66 ms)
        pixels = crops.permute(0, 3, 1, 2).contiguous().float()
        return {"pixel_values": pixels.sub_(self.mean).div_(self.std)}

    def save_pretrained(self, directory: str) -> None:
        for name in PROCESSOR_FILES:
            if (self.directory / name).is_file():
                shutil.copy(self.directory / name, Path(directory) / name)


class ClipTokens:
    """The folder's tokenizer.json through `tokenizers`: batches padded to the longest with the
    pad token, cut at the model's length, as transformers' CLIPTokenizer gives them."""

    def __init__(self, directory: Path, settings: dict, positions: int):
        from tokenizers import Tokenizer
        self.directory = directory
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=min(int(settings.get("model_max_length", positions)), positions))
        self.pad = self.tokenizer.token_to_id(settings["pad_token"])

    @staticmethod
    def usable(directory: Path, settings: dict) -> bool:
        return (directory / "tokenizer.json").is_file() and isinstance(settings.get("pad_token"), str)

    def __call__(self, texts: list[str], padding: bool = True, truncation: bool = True,
                 return_tensors: str = "pt") -> dict:
        rows = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [self.pad] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        return {"input_ids": ids, "attention_mask": mask}

    def save_pretrained(self, directory: str) -> None:
        for name in TOKENIZER_FILES:
            if (self.directory / name).is_file():
                shutil.copy(self.directory / name, Path(directory) / name)


@contextlib.contextmanager
def unfilled():
    """Modules built with shapes only (meta tensors, torch.nn.init's fills skipped): every
    value comes from the file, so none is drawn at random first (a second of a start-up on
    this CPU), and no fill runs on meta tensors (which imports torch._dynamo, 2 s)."""
    fills = {name: getattr(nn.init, name) for name in INIT_FILLS}
    for name in INIT_FILLS:
        setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        with torch.device("meta"):
            yield
    finally:
        for name, fill in fills.items():
            setattr(nn.init, name, fill)


def read_json(path: Path) -> dict:
    """A JSON object from a file, or {} where there is none (the folder then goes to transformers)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def image_settings(directory: Path) -> dict:
    """The image processor's settings: processor_config.json's (transformers 5) or
    preprocessor_config.json's (the hub's CLIP folders)."""
    combined = read_json(directory / "processor_config.json").get("image_processor")
    return combined if isinstance(combined, dict) else read_json(directory / "preprocessor_config.json")


def load(directory: Path):
    """-> (NativeClip, image processor, tokenizer) for a folder this module runs as
    transformers would, else None (the caller loads it with transformers)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    config = read_hf_config(directory) or {}
    text = {**TEXT_DEFAULTS, **(config.get("text_config") or {})}
    vision = {**VISION_DEFAULTS, **(config.get("vision_config") or {})}
    images, tokens = image_settings(directory), read_json(directory / "tokenizer_config.json")
    if (config.get("model_type") != "clip" or text["hidden_act"] not in ACTIVATIONS
            or vision["hidden_act"] not in ACTIVATIONS or (directory / ADAPTER_FOLDER).exists()
            or not (directory / WEIGHTS).is_file() or not ClipImages.usable(images)
            or not ClipTokens.usable(directory, tokens)):
        return None
    with unfilled():
        model = NativeClip(config)
    try:
        weights = load_file(str(directory / WEIGHTS))
    except (OSError, SafetensorError) as exc:
        raise ModelNotFoundError(f"{directory / WEIGHTS}: not readable as safetensors ({exc})") from None
    expected = model.state_dict()
    if set(weights) != set(expected) or any(weights[k].shape != v.shape for k, v in expected.items()):
        return None             # a layout this module does not know: transformers reads it
    model.load_state_dict(weights, assign=True)
    return model.eval(), ClipImages(images, directory), ClipTokens(directory, tokens, text["max_position_embeddings"])
