"""--precision: what auto picks, and that mixed precision trains and completes like float32."""
import numpy as np
import pytest
import tensorflow as tf

from completion import masks
from completion.search import CompletionConfig, complete, networks
import model
from shared import precision
from training import checkpoints


# /proc/cpuinfo flags of each kind of machine the toolkit runs on (abridged, real flag names)
AVX2_EPYC = "fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni"
AVX512_BF16_XEON = AVX2_EPYC + " avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni avx512_bf16"
AMX_XEON = AVX512_BF16_XEON + " avx512_fp16 amx_bf16 amx_tile amx_int8"
GPU = ["PhysicalDevice(name='/physical_device:GPU:0', device_type='GPU')"]


@pytest.mark.parametrize("cpu,gpus,expected", [
    (AVX2_EPYC, [], "float32"),             # bfloat16 emulated: several times slower
    (AVX512_BF16_XEON, [], "float32"),      # measured 1.4-1.5x slower in bfloat16 (the issue)
    (AMX_XEON, [], "bfloat16"),             # AMX multiplies bfloat16 tiles
    ("", [], "float32"),                    # flags unknown (not Linux): the safe choice
    (AVX2_EPYC, GPU, "float16"),            # a CUDA GPU, whatever the CPU
    (AMX_XEON, GPU * 4, "float16"),         # several GPUs
])
def test_auto_picks_the_faster_precision_on_every_kind_of_machine(cpu, gpus, expected):
    flags = cpu.split()
    assert precision.resolve_precision("auto", cpu_flags=flags, gpus=gpus) == expected
    chosen, why = precision.choose("auto", cpu_flags=flags, gpus=gpus)
    assert chosen == expected and why.startswith("auto: ")
    # an explicit choice is honoured on every machine
    for name in precision.PRECISIONS:
        assert precision.resolve_precision(name, cpu_flags=flags, gpus=gpus) == name
        assert precision.choose(name, cpu_flags=flags, gpus=gpus) == (name, "as asked")


def test_bad_precision_names_are_refused():
    for name in ("int8", "", "Float32", "fp16"):
        with pytest.raises(ValueError, match="precision must be one of"):
            precision.resolve_precision(name, cpu_flags=[], gpus=[])


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: " + AMX_XEON
                   + "\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert precision.read_cpu_flags(str(amx)) == frozenset(AMX_XEON.split())   # the first CPU's
    assert "spectre_v1" not in precision.read_cpu_flags(str(amx))
    no_flags = tmp_path / "no_flags"
    no_flags.write_text("processor : 0\nmodel name : something\n")
    assert precision.read_cpu_flags(str(no_flags)) == frozenset()
    assert precision.read_cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_auto_reads_this_machine_only_when_not_told(monkeypatch):
    """The defaults: /proc/cpuinfo's flags and TensorFlow's GPU list, read once each."""
    calls = []
    monkeypatch.setattr(precision, "read_cpu_flags",
                        lambda path=precision.CPUINFO: calls.append("cpu") or frozenset(["amx_bf16"]))
    monkeypatch.setattr(precision, "list_gpus", lambda: calls.append("gpu") or [])
    assert precision.resolve_precision("auto") == "bfloat16" and calls == ["gpu", "cpu"]
    calls.clear()
    assert precision.resolve_precision("auto", cpu_flags=[], gpus=[]) == "float32"
    assert calls == []
    monkeypatch.setattr(precision, "list_gpus", lambda: ["GPU:0", "GPU:1"])
    assert precision.resolve_precision("auto") == "float16"
    # the model only takes a resolved name: machine detection is shared/precision.py's alone
    assert not hasattr(model, "resolve_precision")
    with pytest.raises(ValueError, match="precision must be one of"):
        model.DCGAN(model.Architecture(image_size=8, z_dim=4, gf_dim=4, df_dim=4), "auto")


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_keeps_float32_variables_and_trains(precision):
    from training.train_step import TrainStep

    arch = model.Architecture(image_size=16, z_dim=8, gf_dim=4, df_dim=4)
    dcgan = model.DCGAN(arch, precision=precision)
    assert all(v.dtype == tf.float32 for v in dcgan.generator.variables)
    assert dcgan.generator.g_h1.compute_dtype == precision
    train_step = TrainStep(dcgan, g_steps=2, ema_decay=0.0)
    images = tf.random.uniform([4, 16, 16, 3], -1, 1, seed=1)
    out = train_step(images, tf.random.uniform([4, 8], -1, 1, seed=2))
    assert all(np.isfinite(out[k].numpy()) for k in ("d_loss", "g_loss"))
    assert out["d_loss"].dtype == tf.float32
    if precision == "float16":
        assert isinstance(train_step.g_optimizer, tf.keras.optimizers.LossScaleOptimizer)


