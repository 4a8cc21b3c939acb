"""The command layer: pydantic command models, one handler per command, the CLI."""
