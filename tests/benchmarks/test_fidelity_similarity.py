"""`python -m benchmarks.fidelity --similarity ...`: every similarity variant is one row beside the
zero-cost baselines, no short KD run is trained when none is asked, a row scores its students as a
study with that proxy would, and a second run measures nothing again."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from benchmarks import fidelity_similarity as simrows
from benchmarks.fidelity import main
from kdnas.distill import TeacherOutputs
from kdnas.distill.probe import Probe, run_similarity
from kdnas.distill.spec import ProxySpec
from kdnas.errors import UserError
from kdnas.execute.task import ProxyContext, hint_pairs
from kdnas.space import build_student
from kdnas.teachers import FeatureTaps
from tests.benchmarks.test_fidelity_bench import ARGS
from tests.distill.conftest import TINY, blobs

SIM = ["--short-steps", "none", "--no-stitch", "--similarity", "cka,rsa,diswot", "--similarity-stages",
       "all,last,logits,gradcam,batches4", "--similarity-steps", "0,4", "--probe-size", "48,24"]


def _args() -> list[str]:
    """The fidelity test's flags, trimmed for speed: the ground truth only needs to differ across the panel."""
    args = list(ARGS)
    for flag, value in (("--panel", "4"), ("--teacher-epochs", "2"), ("--gt-epochs", "2"), ("--block-steps", "5"),
                        ("--block-samples", "32"), ("--teacher-train", "400")):
        args[args.index(flag) + 1] = value
    i = args.index("--short-steps")
    del args[i:i + 2]
    return [*args, *SIM]


