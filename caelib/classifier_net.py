"""The black box's network: ``SmallCNN``, a plain CNN, and its shape ``ClassifierConfig``.

Images are float tensors in [-1, 1] of shape (B, C, H, W); the network returns logits (B, K). Trained by
``caelib.classifier_training``; importable from ``caelib.classifier`` too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .data import check_images

__all__ = ["ClassifierConfig", "SmallCNN"]


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of a :class:`SmallCNN`."""

    channels: int = 1  # image channels C (1 grey, 3 colour)
    image_size: int = 32  # image side H = W it is trained for (as_black_box checks inputs against it)
    num_classes: int = 2  # K, number of logits
    width: int = 8  # channels of the first stage; stage i has width * 2**i (8 suffices for 32x32 data)
    stages: int = 3  # conv stages (two 3x3 conv [+ BN] + ReLU each), 2x2 max-pool between stages
    batchnorm: bool = True  # BatchNorm after each conv (faster training; an affine map in eval mode)


class SmallCNN(nn.Module):
    """A plain CNN: ``stages`` x (conv-BN-ReLU-conv-BN-ReLU), max-pool between stages, global average
    pool, linear.

    Every ReLU is its own ``nn.ReLU`` module and nothing is in-place, so Captum's DeepLift and
    GuidedBackprop can hook them. ``model.last_conv`` is the last convolution and
    ``model.feature_layer`` the ReLU after it, whose output (the rectified feature maps) GradCAM weighs.
    Input: (B, C, H, W) in [-1, 1]; output: logits (B, K).
    """

    def __init__(self, config: ClassifierConfig = ClassifierConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = config.channels
        for i in range(config.stages):
            c_out = config.width * 2**i
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            for conv_in in (c_in, c_out):
                layers.append(nn.Conv2d(conv_in, c_out, 3, padding=1, bias=not config.batchnorm))
                self._last_conv_index = len(layers) - 1
                layers += [nn.BatchNorm2d(c_out)] if config.batchnorm else []
                layers.append(nn.ReLU())
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c_in, config.num_classes)

    @property
    def last_conv(self) -> nn.Conv2d:
        """The last ``nn.Conv2d`` layer."""
        return self.features[self._last_conv_index]

    @property
    def feature_layer(self) -> nn.ReLU:
        """The last ReLU: its output (B, width * 2**(stages-1), h, w) is the layer GradCAM explains."""
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.config.channels:   # a clear message instead of conv2d's
            check_images(x, channels=self.config.channels, what="the black box's input")
        x = _as_param_dtype(self, x)
        h = self.features(x)  # (B, width * 2**(stages-1), H / 2**(stages-1), W / 2**(stages-1))
        return self.head(self.pool(h).flatten(1))  # (B, K)


def _as_param_dtype(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` in the floating dtype of ``model``'s parameters (float64 / float16 images meet float32 weights)."""
    if torch.is_tensor(x) and x.is_floating_point():
        p = next((p for p in model.parameters() if p.is_floating_point()), None)
        if p is not None and p.dtype != x.dtype:
            return x.to(p.dtype)
    return x
