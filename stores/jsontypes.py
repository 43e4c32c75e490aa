"""The types of JSON data, for signatures that take or give parsed JSON (a manifest, a store's info,
its user attributes) instead of ``Any``.

Containers nested inside a value are typed ``object``: a recursive alias would be exact but
``typing.get_type_hints`` (which saekit's generated CLI and document codec use) cannot resolve one.
"""
from __future__ import annotations

from typing import Union

JSONScalar = Union[str, int, float, bool, None]
#: any parsed JSON value
JSONValue = Union[str, int, float, bool, None, list[object], dict[str, object]]
#: a parsed JSON object
JSONObject = dict[str, JSONValue]

__all__ = ["JSONScalar", "JSONValue", "JSONObject"]
