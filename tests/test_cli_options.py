"""Options every command shares, and the distillation knobs of `kdnas distill`."""

from __future__ import annotations

from pathlib import Path

from kdnas import __version__
from kdnas.cli import _distill_recipe, build_parser
from tests.test_cli import assert_user_error, kdnas

DISTILL = ["distill", "--teacher", "resnet20", "--student", "resnet8", "--data", "digits"]


def test_version(tmp_path: Path) -> None:
    proc = kdnas("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"kdnas {__version__}"


def test_hinton_mnist_setting() -> None:
    """T=20 and no augmentation for the student (Hinton et al. 2015), KD weight chosen."""
    recipe = _distill_recipe(build_parser().parse_args([*DISTILL, "--temperature", "20", "--alpha", "0.7",
                                                        "--no-augment", "-q"]))
    assert recipe.distill.temperature == 20 and recipe.distill.alpha == 0.7 and recipe.augment is False


def test_loss_choices_turn_on_their_terms() -> None:
    def terms(loss: str):  # noqa: ANN202
        return _distill_recipe(build_parser().parse_args([*DISTILL, "--loss", loss])).distill

    assert terms("dkd").dkd_weight > 0 and terms("dkd").alpha == 0
    assert terms("rkd").rkd_distance > 0 and terms("rkd").rkd_angle > 0
    assert terms("hint").hint_weight > 0
    kd = terms("kd")
    assert kd.alpha > 0 and kd.dkd_weight == kd.rkd_distance == kd.hint_weight == 0


def test_recipe_file_under_the_options(tmp_path: Path) -> None:
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text("epochs: 3\nlr: 0.2\ndistill: {temperature: 8.0, alpha: 0.5}\n")
    recipe = _distill_recipe(build_parser().parse_args([*DISTILL, "--recipe", str(recipe_file), "--alpha", "0.6"]))
    assert (recipe.epochs, recipe.lr, recipe.distill.temperature, recipe.distill.alpha) == (3, 0.2, 8.0, 0.6)


def test_bad_recipe_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("epochs: 3\nwarp: 9\n")
    assert_user_error(kdnas(*DISTILL, "--recipe", "r.yaml", cwd=tmp_path), "r.yaml", "warp")


def test_runs_and_reports_folders_are_options(tmp_path: Path) -> None:
    assert_user_error(kdnas("ls", "--runs", "elsewhere", cwd=tmp_path), "elsewhere/kdnas.db")
    assert_user_error(kdnas("ls", cwd=tmp_path, env={"KDNAS_RUNS": "there"}), "there/kdnas.db")
    assert not (tmp_path / "elsewhere").exists()  # listing creates nothing


def test_quiet_silences_notes_but_not_warnings(capsys) -> None:  # noqa: ANN001 - pytest's fixture
    from kdnas.log import note, set_verbosity, warn

    try:
        set_verbosity(quiet=True, verbose=0)
        note("a note")
        warn("a warning")
        assert capsys.readouterr().err == "a warning\n"
        set_verbosity(quiet=False, verbose=0)
        note("a note")
        assert capsys.readouterr().err == "a note\n"
    finally:
        set_verbosity(quiet=False, verbose=0)
