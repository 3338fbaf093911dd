from cfsnn_cli.registry import Registry

TASK_LOSSES: Registry[type] = Registry("loss")
"""Task-loss classes by recipe `[loss] kind` (ce, tet); `Objective` adds the balanced term."""
