"""A command that only builds tables from results (accelsim main) does not import matplotlib."""

import subprocess
import sys


def test_the_tables_load_without_matplotlib_and_the_figures_on_first_use():
    code = ("import sys; import accelsim.figures.runs; a = 'matplotlib' in sys.modules; "
            "from accelsim.figures import make_figures, speedup_figure; b = 'matplotlib' in sys.modules; "
            "print(a, b)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
