"""Class Association Embedding (CAE): an image becomes a class code and an individual code.

``encode(x) -> (class_code, indiv_code)`` and ``decode(indiv_code, class_code) -> x``. The class code
(``class_dim`` numbers, 8 by default) carries what the classes differ in; the individual code (a small
spatial map) carries everything else: shape, position, texture. Swapping the class code of one image
into the individual code of another changes its class while keeping its look.

After Xie et al., "Class Association Embedding", ICDE 2024 (arXiv 2406.07961), whose generator follows
MUNIT (Huang et al., ECCV 2018). This is caelib's own smaller implementation, sized for a laptop CPU;
``CAEConfig.paper()`` gives the paper's layer sizes for comparison. Taught in
``notebooks/02_encoding.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import nn

from .data import check_images
from .erasure import ClassEraser
from .nets import AdaINResBlock, ConvBlock, ResBlock, UpBlock, instance_norm, mlp, no_norm


@dataclass(frozen=True)
class CAEConfig:
    """Everything that fixes the CAE's architecture (a checkpoint stores it and is checked against it)."""

    image_size: int = 32      # H = W of the images; must be divisible by 4
    channels: int = 1         # 1 grayscale, 3 RGB
    num_classes: int = 2      # K >= 2 classes in the training data
    class_dim: int = 8        # D, length of the class code
    width: int = 8            # channels after the first conv; doubled at each downsampling
    indiv_downs: int = 2      # stride-2 convs of the individual-code encoder (paper: 2): the individual
                              # code is (width * 2**indiv_downs, H / 2**indiv_downs, W / 2**indiv_downs)
    n_res: int = 2            # residual blocks in the individual-code encoder and in the decoder
    mlp_dim: int = 64         # hidden width of the MLP that maps the class code to AdaIN parameters
    first_kernel: int = 3     # kernel of the first conv of each encoder and of the output conv (paper: 7)
    up_kernel: int = 3        # kernel of the decoder's upsampling convs (paper: 5)
    class_downs: int = 3      # class-code encoder: stride-2 convs ("strided"; paper: 4 at 256 px) or stages
                              # ("pooled", a max-pool between two)
    class_width: int = 16     # channels of the class-code encoder's first conv (0: same as width);
                              # wider than the rest: the class code must be learnt fast (measured)
    class_encoder: str = "pooled"  # "pooled": stages of two 3x3 convs, 2x2 max-pools between them and a
                              # global max pool, so small evidence anywhere in the image counts;
                              # "strided": the paper's stride-2 convs and global average pool (see
                              # ``ClassEncoder``; chosen in benchmarks/results/generalisation.md)
    disc_width: int = 16      # channels of the discriminator's first conv
    disc_downs: int = 3       # stride-2 convs in the discriminator
    disc_res: int = 0         # residual blocks after the discriminator's convs (paper: 2, at 512 channels)

    # a stored config without a field was written before the field existed, with this value
    BEFORE_FIELD: ClassVar[dict] = {"class_encoder": "strided"}

    def __post_init__(self):
        if self.class_encoder not in ("pooled", "strided"):
            raise ValueError(f"class_encoder must be 'pooled' or 'strided', got {self.class_encoder!r}")
        if self.image_size % 4 or self.image_size < 8:
            raise ValueError(f"image_size must be a multiple of 4 and >= 8, got {self.image_size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {self.channels}")
        if self.num_classes < 2:
            raise ValueError(f"a CAE needs at least 2 classes, got num_classes={self.num_classes}")
        if self.indiv_downs not in (1, 2, 3) or self.image_size % 2 ** self.indiv_downs:
            raise ValueError(f"indiv_downs must be 1, 2 or 3 and divide image_size by a power of two, "
                             f"got indiv_downs={self.indiv_downs} for image_size={self.image_size}")
        if self.class_dim < 1:
            raise ValueError(f"class_dim must be >= 1, got {self.class_dim}")

    @property
    def indiv_channels(self) -> int:
        """Channels of the individual code (width * 2**indiv_downs)."""
        return self.width * 2 ** self.indiv_downs

    @property
    def indiv_size(self) -> int:
        """Height = width of the individual code (image_size / 2**indiv_downs)."""
        return self.image_size // 2 ** self.indiv_downs

    @classmethod
    def paper(cls, **overrides) -> "CAEConfig":
        """The layer sizes of the paper's generator, as in the authors' public code: width 64, a 256-channel
        individual code, 6 residual blocks in the individual-code encoder and 6 AdaIN blocks in the decoder,
        MLP 256, 7x7 and 5x5 convs (20.3 M parameters, the "20M-parameter generator"), and a 64-wide
        discriminator with 4 stride-2 convs (64 -> 512 channels) and the two 512-channel residual blocks the
        authors' discriminator ends with. All in caelib's building blocks (zero padding, not the authors'
        reflection; an MLP head of 512 -> 512 -> 1 + K, theirs 512 -> 256 -> 2 + K), so that a speed ratio
        compares sizes, not implementations."""
        base = cls(width=64, class_width=0, n_res=6, mlp_dim=256, first_kernel=7, up_kernel=5, class_downs=4,
                   class_encoder="strided", disc_width=64, disc_downs=4, disc_res=2)
        return replace(base, **overrides)


