"""mkdeck: Markdown notes → an Anki cloze deck that keeps its review history across edits."""

__version__ = "0.1.0"
# The distribution's name on PyPI (`mkdeck` there is another project, of slide decks); the
# command and the import name are `mkdeck`.
DISTRIBUTION = "mkdeck-anki"


def install_hint(extra: str) -> str:
    """The command that adds `extra` (`anki`, `preview`) to mkdeck as it was installed: in a
    clone (an editable install), into that clone's environment; else from PyPI."""
    import json
    import sys
    from importlib import metadata
    from pathlib import Path

    pip = Path(sys.executable).with_name("pip")
    try:
        shown = str(pip.relative_to(Path.cwd()))
    except ValueError:
        shown = str(pip)
    try:
        found = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
        where = json.loads(found or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        where = {}
    if where.get("dir_info", {}).get("editable") and where.get("url", "").startswith("file://"):
        project = Path(where["url"].removeprefix("file://"))
        try:
            folder = str(project.relative_to(Path.cwd())) or "."
        except ValueError:
            folder = str(project)
        return f"{shown} install -e '{folder}[{extra}]'"
    return f"{shown} install '{DISTRIBUTION}[{extra}]'"
