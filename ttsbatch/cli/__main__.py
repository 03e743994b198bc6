"""``python -m ttsbatch.cli`` = ``ttsbatch``."""

from ttsbatch.cli.main import main

main()
