"""mkdeck: Markdown notes → an Anki cloze deck that keeps its review history across edits."""

__version__ = "0.1.0"
