"""A learned start for the search: an encoder E(masked face, mask) -> z for a given G.

The search (:mod:`completion.search`) starts from uniform noise and spends most of its
iterations walking to the basin of the face. E predicts that z in one pass from
what the search sees, the known pixels and the mask, as Lahiri et al. do ("Prior
Guided GAN Based Semantic Inpainting", CVPR 2020, arXiv 1908.04968; and arXiv
1908.05861): the search then starts near its end.

E is trained against one fixed generator (:func:`train_encoder`):

* on G's own samples, whose z is known: ``|E(x, m) - z|^2``, and
* on real aligned faces and on the samples alike: ``|G(E(x, m)) - x|`` over the whole
  image (the hole's true pixels are known in training, only hidden from E),

with masks drawn at random from every kind the toolkit makes (:func:`random_masks`).

At 64x64 (the shipped model) E is four stride-2 4x4 convolutions (32, 64, 128, 256
filters, leaky ReLU) and a linear map to z_dim, then tanh onto the search's box
[-1, 1]: 1.1 M weights, 4.4 MB. An encoder is stored as a checkpoint like training's,
``<dir>/encoder/Encoder.model-<step>``, with the architecture of its generator and the
generator checkpoint it was trained against (:func:`save`, :func:`load`).
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf
from tensorflow import keras

from completion import masks
from model import Architecture
from shared.errors import CompletionError
from training import checkpoints

ENCODER_DIR = "encoder"        # the encoder's folder inside a model's checkpoint folder
ENCODER_NAME = "Encoder.model"
ENCODER_FILTERS = 32            # filters of E's first layer; x2 per layer up to 8x


@dataclasses.dataclass(frozen=True)
class EncoderInfo:
    """What an encoder checkpoint records besides its weights."""
    arch: Architecture             # of the generator it was trained against
    generator_step: int            # that generator checkpoint's step
    ef_dim: int = ENCODER_FILTERS

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["arch"] = json.loads(self.arch.to_json())
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "EncoderInfo":
        data = json.loads(text)
        data["arch"] = Architecture.from_json(json.dumps(data["arch"]))
        return cls(**data)


class Encoder(keras.Model):
    """E: (images (B, S, S, C) in [-1, 1], known (B, S, S, 1), 1 = known) -> z (B, z_dim)
    in [-1, 1]. Missing pixels are zeroed before E sees them."""

    def __init__(self, arch: Architecture, ef_dim: int = ENCODER_FILTERS):
        super().__init__(name="encoder")
        self.arch = arch
        self.ef_dim = ef_dim
        # One attribute per layer (its checkpoint key): a list's layers are not saved.
        self.num_convs = 0
        size, filters = arch.image_size, ef_dim
        while size > 4:
            name = f"e_h{self.num_convs}"
            setattr(self, name, keras.layers.Conv2D(filters, 4, strides=2, padding="same",
                                                    name=name))
            self.num_convs += 1
            size //= 2
            filters = min(filters * 2, ef_dim * 8)
        self.flatten = keras.layers.Flatten()
        self.to_z = keras.layers.Dense(arch.z_dim, name="e_z")
        self.build_for(1)

    def build_for(self, batch: int) -> None:
        size, channels = self.arch.image_size, self.arch.c_dim
        self(tf.zeros((batch, size, size, channels)), tf.ones((batch, size, size, 1)))

    def call(self, images, known, training=False):
        known = tf.cast(known, tf.float32)
        h = tf.concat([tf.cast(images, tf.float32) * known, known], axis=-1)
        for i in range(self.num_convs):
            h = tf.nn.leaky_relu(getattr(self, f"e_h{i}")(h), alpha=0.2)
        return tf.tanh(self.to_z(self.flatten(h)))


def known_channel(mask) -> np.ndarray:
    """(B, S, S, 1) 1 where a pixel is known (in every channel), from a binary mask of 1 or C
    channels (1 = known). Not the importance weights, which are 0 far from the hole too."""
    mask = np.asarray(mask, np.float32)
    return (mask.min(axis=-1, keepdims=True) > 0.5).astype(np.float32)


def random_masks(count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(count, S, S, 1) masks, 1 = known, of every kind a user makes: centre squares of
    random size and place, random pixels (10-90% missing), halves, the pattern, and
    random rectangles (the page's brush and boxes)."""
    out = np.ones((count, size, size, 1), np.float32)
    for i in range(count):
        kind = rng.integers(5)
        if kind == 0:                                   # a square, mostly central
            side = int(rng.integers(size // 4, 3 * size // 4 + 1))
            top, left = (int(v) for v in np.clip(
                rng.normal((size - side) / 2, size / 10, 2), 0, size - side))
            out[i, top:top + side, left:left + side] = 0.0
        elif kind == 1:
            out[i] = masks.make_mask("random", size, fraction=float(rng.uniform(0.1, 0.9)),
                                     rng=rng)[0]
        elif kind == 2:
            out[i] = masks.half_mask(size, masks.HALF_SIDES[int(rng.integers(4))])
        elif kind == 3:
            out[i] = masks.pattern_mask(size, float(rng.uniform(0.15, 0.5)), rng)
        else:                                           # 1-4 rectangles
            for _ in range(int(rng.integers(1, 5))):
                height, width = (int(v) for v in rng.integers(size // 8, size // 2, 2))
                top, left = int(rng.integers(0, size - height)), int(rng.integers(0, size - width))
                out[i, top:top + height, left:left + width] = 0.0
    return out


def folder(checkpoint_dir: str) -> str:
    return os.path.join(checkpoint_dir, ENCODER_DIR)


def checkpoint_of(encoder: Encoder, info: EncoderInfo | None = None, **extra) -> tf.train.Checkpoint:
    values = dict(encoder=encoder, **extra)
    if info is not None:
        values["info"] = tf.Variable(info.to_json(), trainable=False, dtype=tf.string)
    return tf.train.Checkpoint(**values)


def read_info(prefix: str) -> EncoderInfo:
    reader = tf.train.load_checkpoint(prefix)
    return EncoderInfo.from_json(reader.get_tensor("info/.ATTRIBUTES/VARIABLE_VALUE").decode())


def find(directory: str) -> str | None:
    """The newest intact encoder checkpoint of ``directory`` (a model's folder, whose
    ``encoder/`` holds it, or the encoder folder itself), or None."""
    for where in (folder(directory), directory):
        prefix = checkpoints.latest(where)
        if prefix is not None and os.path.basename(prefix).startswith(ENCODER_NAME):
            return prefix
    return None


def load(prefix: str) -> tuple[Encoder, EncoderInfo]:
    """The encoder stored at ``prefix`` and what it records."""
    info = read_info(prefix)
    encoder = Encoder(info.arch, info.ef_dim)
    checkpoint_of(encoder).read(prefix).expect_partial()
    return encoder, info


def export(prefix: str, out_dir: str) -> str:
    """Write the encoder at ``prefix`` without optimizer state (what ships beside G, a third
    of the size) to ``out_dir/Encoder.model-<step>``; returns the new prefix."""
    encoder, info = load(prefix)
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, f"{ENCODER_NAME}-{checkpoints.step_of(prefix)}")
    return checkpoint_of(encoder, info).write(target)


def load_matching(directory: str, arch: Architecture, warn=print,
                  step: int | None = None) -> Encoder | None:
    """The encoder in ``directory`` (see :func:`find`) if it was trained for a generator of
    ``arch``; None (with a warning naming why) if there is none or it does not fit. If it
    was trained for another step of that generator than ``step`` (when given), it is used,
    with a warning: it may start the search less well."""
    prefix = find(directory)
    return None if prefix is None else _if_matching(prefix, arch, warn, step)


def _if_matching(prefix: str, arch: Architecture, warn, step: int | None = None
                 ) -> Encoder | None:
    encoder, info = load(prefix)
    if info.arch != arch:
        warn(f"Not using the encoder {prefix}: it was trained for another model ({info.arch}); "
             "the search starts from noise. Train one for this model with train_encoder.py.")
        return None
    if step is not None and info.generator_step != step:
        warn(f"The encoder {prefix} was trained for step {info.generator_step} of this model, "
             f"which is now at step {step}: its start may be worse (retrain it with "
             "train_encoder.py, or pass --start noise)")
    return encoder


def for_search(start: str, checkpoint_dir: str, arch: Architecture, log=print,
               step: int | None = None) -> Encoder | None:
    """The encoder the drivers' ``--start`` asks for: ``noise`` None; ``encoder`` the one in
    ``checkpoint_dir`` (an error naming the fix if there is none for this model); ``auto``
    that one if there is one, else None. Logs which start the search takes, and warns if
    the encoder was trained for another ``step`` of the model than the one loaded."""
    prefix = None if start == "noise" else find(checkpoint_dir)
    encoder = None if prefix is None else _if_matching(prefix, arch, log, step)
    if encoder is None and start == "encoder":
        raise CompletionError(
            f"--start encoder: '{checkpoint_dir}' holds no encoder for this model; train one "
            f"(python train_encoder.py --checkpoint_dir {checkpoint_dir} --dataset <aligned "
            "faces>) or pass --start noise")
    log(f"The search starts from {'the encoder ' + prefix if encoder else 'uniform noise'}")
    return encoder


def start(encoder: Encoder, images, mask) -> np.ndarray:
    """Starting z (B, z_dim) for the search: E of the known pixels and the binary mask
    (1 or B of them, 1 = known)."""
    images = np.asarray(images, np.float32)
    known = np.broadcast_to(known_channel(mask), (*images.shape[:3], 1))
    return encoder(tf.convert_to_tensor(images), tf.convert_to_tensor(known)).numpy()
