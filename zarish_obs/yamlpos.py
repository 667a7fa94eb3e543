"""Line numbers of field paths in a YAML document, so every catalog problem can name the line to edit.

Built on `yaml.compose` node marks. A path is looked up along its own keys only, and the duplicate-key scan
visits each node once, so aliases (even recursive ones) cost nothing extra; odd YAML (merge keys, duplicate
keys, non-string keys) degrades to the line of the nearest enclosing node instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"
_NOT_A_KEY = object()


class Positions:
    """The 1-based line of any field path (keys and list indexes) of one YAML document."""

    def __init__(self, root: yaml.Node | None):
        self._root = root
        self._keys = yaml.SafeLoader("")

    def line(self, path: Sequence[Any]) -> int:
        """Line of the key (or list item) at `path`; of the deepest enclosing one that exists otherwise,
        which for a missing field is the mapping that lacks it."""
        node = self._root
        if node is None:
            return 1
        line = node.start_mark.line
        for step in path:
            found = self._child(node, step)
            if found is None:
                break
            line, node = found
        return line + 1

    def duplicate_keys(self) -> list[tuple[tuple[Any, ...], int, int]]:
        """(path, line, earlier line) of each key that repeats an earlier key of its mapping: YAML loaders
        keep the last value silently, which hides the first."""
        out: list[tuple[tuple[Any, ...], int, int]] = []
        seen: set[int] = set()
        todo: list[tuple[yaml.Node, tuple[Any, ...]]] = [(self._root, ())] if self._root is not None else []
        while todo:
            node, path = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                todo += [(item, (*path, i)) for i, item in enumerate(node.value)]
            elif isinstance(node, yaml.MappingNode):
                first: dict[Any, int] = {}
                for key, value in node.value:
                    name = self._key(key)
                    if name is _NOT_A_KEY:
                        continue
                    if name in first:
                        out.append(((*path, name), key.start_mark.line + 1, first[name] + 1))
                    first.setdefault(name, key.start_mark.line)
                    todo.append((value, (*path, name)))
        return sorted(out, key=lambda found: found[1])

    def _child(self, node: yaml.Node, step: Any) -> tuple[int, yaml.Node] | None:
        if isinstance(node, yaml.SequenceNode):
            if isinstance(step, int) and not isinstance(step, bool) and 0 <= step < len(node.value):
                item = node.value[step]
                return item.start_mark.line, item
            return None
        if isinstance(node, yaml.MappingNode):
            explicit = [(k, v) for k, v in node.value if k.tag != MERGE_TAG]
            for key, value in reversed(explicit):  # a repeated key: the loader keeps the last one
                if self._is_key(key, step):
                    return key.start_mark.line, value
            for source in self._merged(node, set()):
                for key, value in source.value:
                    if key.tag != MERGE_TAG and self._is_key(key, step):
                        return key.start_mark.line, value
        return None

    def _merged(self, node: yaml.MappingNode, seen: set[int]) -> Iterator[yaml.MappingNode]:
        """Mappings merged into `node` with `<<`, nearest first (guarded against recursive aliases)."""
        for key, value in node.value:
            if key.tag != MERGE_TAG:
                continue
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                if isinstance(source, yaml.MappingNode) and id(source) not in seen:
                    seen.add(id(source))
                    yield source
                    yield from self._merged(source, seen)

    def _key(self, key: yaml.Node) -> Any:
        """The loaded value of a plain (scalar, hashable, non-merge) key, else _NOT_A_KEY."""
        if not isinstance(key, yaml.ScalarNode) or key.tag == MERGE_TAG:
            return _NOT_A_KEY
        try:
            value = self._keys.construct_object(key)
            hash(value)
        except Exception:
            return key.value
        return value

    def _is_key(self, key: yaml.Node, step: Any) -> bool:
        value = self._key(key)
        return value is not _NOT_A_KEY and ((value == step and type(value) is type(step)) or str(value) == str(step))
