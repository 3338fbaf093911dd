#!/usr/bin/env bash
# The method's ablation, as docs/results.md reports it: each line is a sweep of three seeds (two
# worker processes); `cfsnn compare` puts every configuration side by side.
#   bash benchmarks/ablation.sh quickstart      # ~10 min on 2 cores
#   bash benchmarks/ablation.sh digits-events   # ~45 min on 2 cores
#   bash benchmarks/ablation.sh sequential-digits          # rows, T = 8: ~6 min on 2 cores
#   bash benchmarks/ablation.sh sequential-digits-pixels   # pixels, T = 64: ~20 min on 2 cores
#   bash benchmarks/ablation.sh digits-events sweeps/ablation-digits-events-t16 \
#       --set data.timesteps=16 --set data.window_ms=18.75 --set data.frame_size=17   # ~45 min
# Rerunning resumes; the sweeps land in sweeps/ablation-RECIPE/ (or the folder given second); any
# further arguments (--set ...) apply to every configuration.
set -euo pipefail
recipe=${1:-quickstart}
out=${2:-sweeps/ablation-$recipe}
shared=("${@:3}")
sweep() { cfsnn sweep "$recipe" --seeds 3 --workers 2 "${shared[@]}" "$@"; }

# plain LIF, a fixed surrogate, no PN term: at the usual threshold and at the CF default's
sweep --out "$out/lif" --set neuron.kind=lif --set surrogate.learnable=none --set loss.balance=0 \
    --grid neuron.threshold=1.0,0.5
# CF ternary with a fixed surrogate and no PN term, at both thresholds
sweep --out "$out/cf" --set surrogate.learnable=none --set loss.balance=0 --grid neuron.threshold=1.0,0.5
# CF unipolar (0/1 spikes, the rest kept by the subtractive reset), at both thresholds
sweep --out "$out/cf-unipolar" --set neuron.bipolar=false --set surrogate.learnable=none --set loss.balance=0 \
    --grid neuron.threshold=1.0,0.5
# + a learned α: one per layer, one per time step
sweep --out "$out/cf-alpha" --set loss.balance=0 --grid surrogate.learnable=layer,timestep
# + the PN term (λ 0.1 is the shipped recipe)
sweep --out "$out/cf-alpha-pn" --grid loss.balance=0.1,1,3
# α with a ten times larger learning rate; three spike levels
sweep --out "$out/cf-alpha-lr" --set surrogate.lr_scale=10
sweep --out "$out/cf-levels3" --set neuron.levels=3
# the sequential tasks' recipes are recurrent: the same recipe without the recurrence; the
# event recipe is a feed-forward convnet: one recurrent layer of 128 in its place
if [[ $recipe == sequential-digits* ]]; then
    sweep --out "$out/feed-forward" --set model.kind=mlp
elif [[ $recipe == digits-events ]]; then
    sweep --out "$out/recurrent" --set 'model={kind="rsnn", hidden=[128]}'
fi

COLUMNS=200 cfsnn compare "$out"/* --json "$out/compare.json" --plot "$out/compare.png"
