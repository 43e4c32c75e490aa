"""The base of every result document: a frozen dataclass saved as one JSON file (plus one .npz
for its array fields), with a kind, a format version and upgrades from older versions.

    doc.save(directory)            -> directory / FILENAME (atomic; the JSON is written last)
    Cls.load(directory_or_file)    -> the document, or one SaekitError line naming the file

Files of an older format version load through `UPGRADES` (version -> function turning that
version's JSON into the next version's); a version this saekit does not know fails with one line
naming the version and the command that rewrites it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, ClassVar, Mapping, TypeVar

import numpy as np

from saekit.common.atomic import atomic_file, write_json_atomic
from saekit.common.errors import SaekitError
from saekit.common.jsonfile import read_json_object
from saekit.common.jsontypes import JSONObject  # at run time: typing.get_type_hints reads UPGRADES' annotation
from saekit.results.codec import array_fields, decode_dataclass, encode

D = TypeVar("D", bound="Document")


class Document:
    """Mixin for frozen dataclasses. Subclasses name what they are in the class statement:
    ``class NamesDocument(Document, kind="names", filename="names.json", version=1, command="name",
    what="latent names")`` sets KIND, FILENAME, FORMAT_VERSION, COMMAND and WHAT."""

    KIND: ClassVar[str]
    FILENAME: ClassVar[str]
    FORMAT_VERSION: ClassVar[int]
    COMMAND: ClassVar[str]                      # the saekit command that writes it
    WHAT: ClassVar[str]                         # what it is, in words ("latent names")
    ARRAYS: ClassVar[str] = "arrays.npz"        # where numpy-array fields go (if the class has any)
    UPGRADES: ClassVar[dict[int, Callable[[JSONObject], JSONObject]]] = {}

    def __init_subclass__(cls, *, kind: str, filename: str, version: int, command: str, what: str,
                          **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.KIND, cls.FILENAME, cls.FORMAT_VERSION, cls.COMMAND, cls.WHAT = kind, filename, version, command, what

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> JSONObject:
        return {"kind": self.KIND, "format_version": self.FORMAT_VERSION, **encode(self)}  # type: ignore[dict-item]

    @classmethod
    def from_json(cls: type[D], data: JSONObject, where: str | None = None,
                  arrays: dict[str, np.ndarray] | None = None) -> D:
        where = where or cls.FILENAME
        data = cls.upgrade(dict(data), where)
        data.pop("kind", None)
        data.pop("format_version", None)
        return decode_dataclass(cls, data, where, extra=arrays)

    @classmethod
    def of(cls: type[D], fields: Mapping[str, object]) -> D:
        """The document from a plain dict of its fields (what a writer assembles), checked field by field
        like a file of the current version (kind / format_version may be present or not)."""
        data = {k: v for k, v in fields.items() if k not in ("kind", "format_version")}
        return decode_dataclass(cls, encode(data), f"{cls.FILENAME} (being written)")

    @classmethod
    def upgrade(cls, data: JSONObject, where: str) -> JSONObject:
        """Check kind and version; bring an older version's JSON up to FORMAT_VERSION."""
        kind = data.get("kind")
        if kind is not None and kind != cls.KIND:
            raise SaekitError(f"{where} has kind {kind!r}, expected {cls.KIND!r}")
        version = data.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            version = cls.unversioned(data, where)
        if version > cls.FORMAT_VERSION or (version < cls.FORMAT_VERSION and version not in cls.UPGRADES):
            readable = sorted({cls.FORMAT_VERSION, *cls.UPGRADES})
            raise SaekitError(f"{where} is {cls.KIND} format version {version}; this saekit reads version"
                              f"{'s' if len(readable) > 1 else ''} {', '.join(map(str, readable))} "
                              f"(rerun `saekit {cls.COMMAND}` to rewrite it)")
        while version < cls.FORMAT_VERSION:
            data = cls.UPGRADES[version](data)
            version += 1
        return data

    @classmethod
    def unversioned(cls, data: JSONObject, where: str) -> int:

        """The version of a file without a format_version (none by default: an error)."""
        raise SaekitError(f"{where} has no format_version: it is not a saekit {cls.KIND} file "
                          f"(rerun `saekit {cls.COMMAND}` to write one)")

    # ------------------------------------------------------------------ files
    @classmethod
    def path_in(cls, directory: str | os.PathLike) -> Path:
        return Path(directory) / cls.FILENAME

    def save(self, directory: str | os.PathLike) -> Path:
        """Write FILENAME (and ARRAYS) into `directory` atomically; the JSON goes last, so its presence
        marks a complete document. Returns `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = self.path_in(directory)
        path.unlink(missing_ok=True)
        names = array_fields(type(self))
        if names:
            with atomic_file(directory / self.ARRAYS) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, **{k: getattr(self, k) for k in names})
        write_json_atomic(path, self.to_json(), indent=1)
        return directory

    @classmethod
    def load(cls: type[D], where: str | os.PathLike) -> D:
        """From a directory holding FILENAME, or from the file itself."""
        where = Path(where)
        path = where / cls.FILENAME if where.is_dir() else where
        if not path.is_file():
            raise SaekitError(f"{where} holds no {cls.WHAT} (expected {cls.FILENAME} from `saekit {cls.COMMAND}`)")
        data = read_json_object(path)
        arrays = None
        names = array_fields(cls)
        if names:
            npz = path.parent / cls.ARRAYS
            if not npz.is_file():
                raise SaekitError(f"{path.parent} has {path.name} but no {cls.ARRAYS}; rerun `saekit {cls.COMMAND}`")
            with np.load(npz) as z:
                missing = [k for k in names if k not in z.files]
                if missing:
                    raise SaekitError(f"{npz} lacks array {missing[0]!r}; rerun `saekit {cls.COMMAND}`")
                arrays = {k: z[k] for k in names}
        return cls.from_json(data, str(path), arrays)

    def dumps(self) -> str:
        return json.dumps(self.to_json())
