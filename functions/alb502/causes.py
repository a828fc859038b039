"""The vocabulary of ``causes.md`` (version 2): the closed set of causes, the
code families of the load balancer's own error_reason codes, and what a
person should do about each cause.

These names are a public contract (Athena queries, the ``Cause`` metric
dimension, alarms): they change only on purpose, with the docs and tests.
"""

from __future__ import annotations

import fnmatch

#: Which version of ``causes.md`` tagged a row (the ``tagger_version`` column).
TAGGER_VERSION = 2

TARGET_APP_ERROR = "target_app_error"
TARGET_CLOSED_KEEPALIVE = "target_closed_keepalive"
TARGET_RESTARTING = "target_restarting"
TARGET_DEREGISTERED = "target_deregistered"
TARGET_UNREACHABLE = "target_unreachable"
TARGET_CONNECT_TIMEOUT = "target_connect_timeout"
TARGET_RESPONSE_TIMEOUT = "target_response_timeout"
TARGET_INVALID_RESPONSE = "target_invalid_response"
TARGET_CONNECTION_CLOSED = "target_connection_closed"
NO_TARGETS = "no_targets"
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
    TARGET_CLOSED_KEEPALIVE,
    TARGET_RESTARTING,
    TARGET_DEREGISTERED,
    TARGET_UNREACHABLE,
    TARGET_CONNECT_TIMEOUT,
    TARGET_RESPONSE_TIMEOUT,
    TARGET_INVALID_RESPONSE,
    TARGET_CONNECTION_CLOSED,
    NO_TARGETS,
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


#: What each cause means and what to do: ``causes.md``'s remedies, shown by
#: ``alb502 report`` next to each cause.
REMEDIES: dict[str, str] = {
    TARGET_APP_ERROR: "The target answered 502 itself: a proxy or sidecar in the target "
    "(nginx, envoy, a gateway) whose own upstream failed, or a Lambda function that returned "
    "statusCode 502. Read the target's logs, not the load balancer's.",
    TARGET_CLOSED_KEEPALIVE: "Isolated failures on a target that served fine around them: it "
    "closed an idle keep-alive connection just as the load balancer reused it. Make the "
    "target's keep-alive timeout longer than the load balancer's idle timeout (60 s by "
    "default): Node.js server.keepAliveTimeout = 65000 and headersTimeout = 66000; gunicorn "
    "--keep-alive 65; uvicorn --timeout-keep-alive 65; Puma persistent_timeout 65; Apache "
    "KeepAliveTimeout 65.",
    TARGET_RESTARTING: "A dense run of refused connections on a target that served before and "
    "after: the process crashed or restarted (OOM kill, crash loop, in-place deploy) while "
    "still registered. Check restarts and kills, memory limits, and health checks too slow to "
    "notice.",
    TARGET_DEREGISTERED: "The target served, failed, then left the rotation: it was stopped "
    "before the load balancer drained it (deploy or scale-in without draining). Give the app a "
    "pre-stop delay longer than the load balancer needs to deregister it, and a "
    "deregistration delay that covers in-flight requests.",
    TARGET_UNREACHABLE: "Connections to the target were refused or failed and it did not come "
    "back: nothing listening on that port (wrong port, app bound to 127.0.0.1, process down), "
    "a host firewall rejecting, or a TLS handshake failure to an HTTPS target (compare the "
    "TargetTLSNegotiationErrorCount and TargetConnectionErrorCount metrics).",
    TARGET_CONNECT_TIMEOUT: "No connection within 10 s: security groups or network ACLs "
    "dropping the load balancer's traffic (or the return traffic on ephemeral ports), or an "
    "overloaded target.",
    TARGET_RESPONSE_TIMEOUT: "The target took longer than the load balancer's idle timeout to "
    "answer: slow requests. Raise the idle timeout or make the work asynchronous.",
    TARGET_INVALID_RESPONSE: "Requests to one path fail on several targets after being sent: "
    "the response is not valid HTTP for the load balancer (malformed status line or headers, "
    "headers over 32 KB, e.g. oversized cookies).",
    TARGET_CONNECTION_CLOSED: "The target reset or closed the connection after receiving the "
    "request: crashes mid-request, workers killed on timeout, proxies in the target dropping "
    "connections.",
    NO_TARGETS: "The target group has no registered targets.",
    FIXED_RESPONSE: "A listener rule is configured to answer with this code.",
    LAMBDA_RESPONSE_TOO_LARGE: "The Lambda target returned more than 1 MB: compress, paginate, "
    "or return a presigned S3 URL.",
    LAMBDA_THROTTLED: "Lambda throttled the function: check its reserved concurrency, the "
    "account limit and the Throttles metric.",
    LAMBDA_FUNCTION_ERROR: "The Lambda target raised, returned an unusable response, or timed "
    "out (target_processing_time near the function's timeout): fix the function or raise its "
    "timeout.",
    LAMBDA_CONFIG_ERROR: "The Lambda target's permissions, VPC, KMS or package are broken.",
    LAMBDA_SERVICE_ERROR: "The load balancer failed talking to Lambda: usually transient; "
    "watch for recurrence.",
    LAMBDA_REQUEST_REJECTED: "The client request could not be passed to Lambda (not UTF-8, "
    "over 1 MB, or WebSocket).",
    WAF_ERROR: "The load balancer failed talking to AWS WAF (logged as 500).",
    AUTH_ERROR: "The authenticate action failed talking to the identity provider (500 when it "
    "is unreachable or slower than 5 s, 561 when it returned an error).",
    ROUTING_ERROR: "Weighted target group routing failed (stickiness cookie or internal error).",
    UNKNOWN: "No rule matched: the row keeps every field needed to look by hand.",
}
