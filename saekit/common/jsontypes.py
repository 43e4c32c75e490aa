"""The types of JSON data, for signatures that take or give parsed JSON (a document's ``to_json``, a
metrics record, an HTTP payload) instead of ``Any``.

Containers nested inside a value are typed ``object``: a recursive alias would be exact but
``typing.get_type_hints`` (which the generated CLI and the document codec use) cannot resolve one.
"""
from __future__ import annotations

from typing import Union

JSONScalar = Union[str, int, float, bool, None]
#: any parsed JSON value
JSONValue = Union[str, int, float, bool, None, list[object], dict[str, object]]
#: a parsed JSON object (what every saekit output file holds at its top)
JSONObject = dict[str, JSONValue]

__all__ = ["JSONScalar", "JSONValue", "JSONObject"]
