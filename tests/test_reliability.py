"""Nothing lost, nothing surprising: arguments are checked before any output folder is touched, a
bad --out fails before the work, folders are written completely or not at all (also on Ctrl-C and
SIGTERM), respect the umask and follow symlinks, and an interrupted run says how to continue."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.model import MarketModel
from runs.args import Terminated, sigterm_as_interrupt
from runs.cli import main
from runs.output import output_dir

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--set", "hidden_sizes=16", "--set", "batch_size=16", "--set", "buffer_size=2000"]


@pytest.fixture
def trained(tmp_path):
    """A finished (tiny) training run whose files must survive every refused command."""
    run = tmp_path / "run"
    assert main(["train", "--scenario", "s-a", "--episodes", "1", "--eval-every", "1", "--out", str(run), *SMALL]) == 0
    return run, {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def _unchanged(run, files):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files


def _unwritable(tmp_path) -> Path:
    """A folder that cannot be created: under a read-only folder, or (as root, who may write anywhere
    on disk) under /sys, which refuses new entries even to root."""
    if os.geteuid() == 0:
        return Path("/sys/localmarl-test-out")
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    return ro / "out"


@pytest.mark.parametrize("bad", [["--set", "lr_actor=nan"], ["--device", "tpu"], ["--device", "cuda:7"]])
def test_overwrite_validates_before_it_deletes(trained, capsys, bad):
    run, files = trained
    assert main(["train", "--scenario", "s-a", "--episodes", "1", "--out", str(run), "--overwrite", *bad]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert _unchanged(run, files)


def test_study_overwrite_with_a_bad_device_touches_nothing(tmp_path, capsys):
    study = tmp_path / "study"
    study.mkdir()
    (study / "keep.txt").write_text("a finished study")
    assert main(["study", "--profile", "tiny", "--out", str(study), "--overwrite", "--device", "cuda:7"]) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "kept" not in err
    assert (study / "keep.txt").read_text() == "a finished study"


def test_resume_of_a_folder_with_nothing_to_resume_is_an_error(tmp_path, capsys):
    assert main(["train", "--scenario", "s-a", "--out", str(tmp_path / "mistyped"), "--resume"]) == 2
    assert "nothing to resume (a typo?)" in capsys.readouterr().err
    assert not (tmp_path / "mistyped").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "--episodes", "0"], "'0' must be a whole number >= 1"),
    (["train", "--episodes", "-5"], "'-5' must be a whole number >= 1"),
    (["study", "--seeds", "0"], "'0' must be a whole number >= 1"),
    (["simulate", "--seed", "x"], "'x' is not a whole number"),
])
def test_bad_numbers_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("setting, message", [
    ("gamma=1.5", "hyperparameter gamma = 1.5 must be in [0, 1]"),
    ("lr_actor=abc", "--set 'lr_actor=abc': lr_actor must be a float"),
    ("batch_size=2.5", "--set 'batch_size=2.5': batch_size must be an int"),
])
def test_bad_hyperparameters_name_the_parameter(tmp_path, capsys, setting, message):
    assert main(["train", "--scenario", "s-a", "--out", str(tmp_path / "r"), "--set", setting]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def _no_work(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("the command computed before checking --out")

    monkeypatch.setattr(MarketModel, "step", fail)


def test_a_bad_out_fails_before_the_work(tmp_path, capsys, monkeypatch, trained):
    run, _ = trained
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    _no_work(monkeypatch)
    for out, message in ((a_file, "is a file, not a folder"), (_unwritable(tmp_path), "cannot write output folder")):
        assert main(["simulate", "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
        assert main(["evaluate", "--run", str(run), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
        assert main(["sweep", "--config", "demo-4", "--out", str(out)]) == 2
        assert message in capsys.readouterr().err


def test_output_folders_respect_the_umask_and_follow_symlinks(tmp_path):
    old = os.umask(0o027)
    try:
        assert main(["simulate", "--week", "test:1", "--out", str(tmp_path / "sim")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "sim").stat().st_mode & 0o777 == 0o750  # not mkdtemp's 0700
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    assert main(["simulate", "--week", "test:1", "--out", str(tmp_path / "link"), "--overwrite"]) == 0
    assert (tmp_path / "link").is_symlink() and (target / "market.csv").exists()


def test_sigterm_while_writing_an_output_folder_leaves_nothing_behind(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    sigterm_as_interrupt()
    try:
        with pytest.raises(Terminated):
            with output_dir(tmp_path / "out") as tmp:
                (tmp / "half.csv").write_text("1,2\n")
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the signal arrives here
    finally:
        signal.signal(signal.SIGTERM, before)
    assert list(tmp_path.iterdir()) == []  # neither `out` nor a hidden .out.partial-* folder


@pytest.mark.parametrize("sig, code, said", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                             (signal.SIGINT, 130, "interrupted (Ctrl-C)")])
def test_an_interrupted_training_says_how_to_resume_and_resumes(tmp_path, sig, code, said):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "runs.cli", "train", "--scenario", "s-a", "--episodes", "16", "--checkpoint-every", "2",
           "--eval-every", "16", "--out", str(out), *SMALL]
    # a shell without job control starts background commands with SIGINT ignored, and Python keeps an
    # ignored SIGINT ignored: give the training the default disposition, as a terminal's Ctrl-C finds it
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    # any checkpoint: only the newest two are kept, so a given one exists for a fraction of a second
    while not any((out / "checkpoints").glob("ep*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the training ended before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert said in err and "--resume" in err and "Traceback" not in err
    assert not (out / "policy.pt").exists()
    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "policy.pt").exists()
