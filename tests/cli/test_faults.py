"""Faults that say how to go on: a disk that fills mid-run names the file and the command that
continues, a killed write's temporary file goes when the run is next opened, and a sweep database
whose driver is missing names what to install (and, where the machine has PostgreSQL, a real
server runs a sweep)."""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cfsnn_cli.cli.app import app
from cfsnn_cli.engine.train import train
from cfsnn_cli.engine.training_ends import StopRequest, TrainingInterrupted
from tests.cli.helpers import refused
from tests.engine.helpers import StopAfter, tiny_recipe

CFSNN = str(Path(sys.executable).parent / "cfsnn")
ENV = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TINY = ["--set", "model.hidden=[16]", "--set", "train.epochs=3"]


@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    """A file system of `size` mounted at `folder` (a tmpfs: needs the right to mount)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_names_the_file_and_how_to_continue(tmp_path):
    with small_disk(tmp_path / "disk", "8m") as disk:
        run = disk / "run"
        command = [CFSNN, "train", *TINY, "--out", str(run)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        filler = disk / "filler"
        for line in process.stdout:
            if line.startswith("epoch   1/3"):  # epoch 1 is saved: now the disk is full
                with open(filler, "wb") as handle, contextlib.suppress(OSError):
                    while True:
                        handle.write(b"\0" * 65536)
                        handle.flush()
                break
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 2, stderr
        [line] = stderr.strip().splitlines()
        assert line.startswith(f"cfsnn: error: {run}/") and "No space left on device" in line, line
        assert f"continue with: cfsnn train --resume {run}" in line, line
        assert not [path for path in run.iterdir() if path.name.endswith(".tmp")]
        filler.unlink()
        resumed = subprocess.run([CFSNN, "train", "--resume", str(run)], capture_output=True, text=True, env=ENV)
        assert resumed.returncode == 0, resumed.stderr
        assert len((run / "metrics.jsonl").read_text().splitlines()) == 3


def test_a_killed_writes_temporary_file_goes_when_the_run_is_resumed(tmp_path):
    run = tmp_path / "run"
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted):
        train(tiny_recipe(), run, reporter=StopAfter(stop, 30), stop=stop)
    orphans = [run / ".metrics.jsonl.k1ll3d.tmp", run / ".state.safetensors.x8q2.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half a write")
    own = run / ".notes.tmp"  # not a temporary of the folder's files: the user's
    own.write_text("mine")
    result = CliRunner().invoke(app, ["train", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    assert not any(orphan.exists() for orphan in orphans) and own.read_text() == "mine"


def test_a_database_whose_driver_is_missing_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what a machine without psycopg sees
    out = tmp_path / "sweep"
    result = CliRunner().invoke(
        app, ["sweep", "quickstart", "--storage", "postgresql://sweeper@db-host/cfsnn", "--out", str(out)]
    )
    refused(result, "--storage", "psycopg", 'pip install "cfsnn[postgres]"')
    assert not out.exists()


# -- a real PostgreSQL server --------------------------------------------------------------------


def postgres_programs() -> Path | None:
    """The folder of PostgreSQL's initdb and pg_ctl, where the machine has them."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@pytest.fixture
def postgres_server():
    """A PostgreSQL server of its own, on a UNIX socket in a fresh folder (as the `postgres` user
    where the tests run as root, which PostgreSQL refuses to be); its URL for SQLAlchemy."""
    programs = postgres_programs()
    if programs is None:
        pytest.skip("no PostgreSQL server programs (initdb, pg_ctl) on this machine")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: PostgreSQL will not start as root")
        as_user = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="cfsnn-postgres-"))
    folder.chmod(0o777)
    if as_user:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", 54000 + os.getpid() % 1000

    def run(*command):
        return subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)

    made = run(str(programs / "initdb"), "-D", str(data), "-A", "trust", "-U", "sweeper")
    if made.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {made.stderr.strip()[:200]}")
    options = f"-k {folder} -p {port} -c listen_addresses=''"
    started = run(str(programs / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    assert started.returncode == 0, started.stderr + (folder / "log").read_text()
    try:
        yield f"postgresql://sweeper@/postgres?host={folder}&port={port}"
    finally:
        run(str(programs / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_two_sweep_processes_share_a_real_postgresql_study(postgres_server, tmp_path):
    out = tmp_path / "sweep"
    command = [
        CFSNN,
        "sweep",
        "quickstart",
        "--set",
        "model.hidden=[16]",
        "--set",
        "train.epochs=1",
        "--grid",
        "neuron.levels=1,2",
        "--seeds",
        "2",
        "--storage",
        postgres_server,
        "--out",
        str(out),
    ]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) for _ in range(2)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    trials = sorted(path.name for path in (out / "trials").iterdir())
    assert len(trials) == 4
    assert all(len((out / "trials" / name / "metrics.jsonl").read_text().splitlines()) == 1 for name in trials)
    again = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
    assert again.returncode == 0 and "4 of 4 runs finished" in again.stdout, again.stderr
