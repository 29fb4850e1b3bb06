"""Reading manifests: multi-document YAML files, each document with where it starts.

Syntax errors become a `ManifestError` that says the line, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Document:
    file: str
    index: int  # 0-based position in the file
    line: int  # 1-based line where it starts
    data: Any

    @property
    def kind(self) -> str | None:
        return self.data.get("kind") if isinstance(self.data, dict) else None


class ManifestError(Exception):
    def __init__(self, file: str, message: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.file, self.line = file, line


def parse_documents(text: str, file: str = "<text>") -> list[Document]:
    """Every non-empty document of a YAML stream; raises ManifestError on bad YAML."""
    documents: list[Document] = []
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as error:  # e.g. a control character the reader refuses
        raise ManifestError(file, f"YAML error: {error}") from error
    try:
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node)
            if data is not None:
                documents.append(Document(file, len(documents), node.start_mark.line + 1, data))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "invalid YAML"
        raise ManifestError(file, f"YAML syntax error: {problem}", line) from error
    except yaml.YAMLError as error:
        raise ManifestError(file, f"YAML error: {error}") from error
    finally:
        loader.dispose()
    return documents


def read_documents(path: str | Path) -> list[Document]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(str(path), f"cannot read: {error}") from error
    return parse_documents(text, str(path))
