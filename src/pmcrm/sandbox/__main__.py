"""``python -m pmcrm.sandbox``: the same as ``pmcrm sandbox``."""

from .command import sandbox_command

if __name__ == "__main__":
    sandbox_command(prog_name="python -m pmcrm.sandbox")
