"""CDK entry point (``cdk.json`` runs ``python -m infra.app``).

The stack is environment-agnostic: nothing is looked up in an account at
synth time, so ``make synth`` works offline and the template deploys to any
account and region ``cdk deploy`` is pointed at.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.bundling import BundlingError, ensure_dependencies
from infra.config import settings_from_context
from infra.nag import acknowledge_findings
from infra.stack import Alb502Stack

STACK_NAME = "Alb502"


def build_app(
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    *,
    acknowledge: bool = True,
) -> App:
    """The app with its one stack and the cdk-nag AwsSolutions checks attached.

    Any unacknowledged finding fails synthesis. ``acknowledge=False`` leaves
    the acknowledgements out, for tests that check each one is still needed.
    """
    app = App(context=dict(context or {}), outdir=outdir)
    settings = settings_from_context(app.node)
    stack = Alb502Stack(
        app,
        STACK_NAME,
        stack_name=settings.stack_name,
        settings=settings,
        description="alb502: explain every 502 of your Application Load Balancers",
    )
    if acknowledge:
        acknowledge_findings(stack)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def _bundles() -> bool:
    # The CDK CLI passes the context in CDK_CONTEXT_JSON and sets
    # aws:cdk:bundling-stacks to [] for commands that need no assets.
    context = json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}")
    return bool(context.get("aws:cdk:bundling-stacks", ["**"]))


def main() -> None:
    """``cdk synth``: one readable line instead of a traceback when the bundle cannot build."""
    if _bundles():
        try:
            # Before the app: raised inside CDK's bundling callback (while the
            # function is constructed), it would come back in a jsii traceback.
            ensure_dependencies()
        except BundlingError as error:
            sys.exit(f"alb502: {error}")
    try:
        app = build_app()
    except ValueError as error:
        sys.exit(f"alb502: bad setting: {error}")
    app.synth()


if __name__ == "__main__":
    main()
