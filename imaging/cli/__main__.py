"""``python -m imaging.cli``: the same as the ``imaging`` command."""

from imaging.cli.main import app

app(prog_name="imaging")
