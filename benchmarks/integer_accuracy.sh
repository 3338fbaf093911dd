#!/usr/bin/env bash
# The integer models of docs/results.md: each float run of three seeds (CF as shipped, LIF as the
# ablation's baseline) fine-tuned quantised at 8 and 4 bits from its own checkpoint, exported as an
# integer bundle and evaluated in the integer simulator, and fine-tuned the same way in float (the
# baseline of equal training); then the test accuracies side by side (mean ± sample std over
# seeds), the integer ones the simulator's (checked equal to the runs' own).
#   bash benchmarks/integer_accuracy.sh quickstart      # ~10 min on 2 cores
#   bash benchmarks/integer_accuracy.sh digits-events   # ~60 min on 2 cores
# Rerunning skips what is done; everything lands in sweeps/integer-RECIPE/.
set -euo pipefail
recipe=${1:-quickstart}
out=${2:-sweeps/integer-$recipe}
epochs=5; [[ $recipe == digits-events ]] && epochs=2  # a fine-tune: the float run did the training
lif=(--set neuron.kind=lif --set surrogate.learnable=none --set loss.balance=0 --set neuron.threshold=1.0)
for neuron in cf lif; do
    extra=(); [[ $neuron == lif ]] && extra=("${lif[@]}")
    cfsnn sweep "$recipe" --seeds 3 --workers 1 --out "$out/float-$neuron" "${extra[@]}"
    for seed in 0 1 2; do
        start="$out/float-$neuron/trials/seed=$seed/model.safetensors"
        [[ -f $out/$neuron-float-seed$seed/model.safetensors ]] || cfsnn train "$recipe" "${extra[@]}" \
            --set seed=$seed --out "$out/$neuron-float-seed$seed" --set train.init_from="$start" \
            --set train.epochs=$epochs --set optim.lr=0.001 > /dev/null
        for bits in 8 4; do
            run=$out/$neuron-w$bits-seed$seed
            [[ -f $run/model.safetensors ]] && continue
            cfsnn train "$recipe" "${extra[@]}" --set seed=$seed --out "$run" \
                --set quantize.enabled=true --set quantize.weight_bits=$bits \
                --set train.init_from="$start" \
                --set train.epochs=$epochs --set optim.lr=0.001 > /dev/null
            cfsnn export --ckpt "$run" --format integer --out "$run-int.safetensors" > /dev/null
            cfsnn eval --ckpt "$run-int.safetensors" --json "$run-int.json" > /dev/null
        done
    done
done
python - "$out" <<'PY'
import json, statistics, sys
from pathlib import Path

root = Path(sys.argv[1])
def final(run: Path) -> float:
    trained = 100 * json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["test_accuracy"]
    simulated = run.parent / f"{run.name}-int.json"
    if simulated.exists():  # the integer bundle in the simulator: the fake-quantised model's very result
        assert 100 * json.loads(simulated.read_text())["top1"] == trained, run
    return trained
print(f"{'neuron':6}  {'float':>13}  {'float + tune':>13}  {'8-bit':>13}  {'4-bit':>13}  (test accuracy %, 3 seeds)")
for neuron in ("cf", "lif"):
    cells = [[final(root / f"float-{neuron}/trials/seed={s}") for s in range(3)]]
    cells += [[final(root / f"{neuron}-float-seed{s}") for s in range(3)]]
    cells += [[final(root / f"{neuron}-w{bits}-seed{s}") for s in range(3)] for bits in (8, 4)]
    print(f"{neuron:6}  " + "  ".join(f"{statistics.mean(c):6.2f} ± {statistics.stdev(c):4.2f}" for c in cells))
PY
