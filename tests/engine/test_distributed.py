"""Many processes under torchrun: the shares of every batch add up to the one-process batches, and
two real processes on the CPU (gloo) train the quickstart as one does, write one run folder, and
resume after Ctrl-C to the very weights of an uninterrupted two-process run."""

import copy
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cfsnn_cli.engine.batches import BatchesDealtToRank, EpochBatches
from cfsnn_cli.engine.build import build_loader, build_split, pick_device
from cfsnn_cli.engine.distributed import SINGLE, World, from_environment, sync_batch_norms
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.models import MODELS
from cfsnn_cli.models.blocks import SyncTokenBatchNorm
from cfsnn_cli.neurons import build_neuron
from tests.engine.helpers import tiny_recipe

# -- the shares ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size,batch_size,ranks", [(1437, 32, 2), (1437, 64, 3), (10, 4, 4), (97, 97, 5)])
def test_the_processes_shares_make_up_the_one_process_batches_in_order(size, batch_size, ranks):
    def batches(rank=0, ranks=1, start=0):
        return list(EpochBatches(size, batch_size, True, 7, 3, start=start, seeded=True, rank=rank, ranks=ranks))

    whole = batches()
    shares = [batches(rank, ranks) for rank in range(ranks)]
    assert all(len(share) == len(whole) for share in shares)
    for step, batch in enumerate(whole):
        parts = [share[step] for share in shares]
        assert [entry for part in parts for entry in part] == batch  # same samples, same augmentation seeds
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [batches(rank, ranks, start=2) for rank in range(ranks)] == [share[2:] for share in shares]  # resume


def test_evaluation_batches_are_dealt_whole():
    batches = EpochBatches(100, 30, False, 0, 0)  # 4 batches, the last of 10
    dealt = [list(BatchesDealtToRank(batches, rank, 3)) for rank in range(3)]
    assert [len(BatchesDealtToRank(batches, rank, 3)) for rank in range(3)] == [2, 1, 1]
    assert sorted(index for share in dealt for batch in share for index in batch) == list(range(100))
    assert [list(BatchesDealtToRank(batches, rank, 8)) for rank in (3, 7)] == [[list(range(90, 100))], []]


def test_a_batch_too_small_to_share_is_refused_by_name():
    recipe = tiny_recipe("data.batch_size=32")  # 1437 = 44 · 32 + 29: the last batch holds 29
    data = build_split(recipe, "train")
    assert len(build_loader(recipe, data, train=True, world=World(rank=1, size=29, launched=True))) == 45
    with pytest.raises(CfsnnError, match=r"data.batch_size: 32 is the batch of all 30 processes together"):
        build_loader(recipe, data, train=True, world=World(rank=0, size=30, launched=True))


