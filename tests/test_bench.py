"""bench/common.py: the theoretical peak that benchmark percentages are taken against."""
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402


def _cpuinfo(flags, mhz, cores, threads_per_core=1, sockets=1):
    """/proc/cpuinfo blocks of a machine: logical CPUs numbered socket by socket, SMT
    siblings sharing a core id."""
    blocks, number = [], 0
    for socket in range(sockets):
        for thread in range(threads_per_core):
            for core in range(cores):
                blocks.append({"processor": str(number), "physical id": str(socket),
                               "core id": str(core), "cpu MHz": str(mhz), "flags": flags})
                number += 1
    return blocks


AVX2 = "fpu sse sse2 fma avx avx2"
AVX512_BF16 = AVX2 + " avx512f avx512bw avx512_bf16"
AMX = AVX512_BF16 + " avx512_fp16 amx_bf16 amx_tile"
NO_CPUFREQ = "/nonexistent/cpuinfo_max_freq"


@pytest.mark.parametrize("flags,precision,per_core_cycle", [
    (AVX2, "float32", 8 * 2 * 2),             # 8 lanes x FMA x 2 units
    (AVX2, "bfloat16", 8 * 2 * 2),            # emulated through float32
    (AVX512_BF16, "float32", 16 * 2 * 2),
    (AVX512_BF16, "bfloat16", 2 * 16 * 2 * 2),  # two bfloat16 products per float32 lane
    (AVX512_BF16, "float16", 16 * 2 * 2),     # no AVX512-FP16: through float32
    (AMX, "bfloat16", 2048),                  # AMX tiles
    (AMX, "float16", 2 * 16 * 2 * 2),         # AVX512-FP16
])
def test_theoretical_peak_by_hand(flags, precision, per_core_cycle):
    cpuinfo = _cpuinfo(flags, mhz=2000.0, cores=4)
    peak, how = common.theoretical_peak(precision, cpuinfo, allowed=set(range(4)),
                                        cpufreq_max=NO_CPUFREQ)
    assert peak == pytest.approx(4 * per_core_cycle * 2.0)        # GFLOP/s at 2 GHz
    assert how.startswith("4 physical cores") and "2000 MHz" in how


def test_cores_count_once_per_smt_pair_and_only_where_the_process_may_run():
    cpuinfo = _cpuinfo(AVX2, 3000.0, cores=4, threads_per_core=2, sockets=2)   # 16 logical
    assert common.usable_cores(cpuinfo, allowed=set(range(16)))[0] == 8
    # CPUs 0 and 4 are the two threads of socket 0's core 0; 1 is its core 1
    assert common.usable_cores(cpuinfo, allowed={0, 4, 1})[0] == 2
    no_core_ids = [{"processor": "0", "flags": AVX2}, {"processor": "1", "flags": AVX2}]
    assert common.usable_cores(no_core_ids, allowed={0, 1}) == (2, "logical CPUs (no core ids)")


def test_no_flags_or_clock_means_no_theoretical_peak():
    assert common.theoretical_peak("float32", [], cpufreq_max=NO_CPUFREQ)[0] is None
    no_clock = [{"processor": "0", "core id": "0", "flags": AVX2}]
    assert common.theoretical_peak("float32", no_clock, allowed={0},
                                   cpufreq_max=NO_CPUFREQ) == (None, "clock unknown")


def test_cpuinfo_is_parsed_into_one_dict_per_cpu(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\ncore id\t\t: 0\ncpu MHz\t\t: 1996.249\nflags\t\t: fpu avx2\n\n"
                    "processor\t: 1\ncore id\t\t: 1\ncpu MHz\t\t: 2100.5\nflags\t\t: fpu avx2\n")
    cpuinfo = common.read_cpuinfo(str(path))
    assert [cpu["processor"] for cpu in cpuinfo] == ["0", "1"]
    assert cpuinfo[0]["flags"] == "fpu avx2"
    assert common.clock_mhz(cpuinfo, NO_CPUFREQ)[0] == 2100.5     # the highest reading
    assert common.read_cpuinfo(str(tmp_path / "missing")) == []


# ------------------------------------------------ the quality sweeps' shared scoring
def _sweep_parser(limit):
    import argparse

    parser = argparse.ArgumentParser()
    common.add_face_arguments(parser, limit=limit)
    return parser


