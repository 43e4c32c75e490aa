"""The types of JSON data, for signatures that take or give parsed JSON (a document's ``to_json``, a
metrics record, an HTTP payload) instead of ``Any``: defined once, in stores (the lowest layer), so a
store's manifest and a saekit document share them."""
from __future__ import annotations

from stores.jsontypes import JSONObject, JSONScalar, JSONValue

__all__ = ["JSONScalar", "JSONValue", "JSONObject"]
