"""The platform's definitions for the Kubernetes deployment: one pod per run (see
deploy/kubernetes/dagster.yaml), steps retried under the same policy as on the Celery workers.

Point the Helm chart's user deployment at it:
`dagsterApiGrpcArgs: ["-f", "deploy/kubernetes/definitions.py", "-a", "defs"]`.
"""

import dagster as dg

from tsr_assets.definitions import build_definitions
from tsr_assets.defs.jobs import DEPLOYED_RETRY_POLICY

defs: dg.Definitions = build_definitions(op_retry_policy=DEPLOYED_RETRY_POLICY)
