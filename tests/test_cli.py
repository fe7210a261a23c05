"""The `recsys` command as a user first meets it: quiet, fast help, every flag explained."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLE_SHOP, NOISE
from pipelines.cli import COMMANDS, build_parser, main

RECSYS = Path(sys.executable).with_name("recsys")
def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(RECSYS), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.slow
@pytest.mark.parametrize("args", [("--help",), ("train", "--help"), ("data", "validate", str(EXAMPLE_SHOP))])
def test_help_and_validate_print_no_tensorflow_lines(args):
    proc = run(*args)
    assert proc.returncode == 0 and proc.stdout, proc.stderr
    assert not NOISE.search(proc.stderr), proc.stderr


@pytest.mark.slow
def test_parsing_any_command_does_not_load_tensorflow():
    script = ("import sys; from pipelines.cli import COMMANDS, build_parser\n"
              "for command in ['data', *COMMANDS]:\n"
              "    build_parser(command)\n"
              "    print(command, sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [word for command in ["data", *COMMANDS] for word in (command, "[]")]


def test_validate_does_not_load_tensorflow():
    script = ("import sys; from pipelines.cli import main; assert main(['data', 'validate', sys.argv[1]]) == 0; "
              "print('tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", script, str(EXAMPLE_SHOP)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_every_option_has_help_text():
    missing = []
    for command in ["data", *COMMANDS]:
        def walk(parser, name):
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for sub_name, sub in action.choices.items():
                        walk(sub, f"{name} {sub_name}")
                elif not action.help:
                    missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
        walk(build_parser(command), "recsys")
    assert not missing


@pytest.mark.slow
def test_help_shows_defaults():
    proc = run("batch-recommend", "--help")
    text = " ".join(proc.stdout.split())
    assert "items per user (default 20)" in text and "(default 1024)" in text


@pytest.mark.slow
def test_tensorflow_lines_stay_hidden_while_working_and_come_back_with_verbose(tmp_path):
    args = ("embed", str(EXAMPLE_SHOP), "--encoder", "compact_cnn", "--image-size", "32",
            "--store", str(tmp_path / "store"))
    quiet = run(*args, cwd=tmp_path)
    assert quiet.returncode == 0 and "embedded 36" in quiet.stdout, quiet.stderr
    assert not NOISE.search(quiet.stderr), quiet.stderr
    verbose = run("--verbose", *args, cwd=tmp_path)
    assert verbose.returncode == 0 and "reused 36" in verbose.stdout
    assert NOISE.search(verbose.stderr), verbose.stderr


def test_a_bug_keeps_its_traceback(monkeypatch):
    import pipelines.validate

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pipelines.validate, "run", broken)
    with pytest.raises(ZeroDivisionError):
        main(["data", "validate", str(EXAMPLE_SHOP)])


def test_an_alias_without_a_registered_name_is_one_line_before_any_work(tmp_path, capsys):
    assert main(["train", str(EXAMPLE_SHOP), "--out", str(tmp_path / "m"), "--alias", "champion"]) == 2
    err = capsys.readouterr().err
    assert "--alias needs --register NAME" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()
