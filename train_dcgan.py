#!/usr/bin/env python3
"""Train a DCGAN on a folder of aligned faces.

    ./train_dcgan.py --dataset ./data/your-dataset/aligned --epoch 20
    tensorboard --logdir ./logs

Writes checkpoints to --checkpoint_dir (resumed automatically), 8x8 sample grids
``train_EE_IIII.png`` to --sample_dir and TensorBoard logs to --log_dir (with
--fid_interval and --fid_faces, the face FID too).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from shared import defaults, flags, precision, quiet
from shared.errors import TrainingInterrupted, UserError
from evaluation import face_fid
from training import image_check


def build_parser() -> argparse.ArgumentParser:
    parser = flags.Parser(
        description="Train a DCGAN (Radford et al. 2016) on a folder of aligned face images.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--epoch", type=flags.nonnegative_int, default=defaults.DEFAULT_EPOCH,
        help="Epochs to train (in total, counting those of a resumed checkpoint)")
    add("--learning_rate", type=flags.positive_float, default=defaults.DEFAULT_LEARNING_RATE,
        help="Adam learning rate")
    add("--d_learning_rate", type=flags.positive_float, default=flags.SameAs("--learning_rate"),
        help="Adam learning rate of the discriminator; with --g_learning_rate, two time-scale "
             "updates (Heusel et al. 2017)")
    add("--g_learning_rate", type=flags.positive_float, default=flags.SameAs("--learning_rate"),
        help="Adam learning rate of the generator")
    add("--ema_decay", type=flags.ema_decay, default=defaults.DEFAULT_EMA_DECAY,
        help="Keep an exponential moving average of the generator's weights with this decay "
             "per step (Yazici et al. 2019) and use it for samples, exports and completion; "
             "0 keeps none (the original)")
    add("--beta1", type=flags.open_unit_interval, default=defaults.DEFAULT_BETA1,
        help="Adam momentum term beta1")
    add("--train_size", type=flags.train_size, default=float("inf"),
        help="Use at most this many images per epoch ('inf' for all)")
    add("--batch_size", type=flags.positive_int, default=defaults.DEFAULT_BATCH_SIZE,
        help="Images per batch")
    add("--image_size", type=flags.image_size, default=defaults.DEFAULT_IMAGE_SIZE,
        help="Size of the (square) images, a power of two from 8 to 256; other images are "
             "centre-cropped and resized")
    add("--dataset", default="data/lfw/aligned", help="Folder of training images "
        "(png/jpg/jpeg, searched recursively)")
    add("--checkpoint_dir", default=defaults.DEFAULT_CHECKPOINT_DIR,
        help="Where checkpoints are saved and resumed from")
    add("--sample_dir", default=defaults.DEFAULT_SAMPLE_DIR,
        help="Where 8x8 sample grids are saved")
    add("--log_dir", default=defaults.DEFAULT_LOG_DIR, help="TensorBoard log folder")
    add("--seed", type=flags.seed, default="random",
        help="Seed (0 to 2^31-1) for the initial weights, data order, flips and z; 'random' "
             "draws one; the seed used is recorded in checkpoint_dir/options.json")
    add("--sample_interval", type=flags.positive_int, default=defaults.DEFAULT_SAMPLE_INTERVAL,
        help="Save a sample grid every this many steps")
    add("--checkpoint_interval", type=flags.positive_int,
        default=defaults.DEFAULT_CHECKPOINT_INTERVAL,
        help="Save a checkpoint every this many steps")
    add("--log_interval", type=flags.positive_int, default=defaults.DEFAULT_LOG_INTERVAL,
        help="Print a progress line and log losses every this many steps")
    add("--fid_interval", type=flags.nonnegative_int, default=0,
        help="Log the face FID (dlib face descriptors of --fid_samples samples of the "
             "inference generator against --fid_faces; evaluation/face_fid.py) as the "
             "TensorBoard scalar face_fid every this many steps; 0: never")
    add("--fid_faces", default=None,
        help="Folder of held-out real aligned faces for --fid_interval (a few hundred or more; "
             "their descriptors are cached in --checkpoint_dir)")
    add("--fid_samples", type=flags.positive_int, default=defaults.DEFAULT_FID_SAMPLES,
        help="Generated faces per face FID (the same z each time)")
    add("--g_steps", type=flags.positive_int, default=defaults.DEFAULT_G_STEPS,
        help="Generator updates per discriminator update (the original: 2; 1 gave the same "
             "held-out completions per step in 71%% of the time, see docs/EXPERIMENTS.md)")
    # Regularised training (docs/TRAINING_RECIPES.md): each off by default, the original's.
    add("--loss", choices=defaults.LOSS_CHOICES, default=defaults.DEFAULT_LOSS,
        help="GAN loss: bce, the original's sigmoid cross-entropy (non-saturating G loss); "
             "hinge, D: mean relu(1 - D(x)) + mean relu(1 + D(G(z))), G: -mean D(G(z)) (Lim & "
             "Ye 2017; Miyato et al. 2018). Part of the model: completion's perceptual loss "
             "follows it (-D(G(z)) for hinge), and a resume must keep it")
    add("--d_spectral_norm", action="store_true",
        help="Spectral normalisation of the discriminator's convolutions and linear layer "
             "(Miyato et al. 2018), one power iteration per step; the discriminator then has "
             "no batch norm (the paper's SN-DCGAN). Part of the model, as --loss")
    add("--r1_gamma", type=flags.nonnegative_float, default=defaults.DEFAULT_R1_GAMMA,
        help="Weight gamma of the R1 penalty gamma/2 * E||grad_x D(x)||^2 on real images "
             "(Mescheder et al. 2018); 0 for none")
    add("--r1_interval", type=flags.positive_int, default=defaults.DEFAULT_R1_INTERVAL,
        help="Add the R1 penalty, times this, every this many steps only (StyleGAN2's lazy "
             "regularisation); 1 for every step")
    add("--diffaug", type=flags.diffaug, default="none",
        help="DiffAugment (Zhao et al. 2020): a comma list of color, translation, cutout, "
             "applied to every image the discriminator sees, real or generated, in both "
             "updates; none (or '') for none")
    add("--lr_decay", choices=defaults.LR_DECAY_CHOICES, default=defaults.DEFAULT_LR_DECAY,
        help="Decay both learning rates from --lr_decay_start to 0 at the last step of "
             "--epoch epochs, linearly or along half a cosine; none keeps them")
    add("--lr_decay_start", type=flags.nonnegative_int,
        default=defaults.DEFAULT_LR_DECAY_START,
        help="The step the learning-rate decay starts at")
    add("--z_dim", type=flags.positive_int, default=defaults.DEFAULT_Z_DIM, help="Dimension of z")
    add("--gf_dim", type=flags.positive_int, default=defaults.DEFAULT_GF_DIM,
        help="Generator filters in the last layer")
    add("--df_dim", type=flags.positive_int, default=defaults.DEFAULT_DF_DIM,
        help="Discriminator filters in the first layer")
    add("--c_dim", type=int, choices=(1, 3), default=defaults.DEFAULT_C_DIM,
        help="Image channels (3 colour, 1 gray)")
    add("--precision", choices=precision.CHOICES, default=defaults.DEFAULT_PRECISION,
        help=f"Compute precision: {precision.AUTO_HELP}; bfloat16/float16 are mixed precision "
             "(variables and losses stay float32, float16 adds loss scaling); options.json "
             "records the precision used")
    add("--strategy", choices=("auto", "default", "mirrored", "multiworker"),
        default=defaults.DEFAULT_STRATEGY,
        help="Distribution: mirrored splits each batch across all GPUs of this machine (auto "
             "does when there are several); multiworker across machines or processes named by "
             "the TF_CONFIG environment variable; default is one device")
    add("--verbose", action="store_true", help=flags.VERBOSE_HELP)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)   # every option final, the seed drawn
    options = vars(args)
    try:
        # The flags' folders first (nothing is created if one is wrong), then the files'
        # check starts (in worker processes for a big folder) while TensorFlow loads.
        face_fid.check_options(args.fid_interval, args.fid_faces, args.fid_samples,
                               flag=lambda name: f"--{name}")
        check = image_check.start(args.dataset, args.image_size, args.checkpoint_dir,
                                  args.sample_dir, args.log_dir)
    except UserError as error:
        return flags.fail(str(error))
    try:
        quiet.quiet_tensorflow(options.pop("verbose"))
        from training.loop import TrainConfig, train  # TensorFlow loads here
    except KeyboardInterrupt:
        check.cancel()
        return flags.fail("interrupted before training started", code=130)

    # The first line and options.json name the precision used, never "auto".
    chosen, why = precision.choose(args.precision)
    config = TrainConfig(**options | {"precision": chosen})
    print("Options:", json.dumps(dataclasses.asdict(config), default=str), flush=True)
    print(f"Precision: {chosen} ({why})", flush=True)
    try:
        train(config, log=lambda line: print(line, flush=True), check=check)
    except UserError as error:
        return flags.fail(str(error))
    except TrainingInterrupted as stopped:
        print(stopped, flush=True)
        return stopped.exit_code
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C while saving
        return flags.fail("interrupted; the checkpoints already written are kept. Run the "
                          "same command again to resume from the newest one.", code=130)
    return 0


if __name__ == "__main__":
    sys.exit(main())
