"""The `clamp` command line: thin typer commands over the lower layers."""
