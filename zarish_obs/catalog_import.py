"""Catalog text from services imported from another format (OpenSLO, Sloth) and a base catalog.

The importers only translate documents into service dicts; this module is the one place that puts them into
a catalog, so every importer yields the same layout and no importer can write a catalog that does not load:
the text is validated by `parse_catalog` before it is returned.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from zarish_obs.catalog import Catalog, Service, parse_catalog
from zarish_obs.writers import to_yaml


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType) or hasattr(annotation, "__metadata__"):
        for arg in get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _item_model(annotation: Any) -> type[BaseModel] | None:
    if hasattr(annotation, "__metadata__"):
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is list and get_args(annotation):
        return _model_of(get_args(annotation)[0])
    return None


def ordered(data: Any, model: type[BaseModel]) -> Any:
    """`data` with the keys of every mapping in the model's field order, `name` first (keys the model does
    not know last, for `parse_catalog` to name), so imported catalogs read alike and diff well."""
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    fields = sorted(((f.alias or name, f.annotation) for name, f in model.model_fields.items()),
                    key=lambda field: field[0] != "name")
    for key, annotation in fields:
        if key not in data:
            continue
        value = data[key]
        sub = _model_of(annotation)
        item = _item_model(annotation)
        if sub is not None and isinstance(value, dict):
            value = ordered(value, sub)
        elif item is not None and isinstance(value, list):
            value = [ordered(v, item) for v in value]
        out[key] = value
    out.update((k, v) for k, v in data.items() if k not in out)
    return out


def merge(base: Catalog, services: list[dict[str, Any]], source: str) -> str:
    """Catalog YAML: `base`'s other sections as it set them, with `services` in place of its services.

    Raises CatalogError (located in the returned text's lines, under `source`) when the result is not a valid
    catalog, e.g. a maintenance window of the base that names a service the import does not have.
    """
    data = base.model_dump(by_alias=True, mode="json", exclude_unset=True)
    data["services"] = [ordered(s, Service) for s in services]
    text = to_yaml(ordered(data, Catalog))
    parse_catalog(text, source)
    return text
