"""Find the imports a Python file makes, with the context that decides whether they matter.

Each file is parsed once (:func:`ast.parse`). Recorded as an :class:`ImportUse`:

- ``import a.b`` / ``from a.b import c`` (absolute only; relative imports stay inside the
  package), ``__import__("a")``, ``importlib.import_module("a")`` with a literal name;
- ``pytest.importorskip("a")`` (``kind="skip"``: a test that skips when ``a`` is missing).

Context:

- ``guarded``: inside ``try:`` whose handlers catch ``ImportError`` (or
  ``ModuleNotFoundError``, ``Exception``, a bare ``except``), inside such a handler (the
  fallback import), inside ``with contextlib.suppress(ImportError)``, or under an ``if``
  on ``importlib.util.find_spec(...)`` or on a version/platform test that cannot be
  decided here. Code that copes with the module's absence is not a leak;
- not recorded at all: ``if TYPE_CHECKING:`` blocks (never run) and branches of
  ``sys.version_info`` / ``sys.platform`` / ``os.name`` / ``platform.system()`` tests
  that are false for the running interpreter;
- ``toplevel``: runs when the file is imported (module or class body), as opposed to
  inside a function.
"""

from __future__ import annotations

import ast
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["ImportUse", "UseKind", "scan_file", "scan_source"]

UseKind = Literal["import", "skip"]

_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_UNKNOWN: object = object()  # a condition's value that cannot be known here


@dataclass(frozen=True, slots=True)
class ImportUse:
    """One import of ``module`` at ``path:line`` (absolute path)."""

    module: str  # absolute dotted name as imported ("a.b" for ``from a.b import c``)
    path: Path
    line: int
    kind: UseKind = "import"
    guarded: bool = False
    toplevel: bool = True
    names: tuple[str, ...] = ()  # ``from module import names`` (maybe submodules)
    end_line: int = 0  # last line of the statement (0: same as ``line``)
    source: Literal["static", "runtime", "both"] = "static"

    @property
    def top(self) -> str:
        return self.module.partition(".")[0]

    def candidates(self) -> tuple[str, ...]:
        """Dotted names this use may load: ``a.b.c`` for each ``from a.b import c``, then
        ``a.b`` itself."""
        return (*(f"{self.module}.{n}" for n in self.names if n != "*"), self.module)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kind = handler.type
    if kind is None:
        return True
    options = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any((_dotted(o) or "").rpartition(".")[2] in _IMPORT_ERRORS for o in options)


def _version_tuple(node: ast.expr) -> tuple[int, ...] | None:
    if isinstance(node, ast.Tuple) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, int) for e in node.elts
    ):
        return tuple(
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, int)
        )
    return None


def _compare(op: ast.cmpop, left: object, right: object) -> bool | None:
    try:
        if isinstance(op, ast.Eq):
            return bool(left == right)
        if isinstance(op, ast.NotEq):
            return bool(left != right)
        if isinstance(op, ast.Lt):
            return bool(left < right)  # type: ignore[operator]
        if isinstance(op, ast.LtE):
            return bool(left <= right)  # type: ignore[operator]
        if isinstance(op, ast.Gt):
            return bool(left > right)  # type: ignore[operator]
        if isinstance(op, ast.GtE):
            return bool(left >= right)  # type: ignore[operator]
        if isinstance(op, ast.In):
            return bool(left in right)  # type: ignore[operator]
        if isinstance(op, ast.NotIn):
            return bool(left not in right)  # type: ignore[operator]
    except TypeError:
        return None
    return None


