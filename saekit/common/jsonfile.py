"""Reading the JSON files saekit writes (checkpoint configs, analysis outputs) with one-line errors."""
from __future__ import annotations

import json
import os
from pathlib import Path
from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject


def read_json_object(path: str | os.PathLike, what: str = "") -> JSONObject:

    """The JSON object in `path`; SaekitError (prefixed by `what`, e.g. "--names") when the file is
    missing, unreadable, not JSON, or holds something other than an object."""
    path = Path(path)
    prefix = f"{what} {path}" if what else str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SaekitError(f"{prefix}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SaekitError(f"{prefix}: cannot be read ({type(exc).__name__}: {exc})") from None
    except json.JSONDecodeError as exc:
        raise SaekitError(f"{prefix} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise SaekitError(f"{prefix} must hold a JSON object, found {type(data).__name__}")
    return data
