"""Two `kdnas search` drivers share one study on a real PostgreSQL server and fill its budget once."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from kdnas.study import records as R
from kdnas.study.budget import was_trained

from tests.studykit import write_study

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd  # initdb runs as the current (non-root) user
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: initdb refuses root")
    return [runuser, "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg2")
    if not (PG_BIN / "initdb").is_file():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}")
    if os.geteuid() == 0:
        try:
            import pwd

            pg = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user for initdb")
    base = Path(tempfile.mkdtemp(prefix="kdnas-pg-"))
    if os.geteuid() == 0:
        os.chown(base, pg.pw_uid, pg.pw_gid)
    data, port = base / "data", _free_port()
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                                 f"-p {port} -h 127.0.0.1 -k {base}", "start"]), check=True, capture_output=True)
    try:
        subprocess.run(_as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                     "kdnas"]), check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/kdnas"
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_two_drivers_fill_the_budget_together(tmp_path, teacher_ckpt, postgres_url):
    budget = 8
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       proxy={"method": "kd", "steps": 60, "batch_size": 64, "optimizer": "sgd", "lr": 0.05},
                       sampler={"name": "random"}, budget={"trials": budget}, storage=postgres_url,
                       storage_heartbeat_s=2)
    procs = []
    for i in range(2):  # local executor: each driver runs one trial at a time, both at once
        env = {**os.environ, "KDNAS_RUNS": str(tmp_path / f"runs{i}")}
        cmd = [sys.executable, "-m", "kdnas.cli", "search", str(path), "--no-progress",
               "--reports", str(tmp_path / f"reports{i}")]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="tiny-study", storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state for t in trials)
    assert sum(was_trained(t) for t in trials) == budget  # filled once: nothing lost, nothing counted twice
    assert states[TrialState.RUNNING] == 0 and states[TrialState.FAIL] == 0
    pids = Counter(t.user_attrs[R.WHERE]["pid"] for t in trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK)
    assert len(pids) == 2  # both drivers evaluated trials
    numbers = [t.number for t in trials]
    assert numbers == sorted(set(numbers))  # every trial recorded once
