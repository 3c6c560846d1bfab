"""The project's modules import each other without cycles, and none imports a driver.

Reads the source of every module at the root, in the packages (training/, completion/,
evaluation/, shared/) and in align/ and data/ (ast, nothing is imported or run) and
builds the graph of their imports of each other, imports inside functions included: a
cycle there is one too, only deferred. A driver (a script with an
``if __name__ == "__main__":`` block: complete.py, serve.py, ...) is a caller: what another
module needs from it belongs in a library module. The library does not import the
command-line helpers (shared/flags.py, completion/flags.py): its defaults come from
shared/defaults.py, which both read. The root holds only the drivers and the design
card's model.py, ops.py and utils.py; every other module lives in a package. Every import
in the project's files, bench/ and tests/ included, names a module that exists (one
spelled as before a move does not). Standard library only.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("", "training", "completion", "evaluation", "shared", "align", "data")
# The design card's files at the root that are not command lines (docs/DESIGN.md, "Layout").
ROOT_LIBRARY = {"model", "ops", "utils"}


def project_modules() -> dict[str, Path]:
    """{dotted module name: its file} (links, such as train-dcgan.py, left out)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            if path.is_symlink():
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_names(node: ast.AST, package: str) -> list[str]:
    """The dotted names an import statement may load: ``from a import b`` may load ``a``
    or the module ``a.b``; ``package`` resolves relative imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".") if package else []
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """{module: the project modules it imports anywhere in its file}."""
    modules = project_modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported.update(n for n in imported_names(node, package) if n in modules)
        imported.discard(name)
        graph[name] = imported
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (depth-first search, no recursion)."""
    state = {}                                  # absent: new; 1: on the path; 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, branches = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while path:
            child = next(branches[-1], None)
            if child is None:
                state[path.pop()] = 2
                branches.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                branches.append(iter(sorted(graph[child])))
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert {"complete", "completion.search", "align.core", "data.prepare"} <= set(graph)
    assert "completion.search" in graph["completion.job"]   # a top-level import
    assert "completion.job" in graph["complete"]            # one inside a function
    assert "align.cli" in graph["data.prepare"]             # from align import cli
    assert "shared.errors" in graph["training.loop"]        # from shared.errors import ...


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, ("these modules import each other in a cycle: " + " -> ".join(cycle)
                           + "; move what both need into a module that neither imports")


def drivers() -> set[str]:
    """The modules that are scripts: they run ``main()`` under ``__name__ == "__main__"``."""
    found = set()
    for name, path in project_modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                    and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"):
                found.add(name)
    return found


def test_no_module_imports_a_driver():
    scripts = drivers()
    assert {"complete", "serve", "evaluate", "train_dcgan", "data.prepare"} <= scripts
    assert "completion.demo" not in scripts and "completion.job" not in scripts
    importers = {name: sorted(imported & scripts) for name, imported in import_graph().items()
                 if imported & scripts}
    assert importers == {}, f"these modules import a driver (module: drivers): {importers}"


# Modules that turn flags into calls: the command lines' helpers, and the callers of them.
COMMAND_LINE_HELPERS = {"shared.flags", "completion.flags"}
COMMAND_LINE = {"completion.job", "align.cli"}      # complete.py's job; the aligner's command line


def test_the_library_does_not_import_command_line_helpers():
    allowed = drivers() | COMMAND_LINE | COMMAND_LINE_HELPERS
    importers = {name: sorted(imported & COMMAND_LINE_HELPERS)
                 for name, imported in import_graph().items()
                 if name not in allowed and imported & COMMAND_LINE_HELPERS}
    assert importers == {}, (f"library modules import command-line helpers: {importers}; "
                             "read the default from shared/defaults.py instead")


# What a module may import inside a function: what loads TensorFlow (so that --help answers
# at once), Gradio (the web page's start), and what only the face FID needs (scipy, dlib and
# OpenCV through evaluation.identity and completion.faces: training imports face_fid for its
# flag check, and a run without --fid_interval should not wait 0.4 s for them).
# Everything else is imported at the top of the file.
DEFERRED = {"tensorflow", "gradio", "completion.job", "completion.demo",
            "training.checkpoints", "training.loop", "completion.encoder",
            "scipy", "evaluation.identity", "completion.faces"}


