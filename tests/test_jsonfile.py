"""read_json_object: one-line errors for every way a JSON file saekit reads can be unusable."""
from __future__ import annotations

import pytest

from saekit.common.errors import SaekitError
from saekit.common.jsonfile import read_json_object


def test_reads_an_object(tmp_path):
    (tmp_path / "a.json").write_text('{"kind": "names", "n": 3}')
    assert read_json_object(tmp_path / "a.json") == {"kind": "names", "n": 3}


@pytest.mark.parametrize("content, message", [
    (None, "file not found"),
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object, found list"),
    (b"\xff\xfe\x00", "cannot be read"),
])
def test_unusable_files_give_one_line(tmp_path, content, message):
    path = tmp_path / "x.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SaekitError, match=message) as info:
        read_json_object(path, "--names")
    assert "\n" not in str(info.value) and str(info.value).startswith("--names ")
