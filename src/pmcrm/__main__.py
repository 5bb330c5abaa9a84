"""``python -m pmcrm``: the same as the ``pmcrm`` command (for an environment whose
scripts folder is not on PATH)."""

from pmcrm.cli import main

if __name__ == "__main__":
    main(prog_name="python -m pmcrm")
