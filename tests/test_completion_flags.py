"""complete.py, serve.py and evaluate.py share their search flags and their meaning
(completion/flags.py): the same flags, defaults and settings, declared and mapped once."""
import ast
import types

import numpy as np
import pytest

import complete
from completion import flags as completion_flags
import evaluate
import serve
from completion.config import CompletionConfig, default_lr
from conftest import ROOT

SEARCH_FLAGS = ("approach", "lr", "momentum", "beta1", "beta2", "eps", "hmcBeta", "hmcEps",
                "hmcL", "hmcAnneal", "nIter", "featureIter", "featureLr", "stopTol",
                "stopWindow", "start", "lam", "sumLoss", "nRestarts")
GIVEN = ["--approach", "hmc", "--lr", "0.5", "--momentum", "0.5", "--beta1", "0.8",
         "--beta2", "0.99", "--eps", "1e-6", "--hmcBeta", "0.3", "--hmcEps", "0.01",
         "--hmcL", "7", "--hmcAnneal", "0.9", "--nIter", "12", "--featureIter", "3",
         "--featureLr", "5", "--stopTol", "0", "--stopWindow", "4", "--lam", "0.2",
         "--sumLoss", "--nRestarts", "2"]


def parsed(argv):
    """The flags of the three commands, parsed from the same ``argv``."""
    return {"complete": complete.build_parser().parse_args(argv + ["x.png"]),
            "serve": serve.build_parser().parse_args(argv),
            "evaluate": evaluate.build_parser().parse_args(argv + ["x.png"])}


@pytest.mark.parametrize("argv", [[], GIVEN], ids=["defaults", "given"])
def test_the_three_commands_share_the_search_flags_and_their_settings(argv):
    commands = parsed(argv)
    values = {name: {flag: getattr(args, flag) for flag in SEARCH_FLAGS}
              for name, args in commands.items()}
    assert values["serve"] == values["complete"] == values["evaluate"]
    configs = {name: completion_flags.search_config(args, outInterval=5)
               for name, args in commands.items()}
    assert configs["serve"] == configs["complete"] == configs["evaluate"]


def test_the_flags_map_onto_every_field_of_the_search_settings():
    config = completion_flags.search_config(parsed(GIVEN)["evaluate"], outInterval=5)
    assert config == CompletionConfig(
        approach="hmc", lr=0.5, momentum=0.5, beta1=0.8, beta2=0.99, eps=1e-6, hmc_beta=0.3,
        hmc_eps=0.01, hmc_L=7, hmc_anneal=0.9, lam=0.2, n_iter=12, out_interval=5,
        normalize=False, feature_iter=3, feature_lr=5.0, stop_tol=0.0, stop_window=4)
    defaults = completion_flags.search_config(parsed([])["complete"])
    assert (defaults.lr, defaults.out_interval) == (default_lr("momentum"), 50)
    assert completion_flags.search_config(parsed(["--approach", "adam"])["serve"]).lr == \
        default_lr("adam") == 0.03


def test_the_library_s_defaults_are_the_commands_defaults():
    """CompletionConfig() searches as the commands do with no flags (shared/defaults.py)."""
    commands = parsed([])
    for name in ("complete", "serve"):
        assert completion_flags.search_config(commands[name]) == CompletionConfig()
    assert completion_flags.search_config(commands["evaluate"], outInterval=50) == \
        CompletionConfig()                                  # evaluate.py has no --outInterval
    assert CompletionConfig().feature_iter > 0 and CompletionConfig().stop_tol > 0
    # from the encoder's z: no search over z, 25 feature iterations (defaults.BUDGET)
    for name in ("complete", "serve"):
        assert completion_flags.search_config(commands[name], from_encoder=True) == \
            CompletionConfig(n_iter=0, feature_iter=25)


def test_given_iteration_caps_apply_to_either_start():
    for from_encoder in (True, False):
        args = parsed(["--nIter", "7"])["complete"]
        assert completion_flags.budget(args, from_encoder) == \
            {"nIter": 7, "featureIter": 25 if from_encoder else 200}
        args = parsed(["--featureIter", "0"])["complete"]
        assert completion_flags.budget(args, from_encoder) == \
            {"nIter": 0 if from_encoder else 1000, "featureIter": 0}


def test_evaluate_searches_with_every_search_flag():
    """evaluate.py's search gets the flags it once dropped (--momentum, Adam's, HMC's)."""
    args = evaluate.build_parser().parse_args(GIVEN + ["--batchSize", "2", "x.png"])
    seen = []

    class Searcher:
        def batches(self, images, face_masks, config, seed, **options):
            seen.append((config, seed, options))
            last = types.SimpleNamespace(generated=images, steps=np.full(len(images), 15),
                                         loss=np.zeros(len(images)))
            yield 0, slice(0, len(images)), [last]

    images, masks = np.zeros((2, 4, 4, 3), np.float32), np.ones((2, 4, 4, 1), np.float32)
    evaluate.complete_faces(Searcher(), images, masks, args, weighted=True, log=lambda line: None)
    (config, seed, options), = seen
    assert config == completion_flags.search_config(args, outInterval=15)  # the whole search
    assert (config.momentum, config.beta1, config.hmc_L, config.hmc_anneal) == (0.5, 0.8, 7, 0.9)
    assert (seed, options["restarts"], options["batch_size"]) == (0, 2, 2)


def test_the_page_s_inputs_replace_the_command_line_s():
    args = serve.resolve_defaults(serve.build_parser().parse_args(["--momentum", "0.7"]))
    assert args.lr == default_lr("momentum")
    config = serve.build_config(args, "adam", "", "0.5", "12", "3", "")
    assert (config.approach, config.lr, config.lam, config.n_iter, config.out_interval) == (
        "adam", 0.03, 0.5, 12, 3)
    assert (config.momentum, config.stop_tol) == (0.7, args.stopTol)


def test_no_driver_reaches_into_argparse():
    """serve.py once copied complete.py's parser through ``parser._actions``."""
    private = {"_actions", "_add_action", "_option_string_actions", "_action_groups"}
    for path in sorted(ROOT.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not used & private, f"{path.name} uses argparse's privates {used & private}"


def test_the_page_says_how_the_search_will_stop():
    """The status line when a search starts names its stopping rule, in the words of the
    status line when it stopped early."""
    config = CompletionConfig(stop_tol=0.5, stop_window=10)
    assert serve.stopping(config) == ("stopping when the fill changes by less than 0.5 grey "
                                      "levels in 10 iterations")
    assert serve.stopping(CompletionConfig(stop_tol=0.0)) == "no early stop"
