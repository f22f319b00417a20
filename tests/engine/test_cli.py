from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.vocab import Vocab

from .conftest import DUCK_STORY, GOOSE_STORY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def novels(write) -> Path:
    write("novels/duck.txt", DUCK_STORY)
    write("novels/old/goose.txt", GOOSE_STORY.encode("cp949"))  # an old file, found in a subfolder
    return write("novels/duck.txt", DUCK_STORY).parent


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_vocab_builds_one_style_per_file(capsys, novels, tmp_path):
    code, out, _ = run(capsys, "vocab", "--src", str(novels), "--out", str(tmp_path / "v.json"))
    assert code == 0 and "2 styles" in out
    assert Vocab.load(tmp_path / "v.json").styles == ["duck", "goose"]


def test_a_source_folder_reached_by_going_up_is_read_and_hidden_files_inside_it_are_not(
    capsys, novels, write, tmp_path, monkeypatch
):
    write("novels/.drafts/secret.txt", "숨긴 글은 읽지 않는다.")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")

    code, out, err = run(capsys, "vocab", "--src", "../novels", "--out", "v.json")

    assert code == 0, err
    assert Vocab.load(tmp_path / "work" / "v.json").styles == ["duck", "goose"]


def test_train_then_generate_then_resume(capsys, novels, tmp_path, monkeypatch):
    save = tmp_path / "save"
    code, out, _ = run(capsys, "train", "--src", str(novels), "--out", str(save), "--size", "tiny", "--epochs", "2")
    assert code == 0, out
    assert (save / "epoch-2.pt").is_file() and (save / "vocab.json").is_file()

    monkeypatch.chdir(tmp_path)
    prime = "안녕 난 오리라고 해."
    code, out, _ = run(capsys, "generate", "--ckpt-dir", str(save), "--epoch", "2", "--prime", prime, "--len", "2")
    assert code == 0
    result = tmp_path / "generate" / "result.txt"
    first = result.read_text(encoding="utf-8")
    assert first.startswith(prime) and out.startswith(prime)

    code, out, _ = run(
        capsys,
        "generate",
        "--ckpt-dir",
        str(save),
        "--epoch",
        "2",
        "--prime",
        "거위?",
        "--len",
        "1",
        "--resume",
        "True",
    )
    assert code == 0
    second = result.read_text(encoding="utf-8")
    assert second.startswith(first.rstrip("\n")) and "거위?" in second[len(first) - 1 :]
    state = torch.load(tmp_path / "generate" / "state.pt", weights_only=True)
    assert state["text"] == second.rstrip("\n")  # the state kept beside the result belongs to it


def test_resume_uses_the_saved_state_instead_of_reading_the_text_again(bundle, trained, tmp_path, monkeypatch):
    # Without adaptation: adapting to the story means reading it again, by design (engine/adapt.py).
    from engine import cli
    from engine import generate as generation

    monkeypatch.chdir(tmp_path)
    save = trained.best_path.parent
    cli.generate_to_file(ckpt_dir=save, epoch="best", prime="오리는", sentences=1, seed=1, adapt_lr=0.0)
    fed: list[int] = []
    real_feed = generation.feed

    def counting_feed(bundle, ids, hidden, style_index, **options):
        fed.append(len(ids))
        return real_feed(bundle, ids, hidden, style_index, **options)

    monkeypatch.setattr(generation, "feed", counting_feed)
    cli.generate_to_file(ckpt_dir=save, epoch="best", prime="거위는", sentences=1, seed=1, resume=True, adapt_lr=0.0)
    assert fed and fed[0] == len(bundle.vocab.encode(" 거위는"))  # only the new prime, not the story


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epoch", "99", "--prime", "오리"], "no checkpoint for epoch 99"),
        (["--prime", "   "], "--prime must not be empty"),
        (["--prime", "오리", "--len", "0"], "--len must be at least 1"),
        (["--prime", "오리", "--len", "-2"], "--len must be at least 1"),
        (["--prime", "오리", "--epoch", "two"], "expected a number"),
    ],
)
def test_bad_generate_arguments_give_one_line_and_exit_2(capsys, trained, argv, message):
    code, out, err = run(capsys, "generate", "--ckpt-dir", str(trained.best_path.parent), *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_resume_without_a_previous_result_is_refused(capsys, trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "generate", "--ckpt-dir", str(trained.best_path.parent), "--prime", "오리", "--resume")
    assert code == 2 and "nothing to resume" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--src", "nowhere", "--out", "x"], "no such file or folder"),
        (["train", "--src", ".", "--out", "x", "--epochs", "0"], "--epochs must be at least 1"),
        (["vocab", "--src", ".", "--out", "v.json", "--min-count", "0"], "--min-count"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_train_and_vocab_arguments_give_one_line(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_a_binary_source_is_refused_with_its_name_and_offset(capsys, write, tmp_path):
    path = write("novels/broken.txt", b"\xec\x98\xa4\xeb\xa6\xac\x00\x01")
    code, _, err = run(capsys, "vocab", "--src", str(path), "--out", str(tmp_path / "v.json"))
    assert code == 2 and str(path) in err and "offset 6" in err


def test_the_module_runs_and_fails_in_one_line_without_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "engine", "generate", "--ckpt-dir", str(tmp_path), "--prime", "오리", "--len", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == "error: --len must be at least 1 (it counts sentences)\n"


def test_management_commands_call_the_engine(novels, tmp_path):
    django = pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django is not configured (pytest -p no:django)")
    django.setup()
    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command("buildvocab", "--src", str(novels), "--out", str(tmp_path / "v.json"))
    assert Vocab.load(tmp_path / "v.json").styles == ["duck", "goose"]
    with pytest.raises(CommandError, match="must not be empty"):
        call_command("generate", "--ckpt-dir", str(tmp_path), "--prime", " ")
