"""--precision: what auto picks, and that mixed precision trains and completes like float32."""
import numpy as np
import pytest
import tensorflow as tf

import checkpoints
import masks
import model
from completion import CompletionConfig, Completer


def test_cpu_flags_decide_bfloat16(tmp_path):
    amx = tmp_path / "amx"
    amx.write_text("processor : 0\nflags\t\t: fpu sse avx2 amx_bf16 amx_tile\n")
    plain = tmp_path / "plain"
    plain.write_text("processor : 0\nflags\t\t: fpu sse avx avx2 fma\n")
    assert model.cpu_has_fast_bfloat16(str(amx))
    assert not model.cpu_has_fast_bfloat16(str(plain))
    assert not model.cpu_has_fast_bfloat16(str(tmp_path / "missing"))


@pytest.mark.parametrize("fast_bf16,expected", [(True, "bfloat16"), (False, "float32")])
def test_auto_precision_on_a_cpu(monkeypatch, fast_bf16, expected):
    monkeypatch.setattr(model, "cpu_has_fast_bfloat16", lambda: fast_bf16)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert model.resolve_precision("auto") == expected
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    assert model.resolve_precision("auto") == "float16"
    assert model.resolve_precision("float32") == "float32"
    with pytest.raises(ValueError):
        model.resolve_precision("int8")


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_keeps_float32_variables_and_trains(precision):
    arch = model.Architecture(image_size=16, z_dim=8, gf_dim=4, df_dim=4)
    dcgan = model.DCGAN(arch, precision=precision)
    assert all(v.dtype == tf.float32 for v in dcgan.generator.variables)
    assert dcgan.generator.g_h1.compute_dtype == precision
    images = tf.random.uniform([4, 16, 16, 3], -1, 1, seed=1)
    out = dcgan.train_step(images, tf.random.uniform([4, 8], -1, 1, seed=2))
    assert all(np.isfinite(out[k].numpy()) for k in ("d_loss", "g_loss"))
    assert out["d_loss"].dtype == tf.float32
    if precision == "float16":
        assert isinstance(dcgan.g_optimizer, tf.keras.optimizers.LossScaleOptimizer)


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
        config = CompletionConfig(n_iter=40, out_interval=40)
        last = list(Completer(dcgan, config, seed=3).complete(images, mask[None], low[None]))[-1]
        completed = images * mask + last.generated * (1 - mask)
        contextual = model.contextual_loss(tf.constant(last.generated), images, mask[None])
        results[precision] = (completed.numpy(), contextual.numpy())
    (a, loss_a), (b, loss_b) = results["float32"], results["bfloat16"]
    assert np.abs(a - b).mean() < 0.05
    np.testing.assert_allclose(loss_b, loss_a, rtol=0.1, atol=0.05 * loss_a.mean())
