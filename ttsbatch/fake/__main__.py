"""``python -m ttsbatch.fake`` = ``ttsbatch fake-server`` (works before the main CLI is wired)."""

from ttsbatch.fake.cli import fake_server_command

if __name__ == "__main__":
    fake_server_command(prog_name="ttsbatch fake-server")