class ClassEncoder(nn.Module):
    """(B, C, H, W) -> (B, D), no normalisation, so that the code keeps absolute (not per-image) information.

    ``class_encoder="strided"`` (the paper's, and caelib's CAEs before 2026-12-07): a conv, ``class_downs``
    stride-2 convs, global average pool, 1x1 conv to D. ``"pooled"`` (the default): ``class_downs`` stages of
    two 3x3 convs with a 2x2 max-pool between stages (a VGG-style stack, Simonyan & Zisserman 2015), a global max
    pool and the 1x1 conv. Trained alone on the labels it reads the class of test images more accurately than
    the strided stack, closer to the black box (benchmarks/results/generalisation.md), and this matters: a CAE's
    reconstructions take the class its class encoder reads."""

    def __init__(self, cfg: CAEConfig):
        super().__init__()
        w = cfg.class_width or cfg.width
        layers: list[nn.Module] = []
        if cfg.class_encoder == "strided":
            layers.append(ConvBlock(cfg.channels, w, cfg.first_kernel))
            for i in range(cfg.class_downs):
                cin, cout = min(w * 2 ** i, 4 * w), min(w * 2 ** (i + 1), 4 * w)
                layers.append(ConvBlock(cin, cout, 4, stride=2))
            layers.append(nn.AdaptiveAvgPool2d(1))
            cin = min(w * 2 ** cfg.class_downs, 4 * w)
        else:
            cin = cfg.channels
            for i in range(cfg.class_downs):
                cout = min(w * 2 ** i, 4 * w)
                layers += [nn.MaxPool2d(2)] if i else []
                layers += [ConvBlock(cin, cout, 3), ConvBlock(cout, cout, 3)]
                cin = cout
            layers.append(nn.AdaptiveMaxPool2d(1))
        layers.append(nn.Conv2d(cin, cfg.class_dim, 1))
        self.net = nn.Sequential(*layers)
        if cfg.class_encoder == "pooled":
            self._he_init()

    def _he_init(self) -> None:
        """He initialisation (He et al., ICCV 2015) of the pooled stack: zero biases, weights of variance 2 / fan-in
        (1 / fan-in for the last, linear, conv). PyTorch's default (variance 1 / (3 fan-in)) shrinks the signal
        about 6x per ReLU layer: after six layers the untrained code is the same for every image (its spread over
        images 0.0002) and on lesions-kinds the encoder sometimes never learns the classes
        (benchmarks/results/generalisation.md)."""
        convs = [m for m in self.net.modules() if isinstance(m, nn.Conv2d)]
        for i, conv in enumerate(convs):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="linear" if i == len(convs) - 1 else "relu")
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)  # (B, D)


