from cfsnn_cli.registry import Registry

DATASETS: Registry = Registry("dataset")
