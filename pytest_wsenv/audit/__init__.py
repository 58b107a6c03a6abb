"""Import audit: which imports of a member only work because of the shared ``.venv``.

- :mod:`.check`: the audit itself (:class:`ImportAudit`), static and runtime uses against
  each member's isolated environment;
- :mod:`.runtime`: the pytest plugin for ``--ws-check-imports`` in a normal run;
- :mod:`.environment`: what a member's isolated environment holds, who declares what;
- :mod:`.diagnose`: the isolated run's plugin that explains ``ModuleNotFoundError``
  failures and import skips (:mod:`.missing` finds the module, :mod:`.explain` says why
  it is missing and what to add) and counts them;
- :mod:`.plugins`: signs that a member's tests lack a pytest plugin;
- :mod:`.report`: text and JSON output.
"""

from __future__ import annotations

__all__: list[str] = []
