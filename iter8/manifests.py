"""Reading manifests: multi-document YAML files, each document with where it starts.

The one YAML loader of the project, for whatever reaches it from outside (files given to the
CLI, manifests of tasks, kustomize output). It is bounded, so that a small hostile file cannot
take the memory or the time of what reads it:

- at most `MAX_BYTES` of text (a file is read no further: `/dev/zero` ends, not hangs);
- at most `MAX_DOCUMENTS` documents;
- nesting at most `MAX_DEPTH` levels, aliases included (deeper input would otherwise exhaust
  the recursion of the parser and of everything that walks the data later);
- aliases may add at most `MAX_ALIAS_NODES` nodes, or as many as the document has without
  them, whichever is more; an alias to its own node is refused (billion laughs, cycles);
- integers of at most `MAX_INTEGER_CHARACTERS` characters;
- a key at most once in a mapping (YAML says so; PyYAML keeps the last silently).

An unquoted timestamp (`2021-01-02`) is read as the string written, as Kubernetes reads it.
Every refusal and syntax error is a `ManifestError` that says the line, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 4 * 1024 * 1024
MAX_DOCUMENTS = 1_000
MAX_DEPTH = 100
MAX_ALIAS_NODES = 10_000
MAX_INTEGER_CHARACTERS = 100
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


class _Refused(yaml.MarkedYAMLError):
    """A bound of this loader was passed (reported like a syntax error, with its line)."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the bounds above on composing and constructing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable: the base class refuses it with its own message
                continue
            if duplicate:
                raise _Refused(
                    problem=f"duplicate key {key!r} (a key may appear once in a mapping)",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    def construct_yaml_int(self, node: ScalarNode) -> int:
        if len(node.value) > MAX_INTEGER_CHARACTERS:
            raise _Refused(
                problem=f"an integer longer than {MAX_INTEGER_CHARACTERS} characters",
                problem_mark=node.start_mark,
            )
        return super().construct_yaml_int(node)  # type: ignore[no-any-return]


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)
_BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _check_expansion(root: Node) -> None:
    """Depth and size of the document as its aliases expand it; refuses cycles. Linear in the
    nodes written: each node is measured once, however often aliases repeat it."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) → (height, expanded size)
    open_nodes: set[int] = set()

    def measure(node: Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise _Refused(
                problem=f"nested deeper than {MAX_DEPTH} levels (aliases expanded)",
                problem_mark=node.start_mark,
            )
        key = id(node)
        if key in measured:
            height, size = measured[key]
            if depth + height > MAX_DEPTH:
                measure_children(node, depth)  # fails, naming the line where it is too deep
            return height, size
        if key in open_nodes:
            raise _Refused(problem="an alias refers to its own node", problem_mark=node.start_mark)
        open_nodes.add(key)
        measured[key] = result = measure_children(node, depth)
        open_nodes.discard(key)
        return result

    def measure_children(node: Node, depth: int) -> tuple[int, int]:
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        height, size = 0, 1
        for child in children:
            child_height, child_size = measure(child, depth + 1)
            height, size = max(height, child_height + 1), size + child_size
        return height, size

    _, expanded = measure(root, 0)
    written = len(measured)
    if expanded - written > max(MAX_ALIAS_NODES, written):
        raise _Refused(
            problem=f"aliases expand {written} nodes to {expanded}: at most "
            f"{max(MAX_ALIAS_NODES, written)} more are allowed",
            problem_mark=root.start_mark,
        )


def parse_documents(text: str, file: str = "<text>") -> list[Document]:
    """Every non-empty document of a YAML stream; raises ManifestError on bad or unbounded YAML."""
    if len(text) > MAX_BYTES:
        raise ManifestError(file, f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    documents: list[Document] = []
    try:
        loader = _BoundedLoader(text)
    except yaml.YAMLError as error:  # e.g. a control character the reader refuses
        raise ManifestError(file, f"YAML error: {error}") from error
    try:
        count = 0
        while loader.check_node():
            count += 1
            if count > MAX_DOCUMENTS:
                raise ManifestError(file, f"more than {MAX_DOCUMENTS} documents")
            node = loader.get_node()
            _check_expansion(node)
            data = loader.construct_document(node)
            if data is not None:
                documents.append(Document(file, len(documents), node.start_mark.line + 1, data))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "invalid YAML"
        kind = "YAML refused" if isinstance(error, _Refused) else "YAML syntax error"
        raise ManifestError(file, f"{kind}: {problem}", line) from error
    except yaml.YAMLError as error:
        raise ManifestError(file, f"YAML error: {error}") from error
    except (ValueError, RecursionError) as error:  # defensive: a value PyYAML cannot convert
        raise ManifestError(file, f"YAML error: {error}") from error
    finally:
        loader.dispose()
    return documents


def parse_document(text: str, file: str = "<text>") -> Any:
    """The one document of `text` (None if empty); more than one is an error."""
    documents = parse_documents(text, file)
    if len(documents) > 1:
        raise ManifestError(file, f"holds {len(documents)} documents, expected one")
    return documents[0].data if documents else None


def read_documents(path: str | Path) -> list[Document]:
    """The documents of the file at `path`, read no further than `MAX_BYTES`."""
    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ManifestError(str(path), f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(str(path), f"cannot read: {error}") from error
    return parse_documents(text, str(path))
