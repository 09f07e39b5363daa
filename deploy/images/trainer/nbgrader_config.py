"""nbgrader configuration of the trainers' image (installed as /etc/jupyter/nbgrader_config.py).

On Kubernetes every Omsorgslyft store is on PostgreSQL, nbgrader's gradebook too: formgrader
in a trainer's server uses the gradebook the grading service writes. The URL comes from the
pod's environment (``singleuser.extraEnv`` from the ``omsorgslyft-db`` Secret), never from a
file. The course's own ``grading/nbgrader_config.py`` (read after this one, from the working
directory) sets the rest and leaves ``db_url`` alone.
"""

import os

url = os.environ.get("OMSORGSLYFT_GRADEBOOK_URL")
if url:
    c.CourseDirectory.db_url = url  # type: ignore[name-defined]  # noqa: F821  (c is given by nbgrader)