class IndivEncoder(nn.Module):
    """Conv, ``indiv_downs`` stride-2 convs (2 by default), residual blocks, all with instance norm:
    (B, C, H, W) -> (B, indiv_channels, indiv_size, indiv_size). Instance norm strips per-image
    statistics that AdaIN then restores from the class code."""

    def __init__(self, cfg: CAEConfig):
        super().__init__()
        w = cfg.width
        self.net = nn.Sequential(
            ConvBlock(cfg.channels, w, cfg.first_kernel, norm=instance_norm),
            *[ConvBlock(w * 2 ** i, w * 2 ** (i + 1), 4, stride=2, norm=instance_norm)
              for i in range(cfg.indiv_downs)],
            *[ResBlock(cfg.indiv_channels, norm=instance_norm) for _ in range(cfg.n_res)],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, indiv_channels, indiv_size, indiv_size)


class Decoder(nn.Module):
    """AdaIN residual blocks styled by the class code, two x2 upsamplings with layer norm, a final
    conv and tanh: (indiv_code (B, Ci, h, w), class_code (B, D)) -> (B, C, H, W) in [-1, 1]."""

    def __init__(self, cfg: CAEConfig):
        super().__init__()
        w, n = cfg.width, cfg.indiv_downs
        self.blocks = nn.ModuleList(AdaINResBlock(cfg.indiv_channels) for _ in range(cfg.n_res))
        self.style = mlp(cfg.class_dim, cfg.mlp_dim, sum(b.n_style for b in self.blocks))
        self.up = nn.Sequential(*[UpBlock(w * 2 ** i, w * 2 ** (i - 1), cfg.up_kernel) for i in range(n, 0, -1)])
        self.out = nn.Sequential(ConvBlock(w, cfg.channels, cfg.first_kernel, act=nn.Tanh))

    def forward(self, indiv_code: torch.Tensor, class_code: torch.Tensor) -> torch.Tensor:
        styles = self.style(class_code).split([b.n_style for b in self.blocks], dim=1)
        h = indiv_code
        for block, style in zip(self.blocks, styles):
            h = block(h, style)
        return self.out(self.up(h))