def test_similarity_variants_are_rows_and_short_runs_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))
    out = tmp_path / "out"
    with pytest.raises(UserError, match="--no-gt-training: 4 ground-truth runs"):  # none trained yet
        main([*_args(), "--no-gt-training", "--out-dir", str(out)])
    assert not (tmp_path / "runs" / "cache" / "fidelity").is_dir() or not any(
        "acc" in json.loads(f.read_text()) for f in (tmp_path / "runs" / "cache" / "fidelity").glob("*.json"))
    assert main([*_args(), "--out-dir", str(out)]) == 0
    r = json.loads((out / "fidelity-digits.json").read_text())
    stems = ["cka-all", "cka-last", "cka-logits", "rsa-all", "rsa-last", "rsa-logits", "diswot-last", "diswot-logits"]
    sims = {f"sim-{s}@{k}-p{p}" for s in stems for k in (0, 4) for p in (48, 24)}  # diswot's all is its last
    extra = {f"sim-diswot-{s}@0-p{p}" for s in ("gradcam", "batches4") for p in (48, 24)}  # DisWOT's, at K = 0 only
    assert {k for k in r["proxies"] if k.startswith("sim-")} == sims | extra
    # the zero-cost ensemble of each DisWOT row at K = 0 and the parameter count, named as one
    ens = {f"ens-rank({n}+params)" for n in sims | extra if n.startswith("sim-diswot-") and "@0-" in n}
    assert {k for k in r["proxies"] if k.startswith("ens-")} == ens
    assert "zero-cost ensemble (rank average of DisWOT and params" in (out / "fidelity-digits.md").read_text()
    assert not any(k.startswith("kd@") or k.startswith("blockwise_stitched") for k in r["proxies"])
    assert r["runs_now"]["short_total"] == 0 and r["runs_now"]["similarity"] == 4 * len(r["panel"])
    for p in r["panel"]:
        assert p["sim-cka-all@0-p48"]["score"] != p["sim-cka-last@0-p48"]["score"] and 0 < p["sim-cka-all@0-p48"]["score"] <= 1
        assert p["sim-diswot-logits@0-p48"]["score"] < 0
        # Grad-CAM's class relation and 4 batches of 12 are other measurements than the logits' on 48
        assert len({p[f"sim-diswot-{s}@0-p48"]["score"] for s in ("last", "gradcam", "batches4")}) == 3
        assert p["sim-diswot-gradcam@0-p48"]["seconds"] > 0 and p["sim-diswot-batches4@0-p48"]["seconds"] > 0
        assert p["ens-rank(sim-diswot-last@0-p48+params)"]["seconds"] == p["sim-diswot-last@0-p48"]["seconds"]
        assert p["sim-rsa-logits@4-p48"]["student_epochs"] == pytest.approx(4 * 64 / 400)
        # K steps cost their training on top of the measurement
        assert p["sim-cka-all@4-p48"]["seconds"] > p["sim-cka-all@0-p48"]["seconds"] > 0
        assert p["sim-cka-all@4-p48"]["score"] != p["sim-cka-all@0-p48"]["score"]
        assert p["sim-cka-all@0-p24"]["score"] != p["sim-cka-all@0-p48"]["score"]  # another probe
    for name in sims | extra | ens:  # an ensemble's two ranks may tie on every member of a panel of 4: no tau
        tau = r["proxies"][name]["tau"]
        assert (-1 <= tau <= 1 or (name in ens and tau != tau)) and r["proxies"][name]["fraction_of_gt"] > 0
    md = (out / "fidelity-digits.md").read_text()
    assert "similarity tau >= 0.5 at <= 0.1% of GT cost" in md or "no variant that cheap" in md
    assert "short KD tau" not in md and "- short KD:" not in md
    # the row's study proxy, as the report states it, scores a panel member as the row does
    said = re.search(r"row `sim-M-S@K-pP` by `proxy: (\{[^`]*\})`", md).group(1)
    said = said.replace("measure: M", "measure: rsa").replace("steps: K", "steps: 4").replace("stages: S", "stages: last")
    said = said.replace("probe_size: P", "probe_size: 48")
    spec = ProxySpec.model_validate(yaml.safe_load(said))
    assert spec.similarity.probe_size == 48 and spec.optimizer == "sgd"

    # a second run with the same flags measures nothing again and reads the same scores
    assert main([*_args(), "--no-gt-training", "--out-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "fidelity-digits.json").read_text())
    assert again["runs_now"]["similarity"] == 0
    assert [p["sim-rsa-last@4-p24"]["score"] for p in again["panel"]] == [p["sim-rsa-last@4-p24"]["score"] for p in r["panel"]]


def test_a_row_scores_a_student_as_the_study_proxy_does() -> None:
    """One student trained once and measured under every variant gives what `run_similarity` gives
    for each variant's own study spec (same seed): the rows are the proxy, not a copy of it."""
    x, y = blobs(96, seed=0)
    torch.manual_seed(5)
    teacher = build_student(TINY, 1, 2)
    probe = _probe(teacher, x[:32])
    outputs = TeacherOutputs(torch.stack([-(2.0 * y - 1.0), 2.0 * y - 1.0], 1) * 4.0, {}, key="fake")
    base = simrows.base_spec("adamw", 3e-3, 1)
    ctx = ProxyContext(x_train=x, y_train=y, x_val=x, y_val=y, teacher=outputs, spec=base, in_channels=1,
                       num_classes=2, alignment=((0, 0), (1, 1)), teacher_channels=(4, 8), probe=probe)
    asked = simrows.variants(["cka", "rsa", "diswot"], ["all", "last", "logits"], [0, 3], [32])
    for k in (0, 3):
        rec = simrows.score_student(TINY, k, asked, ctx, base, seed=7)
        for v in (v for v in asked if v.steps == k):
            torch.manual_seed(7)
            alone = run_similarity(build_student(TINY, 1, 2), x, y, outputs, simrows.proxy_spec(v, base), probe,
                                   hint_pairs(TINY, ctx), seed=7)
            assert rec[v.stem]["score"] == pytest.approx(alone.score, abs=1e-9), v.name
        assert (rec["train_s"] > 0) == (k > 0)


def _probe(net: torch.nn.Module, x: torch.Tensor) -> Probe:
    net.train()
    with torch.no_grad(), FeatureTaps(net, ["stages.0", "stages.1"]) as taps:
        logits = net(x)
    return Probe(tuple(range(len(x))), x, logits, dict(enumerate(taps.features)))
