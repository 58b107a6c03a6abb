"""Import audit: which imports of a member only work because of the shared ``.venv``.

- :mod:`.check`: the audit itself (:class:`ImportAudit`), static and runtime uses against
  each member's isolated environment;
- :mod:`.runtime`: the pytest plugin for ``--ws-check-imports`` in a normal run;
- :mod:`.diagnose`: explanations of ``ModuleNotFoundError`` failures and import skips in
  isolated runs;
- :mod:`.report`: text and JSON output.
"""

from __future__ import annotations

__all__: list[str] = []
