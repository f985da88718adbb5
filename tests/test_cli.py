import json

from skmatgp.cli import main


def test_cv_command_prints_mae_and_coverage(tmp_path, capsys):
    out = tmp_path / "cv.json"
    code = main(["cv", "--folds", "2", "--epochs", "2", "--max-samples", "60", "--output", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "de Jong" in printed and "MAE" in printed and "95% coverage" in printed
    result = json.loads(out.read_text())
    assert len(result["folds"]) == 2 and 0 <= result["mean"]["coverage95"] <= 1


def test_cv_command_reports_a_missing_dataset(tmp_path, capsys):
    code = main(["cv", "--dataset", "mp_2020", "--data-home", str(tmp_path)])
    assert code == 2
    assert "SKMATGP_DATA" in capsys.readouterr().err


def test_help_of_every_command_prints(capsys):
    """argparse formats help text with %: a bare "95%" once crashed `skmatgp --help`."""
    import pytest

    from skmatgp.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for args in (["--help"], *[[name, "--help"] for name in commands]):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 0
    printed = " ".join(capsys.readouterr().out.split())  # help text is wrapped
    assert "MAE and 95% coverage" in printed
