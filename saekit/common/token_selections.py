"""The token selections a capture (and an SAE's ``tokens`` field) can name; see
``saekit.models.base.token_mask`` for what each one keeps. A module of its own so that configs can
offer them as choices without importing torch."""

TOKEN_SELECTIONS = ("all", "cls", "patches", "nonspecial")
