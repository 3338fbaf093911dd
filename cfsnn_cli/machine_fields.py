"""The recipe fields that say where and on what a run happens, not what it computes. The machine that
runs a checkpoint sets them itself (engine/machine.py), and runs that differ only in them are one
configuration (engine/compare.py). Kept apart from recipe.py so that compare starts without pydantic."""

MACHINE_FIELDS = ("data.root", "data.download", "data.cache_dir", "data.workers", "train.device")
