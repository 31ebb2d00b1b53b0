"""Imported first by the executor's fork server, before numpy: one thread per numeric
library in that server (and so in every worker it forks). It changes only the
environment of the fork server, a process the executor started for this purpose."""

from __future__ import annotations

import os

from sim.experiments.executor import ONE_THREAD_ENV

for _name, _value in ONE_THREAD_ENV.items():
    os.environ.setdefault(_name, _value)
