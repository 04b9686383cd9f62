"""The GPU check's pieces that need no GPU: the absurd student, the verdicts, the sampler off CUDA."""

from __future__ import annotations

from kdnas.arch import Arch

from benchmarks.gpu_students import GpuSampler, huge
from benchmarks.gpu_summary import markdown, verdicts

ARCH = "stem_c8-ir_s1_k3_e1_c8_d1-skip-ir_s2_k3_e3_c24_d1-skip-ir_s2_k3_e3_c48_d1-skip-head_c0"


def test_the_absurd_student_keeps_the_stages_and_widens_every_one():
    big, small = Arch.from_str(huge(ARCH, 512)), Arch.from_str(ARCH)
    assert len(big.stages) == len(small.stages)  # the space's hint alignment still holds
    assert all(big.out_width(i) == 512 for i in range(len(big.stages)) if small.stages[i].op != "skip")


def _run(w: int, tph: float, util: float | None) -> dict:
    return {"workers_per_device": w, "trials": 8, "ok": 8, "wall_s": 1.0, "trials_per_hour": tph,
            "speedup": tph / 100, "gpu_util_mean": util, "gpu_idle_share": None, "gpu_mem_peak_mib": None,
            "train_s_mean": 1.0}


def test_verdicts_read_the_targets_and_the_parts():
    steps = [{"name": "a-search", "rc": 0, "wall_s": 1.0}]
    students = {"runs": [_run(1, 100, 30.0), _run(4, 320, 75.0)], "oom": {"passed": True}}
    v = verdicts(steps, students, {"onnx_max_abs_diff": 2e-6}, "cuda")
    assert v["steps_ok"] and v["oom_passed"] and v["retrain_parity_ok"]
    assert v["speedup_target_met"] and v["util_target_met"]
    slow = verdicts([{**steps[0], "rc": 1}], {"runs": [_run(1, 100, 30.0), _run(4, 250, 60.0)], "oom": {"passed": False}},
                    {"onnx_max_abs_diff": 1e-3}, "cuda")
    assert not (slow["steps_ok"] or slow["oom_passed"] or slow["retrain_parity_ok"])
    assert not (slow["speedup_target_met"] or slow["util_target_met"])
    cpu = verdicts(steps, {"runs": [_run(1, 100, None)], "oom": {"passed": None, "skipped": "no cap"}}, {}, "cpu")
    assert cpu["util_target_met"] is None and cpu["oom_passed"] is None and not cpu["retrain_parity_ok"]


def test_a_cpu_summary_says_it_is_a_rehearsal():
    fig = {"command": "bash benchmarks/gpu_check.sh --device cpu OUTDIR", "wall_s": 1, "device": "cpu",
           "machine": {"gpu": None, "torch": "x", "cuda": None, "cpu": "y", "date": "d"},
           "steps": [], "search": {}, "students": {"runs": [_run(1, 100, None)], "oom": {"skipped": "no cap"}},
           "retrain": {}}
    fig["verdicts"] = verdicts([], fig["students"], {}, "cpu")
    assert "CPU REHEARSAL" in markdown(fig).splitlines()[0]


def test_the_sampler_records_nothing_without_nvidia_smi(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with GpuSampler() as gpu:
        pass
    assert gpu.summary() == {"gpu_util_mean": None, "gpu_idle_share": None, "gpu_mem_peak_mib": None, "samples": 0}
