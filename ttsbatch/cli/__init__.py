"""The command line: click commands only (options in, calls out, exit codes)."""
