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