def deferred(name: str) -> bool:
    """Whether ``name`` (``training.loop``, ``training.loop.train``) is, or is in, a
    module that may be imported inside a function."""
    parts = name.split(".")
    return any(".".join(parts[:end]) in DEFERRED for end in range(1, len(parts) + 1))


def test_imports_are_at_the_top_unless_deferred_deliberately():
    inside = []
    for name, path in project_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [alias.name for alias in node.names] if isinstance(node, ast.Import) \
                        else [f"{node.module}.{alias.name}" for alias in node.names]
                    inside += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                               if not deferred(n)]
    assert inside == [], f"imports inside functions (move them to the top): {inside}"



def test_the_root_holds_only_the_drivers_and_the_design_cards_files():
    root = {name for name in project_modules() if "." not in name} - set(PACKAGES)
    helpers = sorted(root - ROOT_LIBRARY - drivers())
    assert helpers == [], (f"helper modules at the root: {helpers}; move each into the package "
                           "that owns what it does (training/, completion/, evaluation/, shared/)")
    assert {"model", "ops", "utils", "complete", "train_dcgan", "serve", "evaluate",
            "export_model", "train_encoder"} <= root


def tracked_python_files() -> list[Path]:
    """Every Python file of the project, bench/ and tests/ included (links left out)."""
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "*.py"], capture_output=True,
                                text=True, timeout=30, check=True).stdout.split()
        paths = [ROOT / name for name in listed]
    except (OSError, subprocess.SubprocessError):          # not a git checkout
        paths = [path for path in ROOT.rglob("*.py") if ".git" not in path.parts]
    return [path for path in paths if path.exists() and not path.is_symlink()]


@functools.lru_cache(maxsize=None)
def top_level_names(path: Path) -> frozenset[str]:
    """The names a module defines at its top level (under if/try too): what ``from module
    import name`` may take from it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return frozenset(names)


# Folders a script's imports are also looked up in: tests/test_bench.py puts bench/ on the path.
ALSO_ON_THE_PATH = {"tests": ("bench",)}


def project_path(module: str, folder: Path) -> Path | None:
    """The file or package folder of ``module`` in the project, looked up where a script
    in ``folder`` finds it: beside it, then at the root; None if it is not the project's."""
    extra = tuple(ROOT / name for name in ALSO_ON_THE_PATH.get(folder.name, ()))
    for base in (folder, ROOT, *extra):
        path = base.joinpath(*module.split("."))
        if path.is_dir() and (path / "__init__.py").exists():
            return path
        if path.with_suffix(".py").exists():
            return path.with_suffix(".py")
    return None


def unresolved_imports(path: Path) -> list[str]:
    """The imports in ``path`` that name no module (``from module import name``: no name)."""
    missing = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded = {id(node) for handler in ast.walk(tree) if isinstance(handler, ast.Try)
               for part in handler.body for node in ast.walk(part)}   # try: import ... except
    for node in ast.walk(tree):
        if id(node) in guarded or not isinstance(node, (ast.Import, ast.ImportFrom)) \
                or getattr(node, "level", 0):
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) \
            else [node.module]
        for module in modules:
            found = project_path(module, path.parent)
            if found is None:
                top = module.split(".")[0]
                if top not in OPTIONAL and importlib.util.find_spec(top) is None:
                    missing.append(f"{where} {module}")
                continue
            if isinstance(node, ast.ImportFrom):
                names = top_level_names(found / "__init__.py" if found.is_dir() else found)
                for alias in node.names:
                    submodule = found.is_dir() and (found / f"{alias.name}.py").exists()
                    if not submodule and alias.name not in names:
                        missing.append(f"{where} {module}.{alias.name}")
    return missing


# Optional packages, not in requirements.txt: PyTorch, the yardstick of bench/bench_vs_torch.py.
OPTIONAL = {"torch"}


def test_every_import_names_a_module_that_exists():
    missing = [entry for path in tracked_python_files() for entry in unresolved_imports(path)]
    assert missing == [], (f"imports of modules or names that do not exist (a module moved? "
                           f"see docs/DESIGN.md, Layout): {missing}")
