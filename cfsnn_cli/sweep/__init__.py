"""Sweeps: a grid or a search of trainings on Optuna (`cfsnn sweep`); see run.py for how trials are kept."""