class _Conditions:
    """Decides ``if`` tests about the interpreter: True, False, or None (cannot tell)."""

    def __init__(self) -> None:
        self.type_checking: set[str] = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}

    def value(self, node: ast.expr) -> object:
        """The value of an interpreter fact, or ``_UNKNOWN``."""
        name = _dotted(node)
        if name in ("sys.version_info", "version_info"):
            return sys.version_info[:3]
        if name in ("sys.platform",):
            return sys.platform
        if name in ("os.name",):
            return os.name
        if name in ("sys.implementation.name",):
            return sys.implementation.name
        if isinstance(node, ast.Subscript) and _dotted(node.value) in (
            "sys.version_info",
            "version_info",
        ):
            sl = node.slice
            if (
                isinstance(sl, ast.Slice)
                and sl.lower is None
                and isinstance(sl.upper, ast.Constant)
            ):
                upper = sl.upper.value
                if isinstance(upper, int):
                    return sys.version_info[:upper]
            if isinstance(sl, ast.Constant) and isinstance(sl.value, int):
                return sys.version_info[sl.value]
        if (
            isinstance(node, ast.Call)
            and not node.args
            and _dotted(node.func)
            in (
                "platform.system",
                "platform.python_implementation",
            )
        ):
            return (
                platform.system()
                if _dotted(node.func) == "platform.system"
                else platform.python_implementation()
            )
        if isinstance(node, ast.Constant):
            return node.value
        version = _version_tuple(node)
        if version is not None:
            return version
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(
            isinstance(e, ast.Constant) for e in node.elts
        ):
            return tuple(e.value for e in node.elts if isinstance(e, ast.Constant))
        return _UNKNOWN

    def decide(self, test: ast.expr) -> bool | None:
        name = _dotted(test)
        if name is not None and (name in self.type_checking or name.endswith(".TYPE_CHECKING")):
            return False
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = self.decide(test.operand)
            return None if inner is None else not inner
        if isinstance(test, ast.BoolOp):
            values = [self.decide(v) for v in test.values]
            if isinstance(test.op, ast.And):
                if False in values:
                    return False
                return True if all(v is True for v in values) else None
            if True in values:
                return True
            return False if all(v is False for v in values) else None
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left = self.value(test.left)
            right = self.value(test.comparators[0])
            if left is _UNKNOWN or right is _UNKNOWN:
                return None
            if isinstance(left, tuple) and isinstance(right, tuple):
                right = right[: len(left)] if len(right) > len(left) else right
                left = left[: len(right)]
            return _compare(test.ops[0], left, right)
        if (
            isinstance(test, ast.Call)
            and isinstance(test.func, ast.Attribute)
            and test.func.attr == "startswith"
            and len(test.args) == 1
        ):
            subject = self.value(test.func.value)
            prefix = self.value(test.args[0])
            if isinstance(subject, str) and isinstance(prefix, (str, tuple)):
                return subject.startswith(prefix)
        return None

    @staticmethod
    def about_interpreter(test: ast.expr) -> bool:
        """Whether ``test`` looks at the interpreter, platform or installed modules."""
        for node in ast.walk(test):
            name = _dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
            if name and (
                name.startswith(("sys.", "platform.", "os.name"))
                or name in ("version_info", "find_spec")
                or name.endswith(".find_spec")
                or name.endswith("TYPE_CHECKING")
            ):
                return True
        return False


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.uses: list[ImportUse] = []
        self.guarded = 0
        self.functions = 0
        self.conditions = _Conditions()
        self.import_module_names = {"importlib.import_module", "import_module"}
        self.importorskip_names = {"pytest.importorskip", "importorskip"}

    # -- recording -------------------------------------------------------------------------

    def _add(
        self, module: str, node: ast.AST, kind: UseKind = "import", names: Sequence[str] = ()
    ) -> None:
        if not module or module.startswith("."):
            return
        line = getattr(node, "lineno", 0)
        self.uses.append(
            ImportUse(
                module=module,
                path=self.path,
                line=line,
                kind=kind,
                guarded=self.guarded > 0,
                toplevel=self.functions == 0,
                names=tuple(names),
                end_line=getattr(node, "end_lineno", None) or line,
            )
        )

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        if node.module in ("typing", "typing_extensions"):
            for alias in node.names:
                if alias.name == "TYPE_CHECKING":
                    self.conditions.type_checking.add(alias.asname or alias.name)
        if node.module == "importlib":
            for alias in node.names:
                if alias.name == "import_module":
                    self.import_module_names.add(alias.asname or alias.name)
        if node.module == "pytest":
            for alias in node.names:
                if alias.name == "importorskip":
                    self.importorskip_names.add(alias.asname or alias.name)
        self._add(node.module, node, names=[a.name for a in node.names])

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) else None
        if isinstance(literal, str):
            if name in self.importorskip_names:
                self._add(literal, node, kind="skip")
            elif name == "__import__" or name in self.import_module_names:
                package = next((k for k in node.keywords if k.arg == "package"), None)
                if package is None and len(node.args) < 2:
                    self._add(literal, node)
        self.generic_visit(node)

    # -- context ---------------------------------------------------------------------------

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        for decorator in getattr(node, "decorator_list", ()):
            self.visit(decorator)
        args = node.args
        for default in (*args.defaults, *(d for d in args.kw_defaults if d is not None)):
            self.visit(default)
        self.functions += 1
        body = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            self.visit(statement)
        self.functions -= 1

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def _guarded_block(self, statements: Sequence[ast.AST]) -> None:
        self.guarded += 1
        for statement in statements:
            self.visit(statement)
        self.guarded -= 1

    def _try(self, node: ast.Try) -> None:
        if any(_catches_import_error(h) for h in node.handlers):
            self._guarded_block(node.body)
            for handler in node.handlers:
                self._guarded_block(handler.body)
        else:
            for statement in node.body:
                self.visit(statement)
            for handler in node.handlers:
                self.visit(handler)
        for statement in (*node.orelse, *node.finalbody):
            self.visit(statement)

    visit_Try = _try
    if sys.version_info >= (3, 11):
        visit_TryStar = _try

    def visit_With(self, node: ast.With) -> None:
        suppressing = any(
            isinstance(item.context_expr, ast.Call)
            and (_dotted(item.context_expr.func) or "").endswith("suppress")
            and any(
                (_dotted(a) or "").rpartition(".")[2] in _IMPORT_ERRORS
                for a in item.context_expr.args
            )
            for item in node.items
        )
        if suppressing:
            self._guarded_block(node.body)
        else:
            self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        decided = self.conditions.decide(node.test)
        self.visit(node.test)
        if decided is True:
            for statement in node.body:
                self.visit(statement)
        elif decided is False:
            for statement in node.orelse:
                self.visit(statement)
        elif self.conditions.about_interpreter(node.test):
            self._guarded_block(node.body)
            self._guarded_block(node.orelse)
        else:
            for statement in (*node.body, *node.orelse):
                self.visit(statement)


def scan_source(text: str | bytes, path: Path) -> list[ImportUse]:
    """The imports in ``text`` (the contents of ``path``); [] when it does not parse."""
    try:
        tree = ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError):
        return []
    visitor = _Visitor(path)
    visitor.visit(tree)
    return visitor.uses


def scan_file(path: Path) -> list[ImportUse]:
    """The imports in the file at ``path``; [] when it cannot be read or parsed."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    return scan_source(data, path)
