"""Every default that the library and the command lines share, written once.

The library's own defaults (:class:`completion.config.CompletionConfig`,
:func:`completion.masks.make_mask`, :class:`model.Architecture`,
:class:`training.loop.TrainConfig`, :class:`training.train_step.TrainStep`) and the
flags' (:mod:`completion.flags`, train_dcgan.py) are these values, so a library call
with no arguments does what the command does with no flags. Plain values and the random
seed, nothing heavy imported: :mod:`shared.flags` (and so every ``--help``) reads them
without loading TensorFlow.
"""
import secrets

# ---------------------------------------------------------------------- the search
# The search over z (completion/search.py; complete.py, serve.py and evaluate.py's flags).
DEFAULT_APPROACH = "momentum"
# Default step size of each completion search, measured on held-out faces (docs/EXPERIMENTS.md,
# "Choosing the search"). Momentum's is on the loss per known value (completion/search.py's
# ``normalize``); Adam is scale-free; HMC steps by --hmcEps and ignores --lr.
DEFAULT_LR = {"momentum": 1.0, "adam": 0.03, "hmc": 0.0}
DEFAULT_MOMENTUM = 0.9
DEFAULT_ADAM_BETA1 = 0.9
DEFAULT_ADAM_BETA2 = 0.999
DEFAULT_ADAM_EPS = 1e-8
DEFAULT_HMC_BETA = 0.2
DEFAULT_HMC_EPS = 0.001
DEFAULT_HMC_L = 100
DEFAULT_HMC_ANNEAL = 1.0
DEFAULT_LAM = 0.1                # weight of the perceptual loss (the original's, on the L1 sum)
# How many iterations each phase may run at most (early stopping ends most searches
# sooner), by where the search starts: from noise, the blog's 1,000 over z and then the
# feature search; from the encoder's z, no search over z (its z is already as good as 50 + 50
# iterations from noise, and the z search from it lowered quality) and a short feature
# search (25: 50 or 100 added nothing), measured in docs/COMPLETION_SPEED.md. --nIter and
# --featureIter, when given, apply to either start.
BUDGET = {"noise": {"nIter": 1000, "featureIter": 200},
          "encoder": {"nIter": 0, "featureIter": 25}}
DEFAULT_N_ITER = BUDGET["noise"]["nIter"]         # the library's (CompletionConfig): no encoder
DEFAULT_OUT_INTERVAL = 50        # iterations between snapshots (and per compiled call)
# The feature search that follows the z search (completion/search.py, docs/DESIGN.md "The feature
# search"): its iterations and its momentum step size, measured on held-out faces.
DEFAULT_FEATURE_ITER = BUDGET["noise"]["featureIter"]
DEFAULT_FEATURE_LR = 30.0
# Early stopping (completion/search.py's stop_tol, stop_window): each image's search ends when
# the mean change of its hole over this many iterations is below this many grey levels
# (0-255), measured on held-out faces (docs/COMPLETION_SPEED.md).
DEFAULT_STOP_TOL = 0.5
DEFAULT_STOP_WINDOW = 10
# Where the search starts (encoder.for_search): auto is the encoder stored with the model
# when there is one for it, else uniform noise.
DEFAULT_START = "auto"
DEFAULT_RESTARTS = 1             # random starts per image (--nRestarts)
DEFAULT_COMPLETION_BATCH = 64    # images searched at once (complete.py and evaluate.py's --batchSize)
DEFAULT_DETECT_SIDE = 1024       # --align: faces are detected on the photo downscaled to this

# ------------------------------------------------------------------------ the masks
DEFAULT_MASK_TYPE = "center"
DEFAULT_CENTER_SCALE = 0.25      # the centre hole spans size*scale to size*(1-scale)
DEFAULT_FRACTION_MASKED = 0.2    # random mask: the original's hard-coded share
DEFAULT_HALF_SIDE = "left"
DEFAULT_PATTERN_FRACTION = 0.25  # the paper's random pattern: about 25% missing
DEFAULT_WEIGHT_WINDOW = 7        # the paper's importance weights: a 7x7 window
LOWRES_FACTOR = 8                # the original's lowres: 64x64 images compared at 8x8 (the
                                 # lowres mask, completion/masks.py; its loss, model.py)

# complete.py's flags the demo (no images given, :mod:`completion.demo`) sets otherwise.
# maskType None: every one of demo.MASK_TYPES.
DEMO = {"fractionMasked": 0.8, "halfSide": "bottom", "maskType": None,
        "align": True, "pasteBack": True, "gif": True}

# ------------------------------------------------------------ the model and training
def random_seed() -> int:
    """A fresh seed from the operating system's entropy, from 0 to 2**31 - 1 (what NumPy and
    TensorFlow both accept): the default seed of training (``--seed random``)."""
    return secrets.randbelow(2**31)



# The architecture (model.Architecture; train_dcgan.py's flags): the original's.
DEFAULT_IMAGE_SIZE = 64
DEFAULT_Z_DIM = 100
DEFAULT_GF_DIM = 64
DEFAULT_DF_DIM = 64
DEFAULT_C_DIM = 3
# Training (training.loop.TrainConfig, training.train_step.TrainStep; train_dcgan.py's
# flags): the paper's Adam, and the recipe measured in docs/EXPERIMENTS.md, "The recipe":
# one G update per D update (the original's 2) and the moving average of G (the original
# keeps none: 0).
DEFAULT_EPOCH = 25
DEFAULT_LEARNING_RATE = 0.0002
DEFAULT_BETA1 = 0.5              # Adam's beta1 in training (the search's Adam: 0.9, above)
DEFAULT_G_STEPS = 1
DEFAULT_EMA_DECAY = 0.999
# Regularised training (docs/TRAINING_RECIPES.md), every one off for now: the original's
# recipe. The loss and spectral norm are part of the model (model.Architecture).
DEFAULT_LOSS = "bce"             # sigmoid cross-entropy; "hinge"
DEFAULT_D_SPECTRAL_NORM = False
DEFAULT_R1_GAMMA = 0.0           # 0: no R1 penalty
DEFAULT_R1_INTERVAL = 16         # the penalty every this many steps, times this (StyleGAN2's lazy R1)
DIFFAUG_OPS = ("color", "translation", "cutout")   # DiffAugment's ops, in the order applied
DEFAULT_DIFFAUG = ()             # DiffAugment's ops (training/augment.py); (): none
LOSS_CHOICES = ("bce", "hinge")  # model.LOSSES
LR_DECAY_CHOICES = ("none", "linear", "cosine")
DEFAULT_LR_DECAY = "none"        # "linear", "cosine": to 0 at the run's last step
DEFAULT_LR_DECAY_START = 0       # the step the decay starts at
DEFAULT_BATCH_SIZE = 64
DEFAULT_SAMPLE_INTERVAL = 100
DEFAULT_CHECKPOINT_INTERVAL = 500
DEFAULT_LOG_INTERVAL = 10
DEFAULT_FID_SAMPLES = 500        # generated faces per face FID (evaluation/face_fid.py)
DEFAULT_PRECISION = "auto"
DEFAULT_STRATEGY = "auto"
DEFAULT_CHECKPOINT_DIR = "checkpoint"   # where training writes and completion reads the model
DEFAULT_SAMPLE_DIR = "samples"
DEFAULT_LOG_DIR = "logs"
