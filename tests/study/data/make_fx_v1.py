"""Make fx-v1.db: a schema-1 study (ok, infeasible and duplicate trials) stored by the code of this commit.

Run in an empty folder: python make_fx_v1.py 35000 6 (max_macs, budget.trials)."""
import json, os, shutil, sys
from pathlib import Path
import yaml
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the checkout
os.environ["KDNAS_RUNS"] = str(Path.cwd() / "runs")
from tests.studykit import study_dict
from kdnas.study.config import config_from_dict
from kdnas.data import load_data
from kdnas.study.teacher import train_teacher
from kdnas.study.setup import prepare
from kdnas.study.storage import check_resumable
from kdnas.study.runner import run_search
from kdnas.execute import LocalExecutor

SPACE = {"name": "fx", "stem": [4, 8],
         "stages": [{"stride": 1, "op": ["ir"], "kernel": [3], "expand": [1], "width": [4, 8], "depth": [1]},
                    {"stride": 2, "op": ["ir"], "kernel": [3], "expand": [2], "width": [8, 16], "depth": [1]},
                    {"stride": 2, "op": ["ir"], "kernel": [3], "expand": [2], "width": [16], "depth": [1]}],
         "head": [0]}
Path("fx-space.yaml").write_text(yaml.safe_dump(SPACE))
d = study_dict(Path.cwd())
d.update(name="fx-v1", space="fx-space.yaml", teacher={"name": "resnet20", "checkpoint": "teacher.pt"},
         storage="sqlite:///fx-v1.db", proxy={"method": "kd", "steps": 5, "batch_size": 32, "optimizer": "sgd", "lr": 0.05},
         constraints={"max_macs": int(sys.argv[1])}, budget={"trials": int(sys.argv[2])},
         sampler={"name": "tpe", "n_startup_trials": 3})
Path("fx-v1.yaml").write_text(yaml.safe_dump(d))
cfg = config_from_dict(d)
if not Path("teacher.pt").exists():
    train_teacher(cfg, load_data(cfg.data), Path("teacher.pt"), verbose=False)
check_resumable(cfg)
s = run_search(prepare(cfg, verbose=False), LocalExecutor(), progress=False)
print(s)
import optuna
st = optuna.load_study(study_name="fx-v1", storage="sqlite:///fx-v1.db")
for t in st.trials:
    print(t.number, t.state.name, t.values, t.user_attrs.get("status"), t.user_attrs.get("macs"), t.user_attrs.get("arch"))
