"""Reference integration methods as models (extra ``czbench[methods]``)."""
