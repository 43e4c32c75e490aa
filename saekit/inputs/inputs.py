"""One command's inputs, each opened or loaded once, on first use.

``name``, ``explain``, ``audit``, ``steer``, ``eval`` and the dashboard all need some of: an SAE, an
activation store, the hook the SAE reads, the dataset behind the store and a model. Each command
builds one ``Inputs`` from its config and hands it down, so no pass opens the store again or loads
the dataset or a model a second time (a `saekit name` run used to load the dataset and the model
twice each). Anything may be given already loaded (an ``SAE``, ``ActivationStore``, ``Dataset`` or
model object) or as a spec (a path, ``saelens:...``, ``bundled:...``); specs are resolved on first use. Other models and
datasets a pass needs (an embedding model, a test split) come from ``load_model`` / ``load_dataset``,
cached by spec.

    with Inputs(sae="runs/sae", store="acts.h5", device="cpu") as inputs:
        inputs.sae, inputs.store, inputs.hook, inputs.dataset, inputs.model
"""
from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.data import Dataset
    from saekit.models.base import HookedModel
    from saekit.sae import SAE
    from stores import ActivationStore


class Inputs:
    """The SAE, store, hook, dataset and model of one command (see module docstring)."""

    def __init__(self, *, sae: "SAE | str | os.PathLike | None" = None,
                 store: "ActivationStore | str | os.PathLike | None" = None, hook: str | None = None,
                 data: "Dataset | str | None" = None, model: "HookedModel | str | None" = None, device: str = "cpu"):
        self._sae_in, self._store_in, self._model_in, self._data_in = sae, store, model, data
        self.hook_given, self.device = hook, device
        self.data_given = data if isinstance(data, str) else None
        self._datasets: dict[str, "Dataset"] = {}
        self._models: dict[tuple[str, str], "HookedModel"] = {}
        self._opened_store: "ActivationStore | None" = None

    # ---- the SAE and its store -----------------------------------------------------------------
    @cached_property
    def sae(self) -> "SAE":
        if self._sae_in is None:
            raise SaekitError("this command needs an SAE (--sae)")
        if not isinstance(self._sae_in, (str, os.PathLike)):
            return self._sae_in
        from saekit.sae import load_sae

        return load_sae(self._sae_in, device=self.device)

    @property
    def sae_spec(self) -> str | None:
        """The SAE's spec as given (None when an SAE object was given)."""
        return str(self._sae_in) if isinstance(self._sae_in, (str, os.PathLike)) else None

    @cached_property
    def store(self) -> "ActivationStore":
        """The store, opened once; for a crosscoder SAE it also shows the crosscoder's joined hook."""
        if self._store_in is None:
            raise SaekitError("this command needs an activation store (--store)")
        from saekit.inputs.joined_store import with_crosscoder_rows

        store = self._store_in
        if isinstance(store, (str, os.PathLike)):
            from stores import ActivationStore

            store = self._opened_store = ActivationStore.open(store)
        return with_crosscoder_rows(self.sae, store) if self._sae_in is not None else store

    @property
    def store_path(self) -> str | None:
        """The store's path as given (None when a store object was given)."""
        return str(self._store_in) if isinstance(self._store_in, (str, os.PathLike)) else None

    @cached_property
    def hook(self) -> str:
        """The given hook, else the SAE's own, else the store's only hook; checked to be in the store and
        of the SAE's input width."""
        from saekit.inputs.checks import check_sae_matches_store, resolve_hook

        hook = resolve_hook(self.sae if self._sae_in is not None else None, self.store, self.hook_given)
        if self._sae_in is not None:
            check_sae_matches_store(self.sae, self.store, hook)
        return hook

    # ---- the dataset and the models ------------------------------------------------------------
    @property
    def data_spec(self) -> str | None:
        """The dataset spec: the given one, else the one the store recorded at capture (attribute ``data``)."""
        if self.data_given:
            return self.data_given
        if self._store_in is None:
            return None
        spec = self.store.attrs.get("data")
        return str(spec) if spec else None

    @cached_property
    def dataset(self) -> "Dataset":
        """The given dataset, else the one of ``data_spec``, loaded once."""
        if self._data_in is not None and not isinstance(self._data_in, str):
            return self._data_in
        spec = self.data_spec
        if not spec:
            raise SaekitError("the store does not record its dataset (attribute 'data'); pass --data")
        return self.load_dataset(spec)

    def load_dataset(self, spec: str) -> "Dataset":
        """The dataset of ``spec``, loaded once per spec."""
        if spec not in self._datasets:
            from saekit.data import load_dataset

            self._datasets[spec] = load_dataset(spec)
        return self._datasets[spec]

    @property
    def model_spec(self) -> str | None:
        """The model: the given one, else the one the store was captured from (attribute ``model_id``)."""
        if isinstance(self._model_in, str):
            return self._model_in
        if self._model_in is None and self._store_in is not None:
            spec = self.store.attrs.get("model_id")
            return str(spec) if spec else None
        return None

    @cached_property
    def model(self) -> "HookedModel":
        if self._model_in is not None and not isinstance(self._model_in, str):
            return self._model_in
        spec = self.model_spec
        if not spec:
            raise SaekitError("this command needs a model (--model), and the store does not record one")
        return self.load_model(spec)

    def load_model(self, spec: str, device: str | None = None) -> "HookedModel":
        """The model of ``spec`` on ``device`` (default: the inputs' device), loaded once per (spec, device);
        the command's own model (``model``, given as a spec) is one of them."""
        device = device or self.device
        key = (spec, device)
        if key not in self._models:
            from saekit.models import load_model

            self._models[key] = load_model(spec, device=device)
        return self._models[key]

    # ---- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the store this object opened (a store given as an object stays open)."""
        if self._opened_store is not None:
            self._opened_store.close()
            self._opened_store = None

    def __enter__(self) -> "Inputs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
