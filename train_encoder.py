#!/usr/bin/env python3
"""Train an encoder E(masked face, mask) -> z that gives the completion search its start.

    python train_encoder.py --dataset data/your-dataset/aligned --steps 3000

E is trained against the generator in --checkpoint_dir (the shipped model by default),
on G's own samples (whose z is known) and on the real aligned faces of --dataset, with
random masks of every kind (completion/encoder.py says how). Checkpoints go to
``<checkpoint_dir>/encoder/`` (or --encoder_dir) every --checkpoint_interval steps and at
the end; rerunning the same command resumes from the newest one. After fine-tuning a
generator, ``--init_from <old model>`` starts from the encoder trained for the old one: a few
hundred steps then adapt it (a fresh encoder needs a few thousand). complete.py, evaluate.py
and serve.py start their search from E's z whenever the model's folder holds an encoder
for it (``--start noise`` turns that off).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from shared import defaults, flags, quiet
from shared.errors import UserError
import utils


def build_parser() -> argparse.ArgumentParser:
    parser = flags.Parser(description=__doc__.splitlines()[0],
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--dataset", default=None, help="Folder of aligned training faces (png/jpg/jpeg)")
    add("--checkpoint_dir", default=defaults.DEFAULT_CHECKPOINT_DIR,
        help="The generator to train against")
    add("--encoder_dir", default=None,
        help="Where the encoder's checkpoints go and are resumed from "
             "(default: <checkpoint_dir>/encoder)")
    add("--steps", type=flags.positive_int, default=3000, help="Training steps in total")
    add("--batch_size", type=flags.positive_int, default=64,
        help="Images per step: half G's samples, half real faces")
    add("--learning_rate", type=flags.positive_float, default=0.0005, help="Adam learning rate")
    add("--pixel_weight", type=flags.nonnegative_float, default=1.0,
        help="Weight of |G(E(x, m)) - x| (mean over pixels, [-1, 1] scale) beside |E(x, m) - z|^2")
    add("--hole_weight", type=flags.nonnegative_float, default=0.0,
        help="Weight of |G(E(x, m)) - x| over the hidden pixels alone (their mean), added to "
             "the whole image's: the part of the start the search cannot correct from the "
             "known pixels")
    add("--ef_dim", type=flags.positive_int, default=None,
        help="Filters of E's first layer, doubling per layer (default: 32, or --init_from's)")
    add("--seed", type=flags.seed, default=0, help="Seed of E's weights, the masks and z")
    add("--checkpoint_interval", type=flags.positive_int, default=250,
        help="Save a checkpoint every this many steps")
    add("--log_interval", type=flags.positive_int, default=50,
        help="Print a progress line every this many steps")
    add("--export", default=None, metavar="DIR",
        help="Do not train: write the newest encoder of --encoder_dir without optimizer state "
             "to DIR (e.g. <model>/encoder, to ship it beside the generator)")
    add("--init_from", default=None, metavar="DIR",
        help="Start from the weights of the encoder in DIR (a model's folder or its encoder/ "
             "folder, e.g. the model you fine-tuned G from) instead of random ones; --steps "
             "then counts the new training. Not used when --encoder_dir holds a checkpoint "
             "(training resumes from that)")
    add("--max_images", type=flags.positive_int, default=20000,
        help="Read at most this many faces of --dataset (they are held in memory)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    quiet.quiet_tensorflow()
    try:
        return train(args)
    except UserError as error:
        print(f"train_encoder.py: error: {error}", file=sys.stderr)
        return 2


def train(args) -> int:
    # TensorFlow (and the modules that import it) load here, after the flags parse: --help
    # and flag errors stay fast.
    import tensorflow as tf

    from completion import encoder as enc
    from training import checkpoints

    out_dir = args.encoder_dir or enc.folder(args.checkpoint_dir)
    if args.export:
        prefix = checkpoints.latest(out_dir)
        if prefix is None:
            raise UserError(f"--export: '{out_dir}' holds no encoder checkpoint; train one first")
        print(f"Exported {prefix} to {enc.export(prefix, args.export)}")
        return 0
    if not args.dataset:
        raise UserError("--dataset is required: a folder of aligned faces to train on")
    model, prefix = checkpoints.load_for_completion(args.checkpoint_dir)
    generator, arch = model.generator, model.arch
    if os.path.normpath(out_dir) == os.path.normpath(args.checkpoint_dir):
        raise UserError("--encoder_dir must not be the generator's own folder (its checkpoints "
                        "would be mixed with G's); leave it out to use <checkpoint_dir>/encoder")
    paths = utils.list_images(args.dataset) if os.path.isdir(args.dataset) else []
    if not paths:
        raise UserError(f"--dataset '{args.dataset}' holds no png/jpg/jpeg images; pass a folder "
                        "of aligned faces (align/align-dlib.py makes one)")
    rng = np.random.default_rng(args.seed)
    paths = [paths[i] for i in sorted(rng.permutation(len(paths))[:args.max_images])]
    faces = []
    for path in paths:
        try:
            faces.append(utils.to_model(utils.center_crop_resize(utils.load_rgb(path),
                                                                 arch.image_size)))
        except utils.ImageReadError as error:
            print(f"Skipping {path}: {error}")
    if not faces:
        raise UserError(f"no readable image in --dataset '{args.dataset}'")
    faces = np.stack(faces)
    print(f"Training an encoder for {prefix} on {len(faces)} faces of {args.dataset} and G's "
          f"samples; checkpoints in {out_dir}", flush=True)

    tf.keras.utils.set_random_seed(args.seed)   # E's initial weights, from the seed
    ef_dim = args.ef_dim
    if ef_dim is None:
        ef_dim = enc.ENCODER_FILTERS
        source = checkpoints.latest(out_dir) or (args.init_from and enc.find(args.init_from))
        if source:          # a resumed run keeps its width; --init_from's encoder gives it
            ef_dim = enc.read_info(source).ef_dim
    encoder = enc.Encoder(arch, ef_dim)
    optimizer = tf.keras.optimizers.Adam(args.learning_rate, beta_1=0.5)
    optimizer.build(encoder.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    z_rng = tf.random.Generator.from_seed(args.seed)
    info = enc.EncoderInfo(arch, checkpoints.step_of(prefix), ef_dim)
    checkpoint = enc.checkpoint_of(encoder, info, optimizer=optimizer, step=step, z_rng=z_rng)
    manager = tf.train.CheckpointManager(checkpoint, out_dir, max_to_keep=2,
                                         checkpoint_name=enc.ENCODER_NAME)
    if manager.latest_checkpoint:
        stored = enc.read_info(manager.latest_checkpoint)
        if stored.arch != arch or stored.ef_dim != ef_dim:
            raise UserError(f"the encoder in '{out_dir}' was trained for another model or "
                            f"size ({stored.arch}, {stored.ef_dim} filters); pass a new "
                            "--encoder_dir to start afresh")
        checkpoint.read(manager.latest_checkpoint).expect_partial()
        print(f"Resuming from {manager.latest_checkpoint} (step {int(step.numpy())})"
              + (f"; --init_from {args.init_from} is not used" if args.init_from else ""))
    elif args.init_from:
        _init_from(args.init_from, encoder, arch)

    # Masks: a fixed bank, drawn from in the graph.
    bank = tf.constant(enc.random_masks(4096, arch.image_size, rng))
    faces = tf.constant(faces)
    half = args.batch_size // 2
    z_dim = arch.z_dim

    @tf.function
    def train_step():
        z = z_rng.uniform((half, z_dim), -1.0, 1.0)
        fake = generator(z, training=False)
        real = tf.gather(faces, z_rng.uniform((args.batch_size - half,), 0, faces.shape[0],
                                              dtype=tf.int32))
        flip = z_rng.uniform((args.batch_size - half, 1, 1, 1)) < 0.5
        real = tf.where(flip, real[:, :, ::-1], real)
        images = tf.concat([fake, real], axis=0)
        known = tf.gather(bank, z_rng.uniform((args.batch_size,), 0, bank.shape[0],
                                              dtype=tf.int32))
        with tf.GradientTape() as tape:
            z_loss, pixel_loss, hole_loss = losses(generator, encoder, images, known, z)
            loss = z_loss + args.pixel_weight * pixel_loss + args.hole_weight * hole_loss
        grads = tape.gradient(loss, encoder.trainable_variables)
        optimizer.apply_gradients(zip(grads, encoder.trainable_variables))
        step.assign_add(1)
        return z_loss, pixel_loss, hole_loss

    started, first = time.perf_counter(), int(step.numpy())
    z_sum = pixel_sum = hole_sum = 0.0
    count = 0
    while int(step.numpy()) < args.steps:
        z_loss, pixel_loss, hole_loss = train_step()
        z_sum, pixel_sum, count = z_sum + float(z_loss), pixel_sum + float(pixel_loss), count + 1
        hole_sum += float(hole_loss)
        now = int(step.numpy())
        if now % args.log_interval == 0 or now == args.steps:
            rate = (now - first) / (time.perf_counter() - started)
            print(f"step {now}/{args.steps}: z loss {z_sum / count:.4f}, pixel loss "
                  f"{pixel_sum / count:.4f} ({127.5 * pixel_sum / count:.1f} grey levels; in the "
                  f"hole {127.5 * hole_sum / count:.1f}), "
                  f"{rate:.2f} steps/s, {(args.steps - now) / rate / 60:.1f} min left", flush=True)
            z_sum = pixel_sum = hole_sum = 0.0
            count = 0
        if now % args.checkpoint_interval == 0 or now == args.steps:
            manager.save(checkpoint_number=now)
    print(f"Done: {manager.latest_checkpoint}")
    return 0


def losses(generator, encoder, images, known, z):
    """E's three losses on a batch whose first ``len(z)`` images are G(z): the z loss (mean
    squared error of E's z on those), and the mean absolute error of G(E(x, m)) against x
    ([-1, 1] scale) over the whole image and over the hidden pixels (``known`` 0) alone."""
    import tensorflow as tf

    predicted = encoder(images, known, training=True)
    z_loss = tf.reduce_mean(tf.square(predicted[:z.shape[0]] - z))
    error = tf.abs(generator(predicted, training=False) - images)
    hidden = 1.0 - tf.cast(known, error.dtype)
    hole_loss = (tf.reduce_sum(error * hidden)
                 / tf.maximum(tf.reduce_sum(hidden) * error.shape[-1], 1.0))
    return z_loss, tf.reduce_mean(error), hole_loss


def _init_from(directory: str, encoder, arch) -> None:
    """Copy into ``encoder`` the weights of the encoder found in ``directory``, which must
    have been trained for a generator of ``arch`` (its optimizer state and step are not
    taken: this is a new training)."""
    from completion import encoder as enc

    prefix = enc.find(directory)
    if prefix is None:
        raise UserError(f"--init_from: '{directory}' holds no encoder checkpoint; pass a model "
                        "folder with an encoder/ folder (such as checkpoint), or leave the flag "
                        "out to start from random weights")
    info = enc.read_info(prefix)
    if info.arch != arch:
        raise UserError(f"--init_from: the encoder {prefix} was trained for another model "
                        f"({info.arch}); leave the flag out to start from random weights")
    if info.ef_dim != encoder.ef_dim:
        raise UserError(f"--init_from: the encoder {prefix} has {info.ef_dim} filters, not "
                        f"--ef_dim {encoder.ef_dim}; pass --ef_dim {info.ef_dim} (or leave it "
                        "out), or leave --init_from out to start from random weights")
    # Straight into the (built) encoder: every one of its weights must be found there.
    enc.checkpoint_of(encoder).read(prefix).assert_existing_objects_matched().expect_partial()
    print(f"Starting from the weights of {prefix} (trained for step {info.generator_step})")


if __name__ == "__main__":
    raise SystemExit(main())
