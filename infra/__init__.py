"""The alb502 CDK app: everything ``cdk deploy`` installs (see ``app.py``)."""

import os

# jsii prints a full-screen banner on every start under Node 20 (end of life
# for jsii, still fine for synthesis); it buries real warnings, so mute it
# unless the caller chose otherwise.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