def test_torchrun_is_recognised_by_its_variables(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert from_environment() == SINGLE
    monkeypatch.setenv("RANK", "3")
    assert from_environment() == SINGLE  # RANK alone is someone else's variable
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert from_environment() == World(rank=3, size=4, local_rank=1, launched=True)
    monkeypatch.setenv("LOCAL_RANK", "one")
    with pytest.raises(CfsnnError, match="not integers"):
        from_environment()


def test_a_named_gpu_is_refused_under_torchrun(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device(tiny_recipe("train.device='cuda'"), local_rank=1) == torch.device("cuda", 1)
    assert pick_device(tiny_recipe("train.device='auto'"), local_rank=0) == torch.device("cuda", 0)
    assert pick_device(tiny_recipe("train.device='cpu'"), local_rank=1) == torch.device("cpu")
    with pytest.raises(CfsnnError, match=r"train\.device: cuda:1 names one GPU"):
        pick_device(tiny_recipe("train.device='cuda:1'"), local_rank=0)
    with pytest.raises(CfsnnError, match="LOCAL_RANK 2 but torch sees 2 CUDA device"):
        pick_device(tiny_recipe("train.device='cuda'"), local_rank=2)


@pytest.mark.parametrize("input_shape", [(2, 8, 8), (8, 6)], ids=["image", "tokens"])
def test_sync_batch_norms_keep_token_features_last(input_shape):
    # torch's convert_sync_batchnorm makes a TokenBatchNorm a plain SyncBatchNorm, which reads tokens
    # [T·B, N, D] as N channels: an error where N differs from the norm's width, wrong statistics
    # where they are equal (8 tokens into the 8-wide Q, K, V norms)
    torch.manual_seed(0)
    model = MODELS.get("spikformer")(
        input_shape=input_shape, num_classes=3, neuron=lambda: build_neuron("cf"), depth=1, dim=8, heads=2
    )
    plain = copy.deepcopy(model)
    synced = sync_batch_norms(model)
    norms = [m for m in synced.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    assert any(isinstance(m, SyncTokenBatchNorm) for m in norms)
    assert synced.state_dict().keys() == plain.state_dict().keys()
    x_seq = torch.rand(2, 3, *input_shape) * 3
    # without a process group a SyncBatchNorm takes this process's statistics, as a BatchNorm does
    for training in (True, False):
        torch.testing.assert_close(synced.train(training)(x_seq), plain.train(training)(x_seq))
    for name, tensor in plain.state_dict().items():  # the same running statistics after the step
        torch.testing.assert_close(synced.state_dict()[name], tensor)


# -- two real processes ----------------------------------------------------------------------------

# One thread per process, in torch's pool and the numba kernel's: two processes on two cores must
# not each start a thread per core.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "COLUMNS": "120"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
CFSNN = [sys.executable, "-m", "cfsnn_cli", "train"]
EPOCHS = ["--set", "train.epochs=3"]  # the quickstart's 20 epochs shortened; the schedule follows
RUN_FILES = {"model.safetensors", "best.safetensors", "state.safetensors", "recipe.toml", "metrics.jsonl", "curves.png"}


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def interrupt_after_first_epoch(command: list[str], cwd: Path) -> str:
    """Run `command` and send torchrun SIGINT once the first epoch is reported, as Ctrl-C would."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    for line in process.stdout:
        if line.startswith("epoch   1/"):
            process.send_signal(signal.SIGINT)  # torchrun passes it on to both processes
            break
    _, stderr = process.communicate(timeout=300)
    return stderr


@pytest.mark.slow  # one process and three two-process runs of three quickstart epochs: about 1 minute
def test_two_processes_train_like_one_and_resume_exactly(tmp_path):
    single = tmp_path / "single"
    run([*CFSNN, "quickstart", *EPOCHS, "--out", str(single)], tmp_path)

    # no --out: each process would name a folder after its own clock; process 0's is the one
    both = run([*TORCHRUN, "-m", "cfsnn_cli", "train", "quickstart", *EPOCHS], tmp_path / "pair")
    [pair] = list((tmp_path / "pair" / "runs").iterdir())
    assert {path.name for path in pair.iterdir()} == RUN_FILES
    assert both.stdout.count("final test accuracy") == 1  # process 0 alone reports
    one, two = metrics(single)[-1]["test_accuracy"], metrics(pair)[-1]["test_accuracy"]
    print(f"final test accuracy: one process {one:.4f}, two processes {two:.4f}")
    assert abs(two - one) <= 0.01  # BatchNorm sees each process's half batch on CPUs: close, not equal
    from cfsnn_cli.engine.evaluate import evaluate_checkpoint

    evaluation = evaluate_checkpoint(pair)[1]  # one process reads what two wrote
    assert evaluation.top1 == two
    # the spike counts were summed over both processes (process 1 was dealt no test batch)
    assert evaluation.firing_rate == pytest.approx(metrics(pair)[-1]["test_firing_rate"], rel=1e-12)

    interrupted = tmp_path / "interrupted"
    command = [*TORCHRUN, "-m", "cfsnn_cli", "train", "quickstart", *EPOCHS, "--out", str(interrupted)]
    stderr = interrupt_after_first_epoch(command, tmp_path)
    assert f"resumable checkpoint in {interrupted}" in stderr, stderr[-3000:]
    assert 1 <= len(metrics(interrupted)) < 5
    run([*TORCHRUN, "-m", "cfsnn_cli", "train", "--resume", str(interrupted)], tmp_path)

    # Same weights to the bit: the order, the shares and the gradients' sums do not depend on where
    # the run stopped. The stopped epoch's train loss was summed in another order (the processes'
    # sums were added at the stop, then again at the end), so it agrees to rounding only.
    straight, resumed = load_file(pair / "model.safetensors"), load_file(interrupted / "model.safetensors")
    assert straight.keys() == resumed.keys() and all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert [m["test_accuracy"] for m in metrics(interrupted)] == [m["test_accuracy"] for m in metrics(pair)]
    assert [m["train_loss"] for m in metrics(interrupted)] == pytest.approx(
        [m["train_loss"] for m in metrics(pair)], rel=1e-9
    )
