"""The 502 vocabulary of ``causes.md``: the closed set of causes, the code
families of the load balancer's own error_reason codes, and what a person
should do about each cause.

These names are a public contract (Athena queries, the ``Cause`` metric
dimension, alarms): they change only on purpose, with the docs and tests.
"""

from __future__ import annotations

import fnmatch

TARGET_APP_ERROR = "target_app_error"
TARGET_UNREACHABLE = "target_unreachable"
TARGET_CLOSED_KEEPALIVE = "target_closed_keepalive"
TARGET_CONNECTION_CLOSED = "target_connection_closed"
FIXED_RESPONSE = "fixed_response"
LAMBDA_RESPONSE_TOO_LARGE = "lambda_response_too_large"
LAMBDA_THROTTLED = "lambda_throttled"
LAMBDA_FUNCTION_ERROR = "lambda_function_error"
LAMBDA_CONFIG_ERROR = "lambda_config_error"
LAMBDA_SERVICE_ERROR = "lambda_service_error"
LAMBDA_REQUEST_REJECTED = "lambda_request_rejected"
WAF_ERROR = "waf_error"
AUTH_ERROR = "auth_error"
ROUTING_ERROR = "routing_error"
UNKNOWN = "unknown"

CAUSES: tuple[str, ...] = (
    TARGET_APP_ERROR,
    TARGET_UNREACHABLE,
    TARGET_CLOSED_KEEPALIVE,
    TARGET_CONNECTION_CLOSED,
    FIXED_RESPONSE,
    LAMBDA_RESPONSE_TOO_LARGE,
    LAMBDA_THROTTLED,
    LAMBDA_FUNCTION_ERROR,
    LAMBDA_CONFIG_ERROR,
    LAMBDA_SERVICE_ERROR,
    LAMBDA_REQUEST_REJECTED,
    WAF_ERROR,
    AUTH_ERROR,
    ROUTING_ERROR,
    UNKNOWN,
)

#: Rule 2: the load balancer's own error_reason codes, by family. Patterns
#: are shell-style (``WAF*``); the first family that matches wins.
CODE_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (LAMBDA_RESPONSE_TOO_LARGE, ("LambdaResponseTooLarge",)),
    (LAMBDA_THROTTLED, ("LambdaThrottling", "LambdaEC2ThrottledException")),
    (LAMBDA_FUNCTION_ERROR, ("LambdaUnhandled", "LambdaInvalidResponse")),
    (
        LAMBDA_CONFIG_ERROR,
        (
            "LambdaAccessDenied",
            "LambdaResourceNotFound",
            "LambdaInvalidRuntimeException",
            "LambdaInvalidSecurityGroupIDException",
            "LambdaInvalidSubnetIDException",
            "LambdaInvalidZipFileException",
            "LambdaKMS*",
            "LambdaENILimitReachedException",
            "LambdaSubnetIPAddressLimitReachedException",
            "LambdaEC2AccessDeniedException",
            "LambdaEC2UnexpectedException",
        ),
    ),
    (
        LAMBDA_SERVICE_ERROR,
        (
            "LambdaConnectionError",
            "LambdaConnectionTimeout",
            "LambdaServiceException",
            "LambdaUnhandledException",
        ),
    ),
    (
        LAMBDA_REQUEST_REJECTED,
        ("LambdaBadRequest", "LambdaRequestTooLarge", "LambdaWebsocketNotSupported"),
    ),
    (WAF_ERROR, ("WAF*",)),
    (AUTH_ERROR, ("Auth*", "JWT*", "JWKS*")),
    (ROUTING_ERROR, ("AWSALBTGCookieInvalid", "WeightedTargetGroupsUnhandledException")),
)


def cause_of_code(code: str) -> str:
    """Rule 2's family table: the cause for a logged error_reason code."""
    for cause, patterns in CODE_FAMILIES:
        if any(fnmatch.fnmatchcase(code, pattern) for pattern in patterns):
            return cause
    return UNKNOWN


#: What each cause means and where to look (shown by ``alb502 report``).
REMEDIES: dict[str, str] = {
    TARGET_APP_ERROR: "The target itself answered 502 (often a proxy or sidecar in it whose "
    "own upstream failed): read the target's logs, not the load balancer's.",
    TARGET_UNREACHABLE: "No usable connection to the target: check target health, the port, "
    "security groups and network ACLs from the load balancer subnets, and the target's TLS "
    "policy for HTTPS targets.",
    TARGET_CLOSED_KEEPALIVE: "The target served requests just before and after, so it likely "
    "closed an idle keep-alive connection first: make its keep-alive timeout longer than the "
    "load balancer's idle timeout (60 s by default); check connection limits and backlogs. "
    "(An inference over one log object, not a certainty.)",
    TARGET_CONNECTION_CLOSED: "The request reached the target, which reset or closed the "
    "connection or sent no valid HTTP response: look for crashes, OOM kills, timeouts, "
    "oversized headers, and targets deregistered mid-request (raise the deregistration delay).",
    FIXED_RESPONSE: "A listener rule is configured to answer 502.",
    LAMBDA_RESPONSE_TOO_LARGE: "The Lambda target returned more than 1 MB.",
    LAMBDA_THROTTLED: "Lambda throttled the target function: raise its concurrency.",
    LAMBDA_FUNCTION_ERROR: "The Lambda target raised, timed out, or returned a response the "
    "load balancer could not use: read the function's logs.",
    LAMBDA_CONFIG_ERROR: "The Lambda target's permissions, VPC, KMS or package are broken.",
    LAMBDA_SERVICE_ERROR: "The load balancer failed talking to Lambda: usually transient; "
    "watch for recurrence.",
    LAMBDA_REQUEST_REJECTED: "The client request could not be passed to Lambda (not UTF-8, "
    "over 1 MB, or WebSocket).",
    WAF_ERROR: "The load balancer failed talking to AWS WAF.",
    AUTH_ERROR: "The authenticate action or JWT validation failed talking to the identity "
    "provider.",
    ROUTING_ERROR: "Weighted target group routing failed (stickiness cookie or internal error).",
    UNKNOWN: "No rule matched: the row keeps every field needed to look by hand.",
}