class CAE(nn.Module):
    """The CAE generator: two encoders, the AdaIN decoder, and a linear classifier on the class code.

    The linear ``code_head`` is caelib's addition (see ``caelib.train``): trained to read the class from
    the class code, it stops the decoder from ignoring the class code.
    """

    def __init__(self, config: CAEConfig = CAEConfig()):
        super().__init__()
        self.config = config
        self.class_encoder = ClassEncoder(config)
        self.indiv_encoder = IndivEncoder(config)
        self.decoder = Decoder(config)
        self.code_head = nn.Linear(config.class_dim, config.num_classes)
        # caelib: removes the linear trace of the class from the individual code (caelib.erasure);
        # the identity until fitted (caelib.train fits it after training)
        self.indiv_eraser = ClassEraser(config.indiv_channels * config.indiv_size ** 2, config.num_classes)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As ``nn.Module.load_state_dict``; weights saved before the class eraser existed load with the
        eraser unfitted (the identity), i.e. exactly the model they were."""
        if "indiv_eraser.basis" not in state_dict:
            state_dict = {**state_dict, "indiv_eraser.basis": torch.zeros_like(self.indiv_eraser.basis)}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # -- input checking ---------------------------------------------------------------------
    def check(self, x: torch.Tensor, what: str = "images") -> None:
        """Raise ``ValueError`` unless ``x`` is (B, C, H, W) float in [-1, 1] of this model's size."""
        try:
            check_images(x, channels=self.config.channels, image_size=self.config.image_size, what=what)
        except ValueError as err:
            if torch.is_tensor(x) and x.ndim == 4 and tuple(x.shape[1:]) != (self.config.channels,) + (
                    self.config.image_size,) * 2:
                raise ValueError(f"{err} Or build the CAE for these images: CAEConfig(image_size="
                                 f"{x.shape[-1]}, channels={x.shape[1]}).") from None
            raise

    # -- the two verbs -----------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) in [-1, 1] -> (class_code (B, D), indiv_code (B, Ci, h, w)),
        with Ci = config.indiv_channels and h = w = config.indiv_size. The individual code has passed the
        class eraser (``indiv_code``). float64 / float16 images are converted to the model's dtype; an empty
        batch (B = 0) gives empty codes."""
        self.check(x)
        x = x.to(self._dtype())
        if len(x) == 0:
            c = self.config
            return x.new_zeros(0, c.class_dim), x.new_zeros(0, c.indiv_channels, c.indiv_size, c.indiv_size)
        return self.class_encoder(x), self.indiv_code(x)

    def _dtype(self) -> torch.dtype:
        return self.code_head.weight.dtype

    def indiv_code(self, x: torch.Tensor) -> torch.Tensor:
        """The individual code without input checks (training): the encoder's output with the class-mean
        directions removed by ``indiv_eraser`` (unchanged while the eraser is unfitted)."""
        return self.indiv_eraser(self.indiv_encoder(x))

    def decode(self, indiv_code: torch.Tensor, class_code: torch.Tensor) -> torch.Tensor:
        """(indiv_code (B, Ci, h, w), class_code (B, D)) -> images (B, C, H, W) in [-1, 1]."""
        if indiv_code.shape[0] != class_code.shape[0]:
            raise ValueError(f"indiv_code and class_code need the same batch size, got "
                             f"{indiv_code.shape[0]} and {class_code.shape[0]}")
        if class_code.ndim != 2 or class_code.shape[1] != self.config.class_dim:
            raise ValueError(f"expected class codes of shape (B, {self.config.class_dim}), "
                             f"got {tuple(class_code.shape)}")
        c = self.config
        if indiv_code.ndim != 4 or tuple(indiv_code.shape[1:]) != (c.indiv_channels, c.indiv_size, c.indiv_size):
            raise ValueError(f"expected individual codes of shape (B, {c.indiv_channels}, {c.indiv_size}, "
                             f"{c.indiv_size}), got {tuple(indiv_code.shape)}; pass the second result of encode(x)")
        indiv_code, class_code = indiv_code.to(self._dtype()), class_code.to(self._dtype())
        if len(indiv_code) == 0:   # an empty batch: no images
            return indiv_code.new_zeros(0, c.channels, c.image_size, c.image_size)
        return self.decoder(indiv_code, class_code)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)): the image rebuilt from its own two codes."""
        class_code, indiv_code = self.encode(x)
        return self.decode(indiv_code, class_code)

    def swap(self, x_indiv: torch.Tensor, x_class: torch.Tensor) -> torch.Tensor:
        """Decode the individual code of ``x_indiv`` with the class code of ``x_class`` (same batch size)."""
        if x_indiv.shape != x_class.shape:
            raise ValueError(f"swap needs two batches of the same shape, got {tuple(x_indiv.shape)} "
                             f"(individual-code donors) and {tuple(x_class.shape)} (class-code donors)")
        return self.decode(self.encode(x_indiv)[1], self.encode(x_class)[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)


class Discriminator(nn.Module):
    """Stride-2 conv stack (then ``disc_res`` residual blocks, none by default), global pool and an MLP
    head with 1 + K outputs:
    ``forward(x) -> (real_logit (B,), class_logits (B, K))``."""

    def __init__(self, config: CAEConfig = CAEConfig()):
        super().__init__()
        w = config.disc_width

        def act() -> nn.Module:
            return nn.LeakyReLU(0.2)

        layers: list[nn.Module] = [ConvBlock(config.channels, w, 4, stride=2, act=act)]
        for i in range(config.disc_downs - 1):
            cin, cout = min(w * 2 ** i, 8 * w), min(w * 2 ** (i + 1), 8 * w)
            layers.append(ConvBlock(cin, cout, 4, stride=2, act=act))
        cf = min(w * 2 ** (config.disc_downs - 1), 8 * w)
        layers += [ResBlock(cf, norm=no_norm, act=act) for _ in range(config.disc_res)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(cf, cf), act(), nn.Linear(cf, 1 + config.num_classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.features(x))
        return out[:, 0], out[:, 1:]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
