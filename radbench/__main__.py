"""`python -m radbench`: the same command-line interface as the `radbench` script."""

from radbench.cli import app

if __name__ == "__main__":
    app(prog_name="radbench")
