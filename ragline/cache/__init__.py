"""Answer caches: the exact cache (``keys``, ``store``, ``sqlite_store``, ``redis_store``,
``singleflight``, ``chat``) and the semantic cache. Import from the modules themselves."""
