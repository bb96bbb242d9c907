"""`python -m polymodal ...` is the `polymodal` command (handy under `accelerate launch -m`)."""
import sys

from .cli.main import main

sys.exit(main())
