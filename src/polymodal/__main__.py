"""`python -m polymodal ...` is the `polymodal` command (handy under `accelerate launch -m`)."""
from .cli.main import entry

entry()