def test_bfloat16_completion_matches_float32(trained_run):
    """Same checkpoint, inputs, mask and seed: completed pixels within 0.05 (on [-1, 1]) on
    average, and each final contextual loss within 10% (or 5% of the batch mean, for the
    images that are already almost exactly completed)."""
    results = {}
    for precision in ("float32", "bfloat16"):
        dcgan, _ = checkpoints.load_for_completion(str(trained_run / "checkpoint"), precision)
        rng = np.random.default_rng(0)
        images = dcgan.sample(rng.uniform(-1, 1, (4, dcgan.arch.z_dim))).numpy()
        images = tf.constant(images, tf.float32)
        mask, low = masks.make_mask("center", dcgan.arch.image_size)
        config = CompletionConfig(n_iter=40, out_interval=40, feature_iter=0, stop_tol=0)
        last = list(complete(*networks(dcgan), images, mask[None], low[None], config=config,
                             seed=3))[-1]
        completed = images * mask + last.generated * (1 - mask)
        contextual = model.contextual_loss(tf.constant(last.generated), images, mask[None])
        results[precision] = (completed.numpy(), contextual.numpy())
    (a, loss_a), (b, loss_b) = results["float32"], results["bfloat16"]
    assert np.abs(a - b).mean() < 0.05
    np.testing.assert_allclose(loss_b, loss_a, rtol=0.1, atol=0.05 * loss_a.mean())


@pytest.fixture
def amx_machine(monkeypatch):
    """This process sees an AMX CPU and no GPU, so ``auto`` means bfloat16 (not float32, this
    machine's choice and the models' default, which a record of "auto" might be mistaken for)."""
    monkeypatch.setattr(precision, "read_cpu_flags", lambda path=None: frozenset(AMX_XEON.split()))
    monkeypatch.setattr(precision, "list_gpus", lambda: [])


def test_training_records_the_precision_auto_chose(amx_machine, tiny_faces, tmp_path, capsys):
    import json
    import train_dcgan
    from conftest import TINY

    run = tmp_path / "run"
    assert train_dcgan.main([
        "--dataset", str(tiny_faces), "--epoch", "1", "--train_size", "8", "--batch_size", "8",
        "--image_size", "16", "--z_dim", str(TINY["z_dim"]), "--gf_dim", "4", "--df_dim", "4",
        "--checkpoint_dir", str(run / "checkpoint"), "--sample_dir", str(run / "samples"),
        "--log_dir", str(run / "logs"), "--seed", "1", "--precision", "auto"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Options: ")
    assert json.loads(lines[0][len("Options: "):])["precision"] == "bfloat16"
    assert lines[1] == "Precision: bfloat16 (auto: CPU with AMX)"
    assert any(line.startswith("Model: ") and "precision bfloat16" in line for line in lines)
    options = json.loads((run / "checkpoint" / "options.json").read_text())
    assert options["precision"] == "bfloat16"


def test_completion_records_the_precision_auto_chose(amx_machine, trained_run, tmp_path, capsys):
    import json
    import complete
    import utils

    face = tmp_path / "face.png"
    utils.save_rgb(np.full((16, 16, 3), 100, np.uint8), face)
    out = tmp_path / "out"
    assert complete.main(["--checkpointDir", str(trained_run / "checkpoint"), "--outDir", str(out),
                          "--nIter", "1", "--seed", "1", str(face)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Precision: bfloat16 (auto: CPU with AMX)"
    assert any(line.startswith("Loaded ") and line.endswith("precision bfloat16") for line in lines)
    assert json.loads((out / "options.json").read_text())["precision"] == "bfloat16"
    # an explicit choice is recorded as given
    assert complete.main(["--checkpointDir", str(trained_run / "checkpoint"), "--outDir",
                          str(tmp_path / "f32"), "--nIter", "1", "--precision", "float32",
                          str(face)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "Precision: float32 (as asked)"
    assert json.loads((tmp_path / "f32" / "options.json").read_text())["precision"] == "float32"
