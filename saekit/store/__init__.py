"""`saekit store info` and `saekit store verify`: inspect and check an activation store (the store itself is
the ``stores`` package). Names load on first use."""
from saekit.common.lazy import lazy_exports

__all__ = ["StoreCheck", "StoreInfo", "StoreInfoConfig", "StoreVerifyConfig", "store_info", "store_verify"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "StoreInfoConfig": "saekit.store.config", "StoreVerifyConfig": "saekit.store.config",
    "StoreInfo": "saekit.store.run", "StoreCheck": "saekit.store.run", "store_info": "saekit.store.run",
    "store_verify": "saekit.store.run"})
