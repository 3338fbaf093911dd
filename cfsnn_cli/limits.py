"""Bounds shared by recipes and command-line options, kept in one place so the two agree."""

MAX_TIMESTEPS = 4096  # T: a recipe's data.timesteps and `cfsnn eval --timesteps`
