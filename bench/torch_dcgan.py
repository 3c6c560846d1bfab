"""A PyTorch yardstick: the toolkit's DCGAN, train step and completion step written in
PyTorch, to time against TensorFlow on the same machine (bench/bench_vs_torch.py).

Optional: PyTorch is not in requirements.txt (``pip install torch`` adds its CPU build).
Nothing in the toolkit imports this module. It follows ``model.py`` and ``train_step.py``:

* G: linear z -> 4x4 x 8*gf, batch norm, ReLU; 5x5 stride-2 transposed convolutions
  (batch norm + ReLU between, tanh at the end) up to the image; D mirrors it with 5x5
  stride-2 convolutions and leaky ReLU 0.2 (no batch norm on the first) and a linear
  layer to one logit. Weights N(0, 0.02), batch norm momentum 0.9 (PyTorch's 0.1),
  epsilon 1e-5.
* The train step: one D update on (real, G(z)) and ``g_steps`` G updates on the same z,
  Adam(2e-4, beta1 0.5), sigmoid cross-entropy, then the moving average of G's weights.
* The completion step: the loss of ``model.completion_loss`` (L1 on the known pixels,
  L1 on 8x-pooled images, lam * -log D(G(z))) with batch norm in inference mode, its
  gradient in z, and the momentum update clipped to [-1, 1], as ``completion.Momentum``.

The padding of a 5x5 stride-2 layer is symmetric here (2 on each side) where
TensorFlow's "SAME" pads 1 before and 2 after: the same FLOPs and shapes, so the same
work to time, though not the same numbers.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
import torch.nn.functional as F

KERNEL, STRIDE, PAD = 5, 2, 2
BN_MOMENTUM, BN_EPSILON = 0.1, 1e-5     # PyTorch's momentum is 1 - TensorFlow's 0.9


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM, eps=BN_EPSILON)


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, image_size: int = 64, z_dim: int = 100, gf_dim: int = 64, c_dim: int = 3):
        super().__init__()
        layers = (image_size // 4).bit_length() - 1             # 4 at 64x64
        widths = [gf_dim * min(2 ** (layers - 1 - i), 8) for i in range(layers)] + [c_dim]
        self.base = widths[0]
        self.lin = nn.Linear(z_dim, self.base * 16)
        self.bn0 = _bn(self.base)
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(widths[i], widths[i + 1], KERNEL, STRIDE, PAD, output_padding=1)
            for i in range(layers))
        self.bns = nn.ModuleList(_bn(widths[i + 1]) for i in range(layers - 1))
        self.apply(_init)

    def forward(self, z):
        h = F.relu(self.bn0(self.lin(z).view(-1, self.base, 4, 4)))
        for i, deconv in enumerate(self.deconvs):
            h = deconv(h)
            h = F.relu(self.bns[i](h)) if i < len(self.bns) else torch.tanh(h)
        return h


class Discriminator(nn.Module):
    def __init__(self, image_size: int = 64, df_dim: int = 64, c_dim: int = 3):
        super().__init__()
        layers = (image_size // 4).bit_length() - 1
        widths = [c_dim] + [df_dim * min(2 ** i, 8) for i in range(layers)]
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], KERNEL, STRIDE, PAD)
                                   for i in range(layers))
        self.bns = nn.ModuleList(_bn(widths[i + 1]) for i in range(1, layers))
        self.lin = nn.Linear(widths[-1] * 16, 1)
        self.apply(_init)

    def forward(self, x):
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i > 0:
                x = self.bns[i - 1](x)
            x = F.leaky_relu(x, 0.2)
        return self.lin(x.flatten(1))


class TrainStep:
    """``step(images, z)``: one D update, ``g_steps`` G updates, the moving average of G."""

    def __init__(self, image_size=64, g_steps=1, ema_decay=0.999, lr=2e-4, beta1=0.5):
        self.g, self.d = Generator(image_size), Discriminator(image_size)
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr, betas=(beta1, 0.999))
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr, betas=(beta1, 0.999))
        self.g_steps, self.ema_decay = g_steps, ema_decay
        self.g_ema = copy.deepcopy(self.g).requires_grad_(False) if ema_decay > 0 else None

    def __call__(self, images, z) -> float:
        fake = self.g(z)
        real_logits, fake_logits = self.d(images), self.d(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        for _ in range(self.g_steps):
            logits = self.d(self.g(z))
            g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            self.g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_opt.step()
        if self.g_ema is not None:
            with torch.no_grad():
                for average, value in zip(self.g_ema.state_dict().values(),
                                          self.g.state_dict().values()):
                    if average.dtype.is_floating_point:
                        average.lerp_(value, 1.0 - self.ema_decay)
        return float(d_loss)


class CompletionStep:
    """``run(z, velocity, steps)``: that many momentum steps of the completion search."""

    def __init__(self, images, mask, lowres_mask, image_size=64, lam=0.1, lr=0.03,
                 momentum=0.9, lowres_factor=8):
        self.g = Generator(image_size).eval().requires_grad_(False)
        self.d = Discriminator(image_size).eval().requires_grad_(False)
        self.images, self.mask, self.lowres_mask = images, mask, lowres_mask
        self.lam, self.lr, self.momentum, self.factor = lam, lr, momentum, lowres_factor
        self.low_images = F.avg_pool2d(images, lowres_factor)

    def loss(self, z):
        generated = self.g(z)
        loss = (self.mask * (generated - self.images)).abs().sum((1, 2, 3))
        low = F.avg_pool2d(generated, self.factor)
        loss = loss + (self.lowres_mask * (low - self.low_images)).abs().sum((1, 2, 3))
        return loss + self.lam * F.softplus(-self.d(generated)).flatten()

    def run(self, z, velocity, steps: int):
        for _ in range(steps):
            z = z.detach().requires_grad_(True)
            grad, = torch.autograd.grad(self.loss(z).sum(), z)
            with torch.no_grad():
                velocity = self.momentum * velocity - self.lr * grad
                z = (z + velocity).clamp_(-1.0, 1.0)
        return z.detach(), velocity
