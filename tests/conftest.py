import warnings

import pytest

# pandapower 3.5 triggers pandas FutureWarnings inside its own code; they are not ours.
warnings.filterwarnings("ignore", category=FutureWarning, module="pandapower")
warnings.filterwarnings("ignore", category=FutureWarning, module="pandas")


@pytest.fixture
def cli(capsys):
    """Run the gridstudy CLI in-process; return (exit code, stdout, stderr)."""
    from gridstudy.studies.cli.main import main

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
