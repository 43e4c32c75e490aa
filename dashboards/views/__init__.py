"""One module per page: each exposes ``layout(browser, ...)`` and, when it has controls, ``register(app, browser)``."""
