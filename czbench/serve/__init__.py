"""``czbench serve``: held-out benchmarking with hosted scoring (docs/serve.md).

A lab creates a *challenge* from a dataset; participants download the public data (X and the
obs columns that are not held out, in a published cell order) and submit embeddings or MLflow
packages; workers score them with the same engine as ``czbench run`` on a seeded, stratified
public / private split of the cells. Only aggregate scores leave the server.

* :mod:`.models`, :mod:`.migrate` -- the tables (SQLAlchemy 2) and their Alembic migrations.
* :mod:`.tokens` -- random tokens, stored hashed, admin and team scopes.
* :mod:`.protocol` -- the split, the public data and the alignment of submissions.
* :mod:`.admin` -- challenges and teams (the ``czbench challenge`` / ``team`` commands).
* :mod:`.jobs` -- submissions with quotas, the job state machine and its leases.
* :mod:`.scoring`, :mod:`.worker`, :mod:`.sandbox` -- scoring (embeddings, MLflow packages).
* :mod:`.board`, :mod:`.app` -- the leaderboard / team views and the FastAPI app.
* :mod:`.client`, :mod:`.demo` -- ``czbench submit`` and ``czbench serve --demo``.
"""
