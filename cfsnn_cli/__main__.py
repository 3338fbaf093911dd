"""`python -m cfsnn_cli` is `cfsnn`: what torchrun starts (`torchrun --nproc_per_node N -m cfsnn_cli
train RECIPE`), since it runs Python modules or scripts rather than console commands."""

from cfsnn_cli.cli.app import main

if __name__ == "__main__":
    main()
