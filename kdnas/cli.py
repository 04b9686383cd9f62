"""The `kdnas` command: thin subcommands, each one library call.

User errors (config, data, checkpoint, arguments) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kdnas.errors import UserError

EXIT_USER_ERROR = 2


def _cmd_search(args: argparse.Namespace) -> int:
    from kdnas.report import counts_line, format_front, write_tables
    from kdnas.report.score import AXES
    from kdnas.study.search import search
    from kdnas.study.storage import load_existing

    overrides = {}
    if args.trials is not None:
        overrides["budget"] = {"trials": args.trials}
    if args.storage is not None:
        overrides["storage"] = args.storage
    executor = {k: v for k, v in {
        "kind": args.executor, "ray_address": args.ray_address, "gpus_per_trial": args.gpus_per_trial,
        "cpus_per_trial": args.cpus_per_trial, "max_concurrent": args.max_concurrent,
        "cancel_running_on_interrupt": True if args.cancel_on_interrupt else None,
    }.items() if v is not None}
    if args.ray_address is not None and args.executor is None:
        executor["kind"] = "ray"  # an address only means something to the Ray executor
    if executor:
        overrides["executor"] = executor
    setup, summary = search(Path(args.study), overrides or None, progress=not args.no_progress)
    study = load_existing(setup.cfg.storage_url, setup.cfg.name)
    files = write_tables(study, Path(args.reports))
    print(f"study {summary.study_name}: {counts_line(files.trials)} (stopped by {summary.stopped_by}; "
          f"{summary.evaluated_now} evaluated now)")
    if summary.recovered:
        print(f"re-queued {len(summary.recovered)} trial(s) interrupted earlier: {list(summary.recovered)}")
    print(format_front(files.front, setup.teacher_info, AXES[setup.cfg.proxy.score]))
    print(f"front: {files.pareto_csv}  trials: {files.trials_csv}")
    if summary.stopped_by == "interrupted":
        print(f"kdnas: interrupted; the study is consistent ({summary.complete} of {setup.cfg.budget.trials} "
              "trials complete). Run the same command again to continue the study", file=sys.stderr)
        return 130
    return 0


def _study_ref(ref: str, storage: str | None) -> tuple[str, str]:
    """A study given by name or by its YAML file -> (storage URL, study name)."""
    from kdnas.study.config import load_study_config

    if ref.endswith((".yaml", ".yml")):
        cfg = load_study_config(Path(ref))
        return storage or cfg.storage_url, cfg.name
    from kdnas.paths import runs_dir

    return storage or f"sqlite:///{runs_dir() / 'kdnas.db'}", ref


def _cmd_report(args: argparse.Namespace) -> int:
    from kdnas.report import build_report, counts_line, format_front
    from kdnas.study.storage import load_existing

    refs = [_study_ref(ref, args.storage) for ref in args.study]
    report = build_report([load_existing(url, name) for url, name in refs], Path(args.reports), name=args.out,
                          source=", ".join(sorted({url for url, _ in refs})))
    for v in report.views:
        print(f"study {v.name}: {counts_line(v.trials)}")
        print(format_front(v.front, v.teacher, v.axis) if len(v.front) else "no feasible trained trial yet: the front is empty")
    print(f"report: {report.index_html}  (also pareto.png, pareto.csv, trials.csv, summary.md in {report.folder})")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    from kdnas.paths import runs_dir
    from kdnas.report.terminal import format_ls, list_studies

    url = args.storage or f"sqlite:///{runs_dir() / 'kdnas.db'}"
    print(format_ls(list_studies(url), url))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from kdnas.report.terminal import format_show
    from kdnas.report.view import load_view
    from kdnas.study.storage import load_existing

    print(format_show(load_view(load_existing(*_study_ref(args.study, args.storage)))))
    return 0


def _cmd_space_show(args: argparse.Namespace) -> int:
    from kdnas.space import bind_space, open_space

    space = open_space(Path(args.file))
    if space.kind == "nni":
        space = bind_space(space, *_parse_shape(args.input)[:1], args.num_classes)
        print(f"NNI space {space.name} ({space.spec.factory}): {space.spec.description}".rstrip(": "))
        for line in space.summary():
            print(f"  {line}")
        size = space.size()
        print(f"  samples: {'continuous' if size is None else f'{size:,}'} (before NNI constraints)")
        return 0
    print(f"space {space.name}: {space.description}".rstrip(": "))
    print(f"  stem widths: {space.stem}   head widths: {space.head}")
    for i, s in enumerate(space.stages):
        print(f"  stage {i}: stride {s.stride}  op {s.op}  kernel {s.kernel}  expand {s.expand}  "
              f"width {s.width}  depth {s.depth}  -> {len(s.distinct())} distinct")
    print(f"  distinct architectures: {space.size():,}")
    print(f"  smallest: {space.smallest()}")
    return 0


def _parse_shape(text: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--input must be C,H,W (e.g. 3,32,32), got '{text}'") from None
    return c, h, w


def _cmd_profile(args: argparse.Namespace) -> int:
    from kdnas.cost import LatencySpec, count_macs_params, measure_latency
    from kdnas.profile import model_for

    shape = _parse_shape(args.input)
    model, label = model_for(args.model, shape, args.num_classes)
    macs, params = count_macs_params(model, shape)
    spec = LatencySpec(device=args.device, batch_size=args.batch_size, threads=args.threads,
                       warmup=args.warmup, repeats=args.repeats)
    lat = measure_latency(model, shape, spec)
    print(f"{label}\n  input {shape}, {args.num_classes} classes\n  MACs   {macs:,} ({macs / 1e6:.2f} M)\n"
          f"  params {params:,} ({params / 1e6:.3f} M)\n  latency {lat.median_ms:.3f} ms median, "
          f"{lat.p90_ms:.3f} ms p90 (device {lat.device}, batch {lat.batch_size}, threads {lat.threads}, "
          f"{lat.repeats} repeats after {lat.warmup} warm-up)")
    return 0


def _cmd_teacher_train(args: argparse.Namespace) -> int:
    from kdnas.data import load_data
    from kdnas.study.config import load_study_config
    from kdnas.study.teacher import checkpoint_path, train_teacher

    cfg = load_study_config(Path(args.study))
    if args.epochs is not None:
        cfg = cfg.model_copy(update={"teacher_training": cfg.teacher_training.model_copy(update={"epochs": args.epochs})})
    data = load_data(cfg.data)
    out = Path(args.out) if args.out else checkpoint_path(cfg, data)
    meta = train_teacher(cfg, data, out, device=args.device)
    print(f"teacher {meta['arch']} on {meta['data']}: val_acc {meta['val_acc']:.4f}, saved {out} (sha256 {meta['sha256'][:12]})")
    return 0


def _cmd_teacher_list(args: argparse.Namespace) -> int:
    from kdnas.teachers import list_models

    print("\n".join(list_models()))
    return 0


def _print_runs(outcome) -> None:
    for trial, r in outcome.runs:
        resumed = f", resumed at epoch {r.resumed_from}" if r.resumed_from else ""
        print(f"trial {trial} [{r.kind}, seed {r.seed}]: test {r.test_acc:.4f}  val {r.val_acc:.4f}  "
              f"({r.epochs} epochs{resumed})  {r.folder}")
    a = outcome.agreement
    print(f"proxy vs final test accuracy over {a.n} retrained trial(s): Kendall tau {a.kendall_tau:.3f}, "
          f"Spearman rho {a.spearman_rho:.3f}")
    for folder in outcome.exported:
        print(f"exported: {folder}/model.onnx, model.ts, model_card.md")


def _cmd_retrain(args: argparse.Namespace) -> int:
    from kdnas.retrain.study import retrain_study

    outcome = retrain_study(Path(args.study), trials=args.trial, front=args.front, top=args.top, kd=not args.no_kd,
                            epochs=args.epochs, seed=args.seed, device=args.device, export=args.export)
    _print_runs(outcome)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    if args.nni:
        from kdnas.study.export_nni import export_nni_sample

        out, sample = export_nni_sample(Path(args.study), args.trial, Path(args.out) if args.out else None)
        print(f"NNI sample of trial {args.trial} (model_space.freeze(sample) builds it): {out}")
        print(json.dumps(sample, sort_keys=True))
        return 0
    from kdnas.retrain.study import export_trial

    card = export_trial(Path(args.study), args.trial, kd=not args.no_kd, seed=args.seed)
    print(f"exported trial {args.trial}: test {card.get('test_acc_kd') if not args.no_kd else card.get('test_acc_nokd')}, "
          f"{card['macs']:,} MACs, ONNX max |diff| {card['onnx_max_abs_diff']:.2g}, "
          f"latency {card['latency_ms_torch']:.3f} ms torch / {card['latency_ms_onnxruntime']:.3f} ms onnxruntime")
    return 0


def _cmd_distill(args: argparse.Namespace) -> int:
    from kdnas.data import DataSpec
    from kdnas.distill.spec import RetrainRecipe
    from kdnas.retrain.pair import distill_pair
    from kdnas.yamlio import validate

    data = validate(DataSpec, {k: v for k, v in {"name": args.data, "root": args.data_root,
                                                 "max_train": args.max_train}.items() if v is not None}, "--data")
    recipe = validate(RetrainRecipe, {k: v for k, v in {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "threads": args.threads,
    }.items() if v is not None}, "distill options")
    res, folder = distill_pair(args.teacher, args.student, data, recipe, teacher_checkpoint=args.teacher_checkpoint,
                               kd=not args.no_kd, device=args.device, out=args.out, export=args.export)
    print(f"{res.arch} [{res.kind}, seed {res.seed}]: test {res.test_acc:.4f}  val {res.val_acc:.4f}  "
          f"({res.epochs} epochs)  {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(prog="kdnas", description="Distillation-guided neural architecture search.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("search", help="run or continue a study up to its trial budget")
    s.add_argument("study", help="study config, e.g. studies/demo-digits.yaml")
    s.add_argument("--trials", type=int, help="override budget.trials")
    s.add_argument("--storage", help="override the Optuna storage URL")
    s.add_argument("--reports", default="reports", help="folder for reports (default: reports)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--executor", choices=["local", "ray"], help="override executor.kind")
    s.add_argument("--ray-address", help="join this Ray cluster ('auto', HOST:PORT); implies --executor ray")
    s.add_argument("--gpus-per-trial", type=float, help="override executor.gpus_per_trial (fractions pack)")
    s.add_argument("--cpus-per-trial", type=float, help="override executor.cpus_per_trial")
    s.add_argument("--max-concurrent", type=int, help="override executor.max_concurrent")
    s.add_argument("--cancel-on-interrupt", action="store_true",
                   help="Ctrl-C cancels running trials (re-queued) instead of letting them finish")
    s.set_defaults(fn=_cmd_search)

    r = sub.add_parser("report", help="write a study's report page, figure and tables (several: overlaid)")
    r.add_argument("study", nargs="+", help="study name, or its YAML file; several are overlaid on one page")
    r.add_argument("--storage", help="Optuna storage URL (default: sqlite:///runs/kdnas.db)")
    r.add_argument("--reports", default="reports", help="folder for reports (default: reports)")
    r.add_argument("--out", help="report folder name under --reports (default: the study name, or a+b)")
    r.set_defaults(fn=_cmd_report)

    ls = sub.add_parser("ls", help="list the studies in a storage: trials done, failed, running, front size")
    ls.add_argument("--storage", help="Optuna storage URL (default: sqlite:///runs/kdnas.db)")
    ls.set_defaults(fn=_cmd_ls)

    sh = sub.add_parser("show", help="print a study's front and progress (also while it runs)")
    sh.add_argument("study", help="study name, or its YAML file")
    sh.add_argument("--storage", help="Optuna storage URL (default: sqlite:///runs/kdnas.db)")
    sh.set_defaults(fn=_cmd_show)

    sp = sub.add_parser("space", help="search spaces").add_subparsers(dest="space_cmd", required=True)
    show = sp.add_parser("show", help="print a space and how many architectures it holds")
    show.add_argument("file")
    show.add_argument("--input", default="3,32,32", help="NNI spaces: C,H,W the space is built for (default 3,32,32)")
    show.add_argument("--num-classes", type=int, default=10, help="NNI spaces: classes (default 10)")
    show.set_defaults(fn=_cmd_space_show)

    pr = sub.add_parser("profile", help="MACs, params and latency of a zoo model or an architecture string")
    pr.add_argument("model", help="zoo name (resnet20), package.module:function, or an architecture string")
    pr.add_argument("--input", default="3,32,32", help="C,H,W (default 3,32,32)")
    pr.add_argument("--num-classes", type=int, default=10)
    pr.add_argument("--device", default="cpu")
    pr.add_argument("--batch-size", type=int, default=1)
    pr.add_argument("--threads", type=int, default=1)
    pr.add_argument("--warmup", type=int, default=5)
    pr.add_argument("--repeats", type=int, default=30)
    pr.set_defaults(fn=_cmd_profile)

    t = sub.add_parser("teacher", help="teachers").add_subparsers(dest="teacher_cmd", required=True)
    tt = t.add_parser("train", help="train a study's teacher and save a checkpoint with metadata")
    tt.add_argument("study")
    tt.add_argument("--out", help="checkpoint path (default: the study's teacher checkpoint)")
    tt.add_argument("--epochs", type=int)
    tt.add_argument("--device", default="cpu")
    tt.set_defaults(fn=_cmd_teacher_train)
    tl = t.add_parser("list", help="list the teacher zoo")
    tl.set_defaults(fn=_cmd_teacher_list)

    rt = sub.add_parser("retrain", help="train chosen students of a study fully, with or without KD; test, record, export")
    rt.add_argument("study", help="study config (YAML)")
    rt.add_argument("--trial", type=int, action="append", help="trial number (repeatable)")
    rt.add_argument("--front", action="store_true", help="every member of the Pareto front")
    rt.add_argument("--top", type=int, help="the K best trials by proxy accuracy")
    rt.add_argument("--no-kd", action="store_true", help="labels only, same recipe (the distillation baseline)")
    rt.add_argument("--epochs", type=int, help="override retrain.epochs")
    rt.add_argument("--seed", type=int, help="override retrain.seed")
    rt.add_argument("--device", help="cpu, cuda, cuda:N (default: the study's executor.device)")
    rt.add_argument("--export", action="store_true", help="also write TorchScript, ONNX and a model card")
    rt.set_defaults(fn=_cmd_retrain)

    ex = sub.add_parser("export", help="export a retrained trial: TorchScript, ONNX (checked), model card")
    ex.add_argument("study", help="study config (YAML)")
    ex.add_argument("--trial", type=int, required=True)
    ex.add_argument("--no-kd", action="store_true", help="export the labels-only run")
    ex.add_argument("--seed", type=int, help="which seed's run (default: retrain.seed)")
    ex.add_argument("--nni", action="store_true",
                    help="NNI-space studies: write the trial's sample dict (what the space's freeze accepts) as JSON")
    ex.add_argument("--out", help="--nni: the JSON file (default reports/<study>/nni-sample-trial<N>.json)")
    ex.set_defaults(fn=_cmd_export)

    di = sub.add_parser("distill", help="distil any teacher into any student, outside a study (the retrain trainer)")
    di.add_argument("--teacher", required=True, help="zoo name or package.module:function")
    di.add_argument("--student", required=True, help="zoo name, package.module:function, or an architecture string")
    di.add_argument("--teacher-checkpoint", type=Path, help="the teacher's weights")
    di.add_argument("--data", required=True, help="digits, mnist, fashion_mnist, cifar10, cifar100, image_folder")
    di.add_argument("--data-root", type=Path)
    di.add_argument("--max-train", type=int, help="subsample the training split")
    di.add_argument("--epochs", type=int)
    di.add_argument("--batch-size", type=int)
    di.add_argument("--lr", type=float)
    di.add_argument("--seed", type=int)
    di.add_argument("--threads", type=int)
    di.add_argument("--no-kd", action="store_true", help="labels only")
    di.add_argument("--device", default="cpu")
    di.add_argument("--out", type=Path, help="run folder (default: runs/distill/<teacher>--<student>/<kd|nokd>-s<seed>)")
    di.add_argument("--export", action="store_true", help="also write TorchScript, ONNX and a model card")
    di.set_defaults(fn=_cmd_distill)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except UserError as err:
        print(f"kdnas: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("kdnas: interrupted; run the same command again to continue the study", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
