from cfsnn_cli.registry import Registry

TASK_LOSSES: Registry[type] = Registry("loss")
