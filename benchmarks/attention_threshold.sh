#!/usr/bin/env bash
# The attention neuron's threshold in the small transformers on the bundled digits, as
# docs/results.md reports it: each line is a sweep of three seeds over a `[layers]` entry's field;
# `cfsnn compare` puts every configuration side by side. ~8 min on 2 cores.
#   bash benchmarks/attention_threshold.sh [OUT]   (default sweeps/attention-threshold; rerunning resumes)
set -euo pipefail
out=${1:-sweeps/attention-threshold}
sweep() { cfsnn sweep spikformer-digits --seeds 3 "$@"; }

# Spikformer with the method's CF neurons (θ = 0.5): the attention's neuron at 1/4, 1/2 and 1 times that
sweep --out "$out/spikformer-cf" --grid layers.attention.neuron.threshold=0.125,0.25,0.5
# Spikformer with the published LIF neurons (θ = 2 in cfsnn's units, see spikformer-cifar10-lif):
# the attention's neuron at half (as published) or at the same threshold
sweep --out "$out/spikformer-lif" --set neuron.kind=lif --set neuron.threshold=2.0 --set neuron.reset=hard \
    --set neuron.detach_reset=true --set surrogate.alpha=2.0 --set surrogate.learnable=none \
    --set loss.kind=ce --set loss.balance=0.0 --grid layers.attention.neuron.threshold=1.0,2.0
# the Spike-driven Transformer of the same size with CF neurons: its column-sum neuron at half or the same
sweep --out "$out/sdt-cf" --set model.kind=sdt --set 'layers.attention.match=blocks.*.0.column_neuron' \
    --grid layers.attention.neuron.threshold=0.25,0.5
for run in spikformer-cf spikformer-lif sdt-cf; do
    COLUMNS=200 cfsnn compare "$out/$run" --json "$out/$run/compare.json"
done