def test_sweeps_read_the_first_faces_and_name_an_empty_folder(tiny_faces, trained_run, tmp_path,
                                                              capsys):
    parser = _sweep_parser(limit=3)
    args = parser.parse_args([str(tiny_faces), "--checkpointDir", str(trained_run / "checkpoint")])
    model, prefix, paths, images = common.load_faces(parser, args)
    assert [p.rsplit("/", 1)[-1] for p in paths] == sorted(p.name for p in tiny_faces.iterdir())[:3]
    assert images.shape == (3, 16, 16, 3) and images.min() >= -1 and images.max() <= 1
    assert prefix.startswith(str(trained_run / "checkpoint"))
    args = parser.parse_args([str(tmp_path)])                      # a folder without faces
    with pytest.raises(SystemExit) as stopped:
        common.load_faces(parser, args)
    assert stopped.value.code == 2 and f"no faces in {tmp_path}" in capsys.readouterr().err


def test_scorer_on_real_faces_against_hand_figures(faces_dir):
    import numpy as np
    from PIL import Image

    names = sorted((faces_dir / "celeba10k").iterdir())[:3]
    truths = np.stack([np.asarray(Image.open(n).convert("RGB").resize((64, 64))) for n in names])
    holes = np.zeros((3, 64, 64), bool)
    holes[:, 16:48, 16:48] = True
    score = common.Scorer(truths, holes)
    same = score(truths)
    assert same["identity_per_face"] == pytest.approx([0.0] * 3, abs=1e-6)
    assert same["ssim_hole"] == pytest.approx(1.0)
    grey = truths.copy()
    grey[holes] = 128
    figures = score(grey)
    errors = (grey.astype(float) - truths.astype(float)) ** 2
    by_hand = [10 * np.log10(255.0 ** 2 / e.mean()) for e in errors]
    assert figures["psnr_whole"] == pytest.approx(np.mean(by_hand), rel=1e-6)
    by_hand_hole = [10 * np.log10(255.0 ** 2 / e[h].mean()) for e, h in zip(errors, holes)]
    assert figures["psnr_hole"] == pytest.approx(np.mean(by_hand_hole), rel=1e-6)
    assert all(d > 0.05 for d in figures["identity_per_face"])     # a grey hole is not the face
    assert figures["identity"] == pytest.approx(np.mean(figures["identity_per_face"]))


def _lines(capsys):
    import json
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_speed_benchmarks_run_against_the_current_code(capsys):
    """The throughput benchmarks call the search and the train step directly, so a change of
    their signatures breaks them silently (bench_complete.py did once): run each at batch 2
    for one repetition. Each figure must be a rate that agrees with its own timing."""
    import bench_complete
    import bench_train
    bench_complete.main(["--precision", "float32", "--batch_size", "2", "--repetitions", "1",
                         "--warmup", "0", "--chunk", "2"])
    bench_train.main(["--precision", "float32", "--batch_size", "2", "--repetitions", "1",
                      "--warmup", "0", "--image_size", "16", "--gf_dim", "8", "--df_dim", "8"])
    lines = {line["bench"]: line for line in _lines(capsys)}
    z = lines["complete_iteration"]
    assert z["image_iterations_per_s"] == pytest.approx(2 / z["seconds_per_iteration"])
    assert z["seconds_per_iteration"] == pytest.approx(z["median_s"] / 2)
    assert lines["complete_feature_iteration"]["image_iterations_per_s"] > 0
    train = lines["train_step"]
    assert train["images_per_s"] == pytest.approx(2 / train["median_s"])
    assert train["gflop_per_step"] > 0


def test_projection_bound_fits_the_whole_face(tiny_faces, trained_run, capsys):
    """bench/projection_bound.py: Adam on z against the whole true face brings G(z) closer
    to it (PSNR of the blended fill up from the start), one JSON line per report; a bad
    --report is a usage error."""
    import json

    import projection_bound

    assert projection_bound.main([str(tiny_faces), "--limit", "6", "--checkpointDir",
                                  str(trained_run / "checkpoint"), "--iterations", "40",
                                  "--lr", "0.05", "--report", "0,40"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{")]
    assert [line["iterations"] for line in lines] == [0, 40]
    assert all(line["faces"] == 6 and line["start"] == "noise" for line in lines)
    assert lines[1]["psnr_whole"] > lines[0]["psnr_whole"]
    assert all(0 <= line["identity"] < 2 and 0 <= line["identity_of_g_whole"] < 2
               for line in lines)
    with pytest.raises(SystemExit) as exit_:
        projection_bound.main([str(tiny_faces), "--checkpointDir",
                               str(trained_run / "checkpoint"), "--report", "0,x"])
    assert exit_.value.code == 2 and "--report" in capsys.readouterr().err
