"""`python -m clamp_cli`: the `clamp` command (the same entry point as the console script)."""

from .cli.entry import run

if __name__ == "__main__":
    run()
