"""The `kdnas` command: thin subcommands, each one library call.

User errors (config, data, checkpoint, arguments) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kdnas import __version__
from kdnas.device import DEVICE_HELP
from kdnas.errors import UserError
from kdnas.paths import reports_dir

EXIT_USER_ERROR = 2


def _cmd_search(args: argparse.Namespace) -> int:
    from kdnas.report import counts_line, format_front, write_tables
    from kdnas.report.score import AXES
    from kdnas.study.ref import resolve_study
    from kdnas.study.search import search
    from kdnas.study.storage import load_existing

    overrides = {}
    if args.trials is not None:
        overrides["budget"] = {"trials": args.trials}
    if args.device is not None:
        overrides["device"] = args.device
    executor = {k: v for k, v in {
        "kind": args.executor, "ray_address": args.ray_address, "gpus_per_trial": args.gpus_per_trial,
        "cpus_per_trial": args.cpus_per_trial, "max_concurrent": args.max_concurrent,
        "workers_per_device": args.workers_per_device,
        "cancel_running_on_interrupt": True if args.cancel_on_interrupt else None,
    }.items() if v is not None}
    if args.ray_address is not None and args.executor is None:
        executor["kind"] = "ray"  # an address only means something to the Ray executor
    if executor:
        overrides["executor"] = executor
    cfg = resolve_study(args.study, args.storage, allow_shipped=True)
    setup, summary = search(cfg, overrides or None, progress=not (args.no_progress or args.quiet))
    study = load_existing(setup.cfg.storage_url, setup.cfg.name)
    files = write_tables(study, reports_dir())
    print(f"study {summary.study_name}: {counts_line(files.trials)} (stopped by {summary.stopped_by}; "
          f"{summary.evaluated_now} evaluated now)")
    if summary.recovered:
        print(f"re-queued {len(summary.recovered)} trial(s) interrupted earlier: {list(summary.recovered)}")
    print(format_front(files.front, setup.teacher_info, AXES[setup.cfg.proxy.ranked_by]))
    print(f"front: {files.pareto_csv}  trials: {files.trials_csv}")
    if summary.stop_line:  # a repeated failure (the trials stay recorded) or a space with nothing new left
        print(f"kdnas: search stopped: {summary.stop_line}", file=sys.stderr)
    if summary.stopped_by == "interrupted":
        print(f"kdnas: interrupted; the study is consistent ({summary.trained} of {setup.cfg.budget.trials} "
              "students trained). Run the same command again to continue the study", file=sys.stderr)
        return 130
    return 1 if summary.stopped_by == "failures" else 0


def _study_ref(ref: str, storage: str | None) -> tuple[str, str]:
    """A study given by name or by its YAML file -> (storage URL, study name)."""
    from kdnas.study.ref import locate_study

    return locate_study(ref, storage)


def _cmd_report(args: argparse.Namespace) -> int:
    from kdnas.report import build_report, counts_line, format_front
    from kdnas.study.storage import load_existing

    refs = [_study_ref(ref, args.storage) for ref in args.study]
    report = build_report([load_existing(url, name) for url, name in refs], reports_dir(), name=args.out,
                          source=", ".join(sorted({url for url, _ in refs})))
    for v in report.views:
        print(f"study {v.name}: {counts_line(v.trials)}")
        print(format_front(v.front, v.teacher, v.axis) if len(v.front) else "no feasible trained trial yet: the front is empty")
    print(f"report: {report.index_html}  (also pareto.png, pareto.csv, trials.csv, summary.md in {report.folder})")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    from kdnas.report.terminal import format_ls, list_studies
    from kdnas.study.ref import candidate_storages

    urls = candidate_storages(args.storage)
    if args.storage is None:  # the default storage always; other SQLite files in the runs folder when they hold studies
        urls = urls[:1] + [u for u in urls[1:] if list_studies(u)]
    print("\n\n".join(format_ls(list_studies(url), url) for url in urls))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from kdnas.report.terminal import format_show
    from kdnas.report.view import load_view
    from kdnas.study.storage import load_existing

    print(format_show(load_view(load_existing(*_study_ref(args.study, args.storage)))))
    return 0


def _cmd_space_show(args: argparse.Namespace) -> int:
    from kdnas.catalog import find_space
    from kdnas.space import bind_space, open_space

    space = open_space(find_space(args.space))
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


def _cmd_space_list(args: argparse.Namespace) -> int:
    from kdnas.catalog import shipped_spaces, shipped_studies

    for title, found in (("spaces", shipped_spaces()), ("example studies", shipped_studies())):
        print(f"{title}:")
        for name, path in sorted(found.items()):
            if "/" not in name or name.split("/")[-1] not in found:  # each file once, by its shortest name
                print(f"  {name:<28} {path}")
    return 0


def _parse_shape(text: str) -> tuple[int, int, int]:
    from kdnas.data.spec import parse_shape

    return parse_shape(text, "--input must be C,H,W (e.g. 3,32,32)")


def _cmd_profile(args: argparse.Namespace) -> int:
    from kdnas.cost import LatencySpec, check_latency_device, count_macs_params, measure_latency
    from pydantic import ValidationError

    from kdnas.device import AUTO, parse_device, resolve_device
    from kdnas.profile import model_for

    device = parse_device(args.device)
    device = str(resolve_device(device)) if device == AUTO else device  # a spec names its device
    try:
        spec = LatencySpec(backend=args.backend, device=device, batch_size=args.batch_size,
                           threads=args.threads, warmup=args.warmup, repeats=args.repeats)
    except ValidationError as err:
        raise UserError(f"profile: {err.errors()[0]['loc'][0]}: {err.errors()[0]['msg']}") from None
    check_latency_device(spec)  # an absent device or provider is refused before any model is built
    shape = _parse_shape(args.input)
    model, label = model_for(args.model, shape, args.num_classes)
    macs, params = count_macs_params(model, shape)
    lat = measure_latency(model, shape, spec)
    print(f"{label}\n  input {shape}, {args.num_classes} classes\n  MACs   {macs:,} ({macs / 1e6:.2f} M)\n"
          f"  params {params:,} ({params / 1e6:.3f} M)\n  latency {lat.median_ms:.3f} ms median, "
          f"{lat.p90_ms:.3f} ms p90 ({lat.setting()})")
    return 0


def _cmd_teacher_train(args: argparse.Namespace) -> int:
    from kdnas.data import load_data
    from kdnas.device import resolve_device
    from kdnas.study.ref import resolve_study
    from kdnas.study.teacher import checkpoint_path, train_teacher

    cfg = resolve_study(args.study, args.storage)
    device = str(resolve_device(args.device or cfg.device))
    if args.epochs is not None:
        cfg = cfg.model_copy(update={"teacher_training": cfg.teacher_training.model_copy(update={"epochs": args.epochs})})
    data = load_data(cfg.data)
    out = Path(args.out) if args.out else checkpoint_path(cfg, data)
    meta = train_teacher(cfg, data, out, device=device)
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
    if a.n < 2:  # a rank correlation needs two students
        print(f"proxy vs final test accuracy: {a.n} retrained trial(s); retrain two or more to compare their ranks")
    else:
        print(f"proxy vs final test accuracy over {a.n} retrained trials: Kendall tau {a.kendall_tau:.3f}, "
              f"Spearman rho {a.spearman_rho:.3f}")
    for folder in outcome.exported:
        print(f"exported: {folder}/model.onnx, model.ts, model_card.md")


def _cmd_retrain(args: argparse.Namespace) -> int:
    from kdnas.retrain.study import retrain_study
    from kdnas.study.ref import resolve_study

    outcome = retrain_study(resolve_study(args.study, args.storage), trials=args.trial, front=args.front, top=args.top, kd=not args.no_kd,
                            epochs=args.epochs, seed=args.seed, device=args.device, export=args.export)
    _print_runs(outcome)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from kdnas.study.ref import resolve_study

    cfg = resolve_study(args.study, args.storage)
    if args.nni:
        from kdnas.study.export_nni import export_nni_sample

        out, sample = export_nni_sample(cfg, args.trial, Path(args.out) if args.out else None)
        print(f"NNI sample of trial {args.trial} (model_space.freeze(sample) builds it): {out}")
        print(json.dumps(sample, sort_keys=True))
        return 0
    from kdnas.retrain.study import export_trial

    card = export_trial(cfg, args.trial, kd=not args.no_kd, seed=args.seed)
    print(f"exported trial {args.trial}: test {card.get('test_acc_kd') if not args.no_kd else card.get('test_acc_nokd')}, "
          f"{card['macs']:,} MACs, ONNX max |diff| {card['onnx_max_abs_diff']:.2g}, "
          f"latency {card['latency_ms_torch']:.3f} ms torch / {card['latency_ms_onnxruntime']:.3f} ms onnxruntime")
    return 0


#: `kdnas distill --loss`: the distillation terms each loss turns on (DistillSpec fields), with the
#: weights of the papers that introduced them (RKD: Park et al. 2019, distance 25 and angle 50).
LOSSES = {
    "kd": {},
    "dkd": {"alpha": 0.0, "dkd_weight": 1.0},
    "rkd": {"rkd_distance": 25.0, "rkd_angle": 50.0},
    "hint": {"hint_weight": 1.0},
}


def _distill_recipe(args: argparse.Namespace):  # noqa: ANN202 - RetrainRecipe, imported lazily
    """The recipe of `kdnas distill`: `--recipe FILE` (if any), then the options on top of it."""
    from kdnas.distill.spec import RetrainRecipe
    from kdnas.study.search import merge
    from kdnas.yamlio import read_yaml, validate

    base = read_yaml(args.recipe) if args.recipe else {}
    if not isinstance(base, dict):
        raise UserError(f"{args.recipe}: expected a mapping of recipe fields (see docs/configuration.md, RetrainRecipe)")
    options = {k: v for k, v in {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "threads": args.threads,
        "augment": False if args.no_augment else None,
    }.items() if v is not None}
    terms = dict(LOSSES[args.loss]) if args.loss else {}
    terms.update({k: v for k, v in {"temperature": args.temperature, "alpha": args.alpha}.items() if v is not None})
    if terms:
        options["distill"] = terms
    return validate(RetrainRecipe, merge(base, options), str(args.recipe or "distill options"))


def _cmd_distill(args: argparse.Namespace) -> int:
    from kdnas.data import DataSpec
    from kdnas.retrain.pair import distill_pair
    from kdnas.yamlio import validate

    data = validate(DataSpec, {k: v for k, v in {"name": args.data, "root": args.data_root,
                                                 "max_train": args.max_train}.items() if v is not None}, "--data")
    recipe = _distill_recipe(args)
    res, folder = distill_pair(args.teacher, args.student, data, recipe, teacher_checkpoint=args.teacher_checkpoint,
                               kd=not args.no_kd, device=args.device, out=args.out, export=args.export,
                               verbose=not args.quiet)
    print(f"{res.arch} [{res.kind}, seed {res.seed}]: test {res.test_acc:.4f}  val {res.val_acc:.4f}  "
          f"({res.epochs} epochs)  {folder}")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from kdnas.study.starter import write_starter

    out = write_starter(args.out, data=args.data, data_root=args.data_root, teacher=args.teacher,
                        checkpoint=args.checkpoint, name=args.name, space=args.space, max_macs=args.max_macs,
                        trials=args.trials, force=args.force)
    print(f"wrote {out}: look it over, then run `kdnas search {out}`")
    return 0


STUDY_HELP = "the study: its YAML file, or its name in the storage (kdnas ls lists them)"


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes (also accepted before the subcommand)."""
    c = argparse.ArgumentParser(add_help=False)
    c.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="more detail on standard error: debug notes and Optuna's own log")
    c.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="only results and errors: no progress, no notes")
    c.add_argument("--runs", type=Path, default=argparse.SUPPRESS,
                   help="folder of storages, checkpoints and caches (default: $KDNAS_RUNS or ./runs)")
    c.add_argument("--reports", type=Path, default=argparse.SUPPRESS,
                   help="folder of report pages and tables (default: $KDNAS_REPORTS or ./reports)")
    return c


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    common = _common()
    p = argparse.ArgumentParser(prog="kdnas", parents=[common],
                                description="Distillation-guided neural architecture search: find the best small "
                                "students for a trained teacher. Docs: docs/ in the repository.")
    p.add_argument("--version", action="version", version=f"kdnas {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help: str) -> argparse.ArgumentParser:  # noqa: A002 - argparse's own word
        return sub.add_parser(name, help=help, description=help, parents=[common])

    s = cmd("search", "run or continue a study up to its budget of trained students")
    s.add_argument("study", help="the study's YAML file, its name in the storage, or a shipped example (demo-digits)")
    s.add_argument("--trials", type=int, help="override budget.trials")
    s.add_argument("--storage", help="override the Optuna storage URL")
    s.add_argument("--device", help=f"override the study's device: {DEVICE_HELP} (default: the study's, auto)")
    s.add_argument("--no-progress", action="store_true", help="no progress output")
    s.add_argument("--executor", choices=["local", "ray"], help="override executor.kind")
    s.add_argument("--ray-address", help="join this Ray cluster ('auto', HOST:PORT); implies --executor ray")
    s.add_argument("--gpus-per-trial", type=float, help="override executor.gpus_per_trial (fractions pack)")
    s.add_argument("--cpus-per-trial", type=float, help="override executor.cpus_per_trial")
    s.add_argument("--max-concurrent", type=int, help="override executor.max_concurrent")
    s.add_argument("--workers-per-device", type=int,
                   help="override executor.workers_per_device (local executor: students trained at once per device)")
    s.add_argument("--cancel-on-interrupt", action="store_true",
                   help="Ctrl-C cancels running trials (re-queued) instead of letting them finish")
    s.set_defaults(fn=_cmd_search)

    r = cmd("report", "write a study's report page, figure and tables (several studies: overlaid)")
    r.add_argument("study", nargs="+", help=STUDY_HELP + "; several are overlaid on one page")
    r.add_argument("--storage", help="Optuna storage URL (default: the SQLite files in the runs folder)")
    r.add_argument("--out", help="report folder name under --reports (default: the study name, or a+b)")
    r.set_defaults(fn=_cmd_report)

    ls = cmd("ls", "list the studies in a storage: students trained, infeasible, failed, running, front size")
    ls.add_argument("--storage", help="Optuna storage URL (default: the SQLite files in the runs folder)")
    ls.set_defaults(fn=_cmd_ls)

    sh = cmd("show", "print a study's front and progress (also while it runs)")
    sh.add_argument("study", help=STUDY_HELP)
    sh.add_argument("--storage", help="Optuna storage URL (default: the SQLite files in the runs folder)")
    sh.set_defaults(fn=_cmd_show)

    init = cmd("init", "write a starter study for your data and teacher, with comments on what to change")
    init.add_argument("--data", required=True, help="image_folder, digits, mnist, fashion_mnist, cifar10, cifar100")
    init.add_argument("--data-root", type=Path, help="the data folder (image_folder: one sub-folder per class)")
    init.add_argument("--teacher", required=True, help="zoo name (kdnas teacher list) or package.module:function")
    init.add_argument("--checkpoint", type=Path, help="the teacher's weights (a state dict, or a kdnas checkpoint)")
    init.add_argument("--out", type=Path, default=Path("study.yaml"), help="the study file (default: study.yaml)")
    init.add_argument("--name", help="the study's name (default: the file's stem)")
    init.add_argument("--space", default="mbv2", help="search space: a shipped name or a file (default: mbv2)")
    init.add_argument("--max-macs", default="5M", help="constraint on a student's MACs (default: 5M)")
    init.add_argument("--trials", type=int, default=30, help="students to train (default: 30)")
    init.add_argument("--force", action="store_true", help="overwrite the file if it exists")
    init.set_defaults(fn=_cmd_init)

    sp = cmd("space", "search spaces").add_subparsers(dest="space_cmd", required=True, metavar="SUBCOMMAND")
    show = sp.add_parser("show", help="print a space and how many architectures it holds", parents=[common])
    show.add_argument("space", help="a shipped space's name (mbv2, resnet, mixed, proxyless-cifar) or a space file")
    show.add_argument("--input", default="3,32,32", help="NNI spaces: C,H,W the space is built for (default 3,32,32)")
    show.add_argument("--num-classes", type=int, default=10, help="NNI spaces: classes (default 10)")
    show.set_defaults(fn=_cmd_space_show)
    spl = sp.add_parser("list", help="the search spaces and example studies that ship with kdnas", parents=[common])
    spl.set_defaults(fn=_cmd_space_list)

    pr = cmd("profile", "MACs, params and latency of a zoo model or an architecture string")
    pr.add_argument("model", help="zoo name (resnet20), package.module:function, or an architecture string")
    pr.add_argument("--input", default="3,32,32", help="C,H,W (default 3,32,32)")
    pr.add_argument("--num-classes", type=int, default=10)
    pr.add_argument("--device", default="cpu",
                    help=f"{DEVICE_HELP} (default cpu: a latency is a figure of the machine you deploy to, so "
                    "it is measured where you say, never on a GPU just because one is there)")
    pr.add_argument("--backend", choices=["onnxruntime", "torch"], default="onnxruntime",
                    help="onnxruntime (default): the model exported as `kdnas export` does, timed in ONNX Runtime; "
                    "torch: PyTorch eager")
    pr.add_argument("--batch-size", type=int, default=1)
    pr.add_argument("--threads", type=int, default=1)
    pr.add_argument("--warmup", type=int, default=5)
    pr.add_argument("--repeats", type=int, default=30)
    pr.set_defaults(fn=_cmd_profile)

    t = cmd("teacher", "teachers").add_subparsers(dest="teacher_cmd", required=True, metavar="SUBCOMMAND")
    tt = t.add_parser("train", help="train a study's teacher and save a checkpoint with metadata", parents=[common])
    tt.add_argument("study", help=STUDY_HELP)
    tt.add_argument("--storage", help="where to look the study up by name")
    tt.add_argument("--out", help="checkpoint path (default: the study's teacher checkpoint)")
    tt.add_argument("--epochs", type=int)
    tt.add_argument("--device", help=f"{DEVICE_HELP} (default: the study's device)")
    tt.set_defaults(fn=_cmd_teacher_train)
    tl = t.add_parser("list", help="list the teacher zoo", parents=[common])
    tl.set_defaults(fn=_cmd_teacher_list)

    rt = cmd("retrain", "train chosen students of a study fully, with or without KD; test, record, export")
    rt.add_argument("study", help=STUDY_HELP)
    rt.add_argument("--storage", help="where to look the study up by name")
    rt.add_argument("--trial", type=int, action="append", help="trial number (repeatable)")
    rt.add_argument("--front", action="store_true", help="every member of the Pareto front")
    rt.add_argument("--top", type=int, help="the K best trials by proxy score")
    rt.add_argument("--no-kd", action="store_true", help="labels only, same recipe (the distillation baseline)")
    rt.add_argument("--epochs", type=int, help="override retrain.epochs")
    rt.add_argument("--seed", type=int, help="override retrain.seed")
    rt.add_argument("--device", help=f"{DEVICE_HELP} (default: the study's device); the auto-trained teacher too")
    rt.add_argument("--export", action="store_true", help="also write TorchScript, ONNX and a model card")
    rt.set_defaults(fn=_cmd_retrain)

    ex = cmd("export", "export a retrained trial: TorchScript, ONNX (checked), model card")
    ex.add_argument("study", help=STUDY_HELP)
    ex.add_argument("--storage", help="where to look the study up by name")
    ex.add_argument("--trial", type=int, required=True)
    ex.add_argument("--no-kd", action="store_true", help="export the labels-only run")
    ex.add_argument("--seed", type=int, help="which seed's run (default: retrain.seed)")
    ex.add_argument("--nni", action="store_true",
                    help="NNI-space studies: write the trial's NNI sample as JSON (model_space.freeze(sample))")
    ex.add_argument("--out", help="--nni: the JSON file (default reports/<study>/nni-sample-trial<N>.json)")
    ex.set_defaults(fn=_cmd_export)

    di = cmd("distill", "distil any teacher into any student, outside a study (the retrain trainer)")
    di.add_argument("--teacher", required=True, help="zoo name or package.module:function")
    di.add_argument("--student", required=True, help="zoo name, package.module:function, or an architecture string")
    di.add_argument("--teacher-checkpoint", type=Path, help="the teacher's weights")
    di.add_argument("--data", required=True, help="digits, mnist, fashion_mnist, cifar10, cifar100, image_folder")
    di.add_argument("--data-root", type=Path)
    di.add_argument("--max-train", type=int, help="subsample the training split")
    di.add_argument("--recipe", type=Path, help="a YAML file of recipe fields (RetrainRecipe); the options below override it")
    di.add_argument("--loss", choices=sorted(LOSSES), help="kd: Hinton KD (default); dkd: decoupled KD; "
                    "rkd: KD plus relational KD; hint: KD plus FitNet hints on stage features")
    di.add_argument("--temperature", type=float, help="softmax temperature of the KD term (default 4)")
    di.add_argument("--alpha", type=float, help="weight of the KD term; labels weigh 1 - alpha (default 0.9)")
    di.add_argument("--no-augment", action="store_true", help="no random crops and flips for the student")
    di.add_argument("--epochs", type=int)
    di.add_argument("--batch-size", type=int)
    di.add_argument("--lr", type=float)
    di.add_argument("--seed", type=int)
    di.add_argument("--threads", type=int)
    di.add_argument("--no-kd", action="store_true", help="labels only")
    di.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default auto: CUDA where available)")
    di.add_argument("--out", type=Path, help="run folder (default: runs/distill/<teacher>--<student>/<kd|nokd>-s<seed>)")
    di.add_argument("--export", action="store_true", help="also write TorchScript, ONNX and a model card")
    di.set_defaults(fn=_cmd_distill)
    return p


def _apply_common(args: argparse.Namespace) -> None:
    """Folders and verbosity, set once for the whole command (the environment reaches Ray workers too)."""
    import os

    from kdnas.log import set_verbosity

    if getattr(args, "runs", None) is not None:
        os.environ["KDNAS_RUNS"] = str(args.runs)
    if getattr(args, "reports", None) is not None:
        os.environ["KDNAS_REPORTS"] = str(args.reports)
    args.quiet = getattr(args, "quiet", False)
    verbose = getattr(args, "verbose", 0)
    set_verbosity(args.quiet, verbose)
    if verbose >= 1:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.INFO if verbose == 1 else optuna.logging.DEBUG)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    import os

    parser = build_parser()
    args = parser.parse_args(argv)
    saved = {k: os.environ.get(k) for k in ("KDNAS_RUNS", "KDNAS_REPORTS")}
    _apply_common(args)
    try:
        return int(args.fn(args) or 0)
    except UserError as err:
        print(f"kdnas: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("kdnas: interrupted; run the same command again to continue the study", file=sys.stderr)
        return 130
    finally:  # a program (or test) that calls main() twice gets its own folders back
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


if __name__ == "__main__":
    sys.exit(main())
