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
        return float(d_loss.detach())


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


# ------------------------------------------------------------ whole runs, for bench_whole_process.py
def _load(path: str, size: int, flip: bool):
    """An image as (3, size, size) in [-1, 1]: centre square crop, resize, optional flip."""
    import numpy as np
    from PIL import Image
    with Image.open(path) as image:
        image = image.convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((size, size),
                                                                         Image.BICUBIC)
        array = np.asarray(image, np.float32) / 127.5 - 1.0
    if flip:
        array = array[:, ::-1]
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


def _save_grid(images, path: str) -> None:
    """(B, 3, S, S) in [-1, 1] -> one PNG of the images side by side in rows of 8."""
    import numpy as np
    from PIL import Image
    array = ((images.detach().numpy().transpose(0, 2, 3, 1) + 1.0) * 127.5).clip(0, 255)
    array = array.astype(np.uint8)
    rows = [np.concatenate(list(array[i:i + 8]), axis=1) for i in range(0, len(array), 8)]
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def _images(folder: str) -> list:
    import os
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.lower().endswith((".png", ".jpg", ".jpeg")))


def train_main(args) -> None:
    """``--steps`` train steps on JPEG/PNG files, read by a DataLoader (``--workers``
    processes), then a checkpoint and a sample grid, as train_dcgan.py ends a short run."""
    import os
    import random
    from torch.utils.data import DataLoader, Dataset

    paths = _images(args.dataset)[:args.steps * args.batch_size]

    class Files(Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, index):
            return _load(paths[index], args.image_size, random.random() < 0.5)

    torch.manual_seed(0)
    step = TrainStep(args.image_size, g_steps=args.g_steps, ema_decay=args.ema_decay)
    loader = DataLoader(Files(), batch_size=args.batch_size, shuffle=True, drop_last=True,
                        num_workers=args.workers)
    sample_z = torch.rand(64, 100) * 2 - 1
    for images in loader:
        d_loss = step(images, torch.rand(args.batch_size, 100) * 2 - 1)
    os.makedirs(args.out, exist_ok=True)
    torch.save({"g": step.g.state_dict(), "d": step.d.state_dict(),
                "g_ema": step.g_ema.state_dict()}, os.path.join(args.out, "model.pt"))
    with torch.no_grad():
        _save_grid(step.g_ema.eval()(sample_z), os.path.join(args.out, "samples.png"))
    print(f"trained {len(loader)} steps, d_loss {d_loss:.3f}")


def complete_main(args) -> None:
    """Complete every 64x64 face of a folder: centre hole, ``--iterations`` momentum steps
    from noise per batch, then each completion (known pixels kept) written as a PNG."""
    import os
    from PIL import Image
    import numpy as np

    paths = _images(args.dataset)
    torch.manual_seed(0)
    size = args.image_size
    mask = torch.ones(1, 1, size, size)
    mask[:, :, size // 4:3 * size // 4, size // 4:3 * size // 4] = 0
    low = torch.ones(1, 1, size // 8, size // 8)
    os.makedirs(args.out, exist_ok=True)
    for start in range(0, len(paths), args.batch_size):
        batch = paths[start:start + args.batch_size]
        images = torch.stack([_load(path, size, False) for path in batch])
        search = CompletionStep(images, mask, low, image_size=size)
        z = torch.rand(len(batch), 100) * 2 - 1
        z, _ = search.run(z, torch.zeros_like(z), args.iterations)
        with torch.no_grad():
            filled = mask * images + (1 - mask) * search.g(z)
        array = ((filled.numpy().transpose(0, 2, 3, 1) + 1) * 127.5).clip(0, 255)
        for path, face in zip(batch, array.astype(np.uint8)):
            Image.fromarray(face).save(os.path.join(args.out, os.path.basename(path)[:-4]
                                                    + ".png"))
    print(f"completed {len(paths)} faces")


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="The PyTorch yardstick's whole runs.")
    parser.add_argument("job", choices=("train", "complete"))
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--g_steps", type=int, default=1)
    parser.add_argument("--ema_decay", type=float, default=0.999)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    (train_main if arguments.job == "train" else complete_main)(arguments)
