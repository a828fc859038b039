"""Realistic synthetic ALB access-log traffic, for tests, the demo and benchmarks.

The lines follow AWS's documented format (``../shared/alb-log-format.md``):
today's 33 fields by default, mixed protocols, methods, paths, user agents
(with spaces), IPv6 clients, several targets per target group, a Lambda
target group, redirects, 4xx/5xx, and, when asked, 502s with the signature
of every cause of ``causes.md``. Everything is drawn from one seeded
``random.Random``, so the same arguments always give the same lines.

Speed matters (the benchmarks write 1M-line objects): every choice is drawn
from precomputed pools and each line is one f-string.
"""

from __future__ import annotations

import argparse
import gzip
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from isal import igzip

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_LOAD_BALANCER = "app/shop-prod/50dc6c495c0c9188"

#: Field counts AWS has written over the years (see alb-log-format.md).
FORMATS = (29, 30, 33, 36)

# The 502 signatures the generator can write, with the cause causes.md gives
# each. "unclassified" is an ELB 502 with no logged reason and no target.
CAUSE_OF_KIND: dict[str, str] = {
    "target_app_error": "target_app_error",
    "target_unreachable": "target_unreachable",
    "target_closed_keepalive": "target_closed_keepalive",
    "target_connection_closed": "target_connection_closed",
    "fixed_response": "fixed_response",
    "lambda_function_error": "lambda_function_error",
    "lambda_throttled": "lambda_throttled",
    "lambda_response_too_large": "lambda_response_too_large",
    "lambda_config_error": "lambda_config_error",
    "lambda_service_error": "lambda_service_error",
    "lambda_request_rejected": "lambda_request_rejected",
    "waf_error": "waf_error",
    "auth_error": "auth_error",
    "routing_error": "routing_error",
    "unknown_code": "unknown",
    "unclassified": "unknown",
}

# Relative frequency of each kind among the random (non-coverage) 502s:
# in real fleets target-side failures dominate.
_KIND_WEIGHTS: dict[str, int] = {
    "target_app_error": 30,
    "target_closed_keepalive": 22,
    "target_connection_closed": 10,
    "target_unreachable": 8,
    "fixed_response": 3,
    "lambda_function_error": 4,
    "lambda_throttled": 3,
    "lambda_response_too_large": 1,
    "lambda_config_error": 1,
    "lambda_service_error": 2,
    "lambda_request_rejected": 1,
    "waf_error": 2,
    "auth_error": 2,
    "routing_error": 1,
    "unknown_code": 1,
    "unclassified": 1,
}

_CODES: dict[str, tuple[str, ...]] = {
    "lambda_function_error": ("LambdaUnhandled", "LambdaInvalidResponse"),
    "lambda_throttled": ("LambdaThrottling", "LambdaEC2ThrottledException"),
    "lambda_response_too_large": ("LambdaResponseTooLarge",),
    "lambda_config_error": (
        "LambdaAccessDenied",
        "LambdaResourceNotFound",
        "LambdaKMSAccessDeniedException",
        "LambdaENILimitReachedException",
    ),
    "lambda_service_error": (
        "LambdaConnectionError",
        "LambdaConnectionTimeout",
        "LambdaServiceException",
    ),
    "lambda_request_rejected": ("LambdaBadRequest", "LambdaRequestTooLarge"),
    "waf_error": ("WAFConnectionError", "WAFConnectionTimeout", "WAFServiceError"),
    "auth_error": ("AuthTokenEpRequestFailed", "AuthInvalidIdToken", "JWKSRequestTimeout"),
    "routing_error": ("AWSALBTGCookieInvalid", "WeightedTargetGroupsUnhandledException"),
    # Not a documented code: the classifier must keep it verbatim as unknown.
    "unknown_code": ("TargetStreamAbortedUnknown",),
}

_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.81 Mobile Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
    "Go-http-client/2.0",
    "Amazon CloudFront",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "-",
)
_UA_WEIGHTS = (30, 14, 12, 8, 10, 4, 5, 3, 3, 4, 2, 1)

_PATHS = (
    "/",
    "/index.html",
    "/api/v1/products?page={n}&limit=24",
    "/api/v1/products/{n}",
    "/api/v1/cart/{n}/items",
    "/api/v2/orders/{n}",
    "/api/v2/orders?status=open&customer={n}",
    "/search?q=running+shoes&sort=price_asc&p={n}",
    "/static/js/app.{n}.js",
    "/static/css/main.{n}.css",
    "/images/products/{n}/large.webp",
    "/account/login",
    "/graphql",
    "/checkout/session/{n}",
)
_PATH_WEIGHTS = (6, 3, 12, 14, 6, 8, 4, 5, 9, 5, 12, 3, 6, 2)
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
_METHOD_WEIGHTS = (72, 16, 4, 2, 2, 2, 2)

# (type, weight). ws/wss are WebSocket upgrades (status 101).
_TYPES = (("https", 52), ("h2", 34), ("http", 10), ("wss", 2), ("ws", 1), ("grpcs", 1))

_CIPHERS = (
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"),
    ("TLS_AES_128_GCM_SHA256", "TLSv1.3"),
    ("TLS_AES_256_GCM_SHA384", "TLSv1.3"),
)

_IPV6_PREFIXES = ("2001:db8:85a3", "2600:1f18:4a3b", "2a05:d018:1c2")

# Ordinary (non-502) outcomes of a forwarded request: (elb, target, weight).
_OUTCOMES = (
    ("200", "200", 780),
    ("304", "304", 50),
    ("201", "201", 25),
    ("204", "204", 15),
    ("404", "404", 40),
    ("400", "400", 8),
    ("401", "401", 10),
    ("403", "403", 6),
    ("500", "500", 4),
    ("503", "503", 2),
)


@dataclass(frozen=True)
class _TargetGroup:
    arn: str
    targets: tuple[str, ...]  # "ip:port"; empty for a Lambda target group
    dead: str  # a registered target that never answers (target_unreachable)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _target_groups(
    rng: random.Random, account: str, region: str, lb_name: str
) -> tuple[_TargetGroup, _TargetGroup, _TargetGroup]:
    prefix = f"arn:aws:elasticloadbalancing:{region}:{account}:targetgroup"
    third = rng.randrange(1, 200)
    web = _TargetGroup(
        arn=f"{prefix}/{lb_name}-web/{_hex(rng, 16)}",
        targets=tuple(f"10.0.{third}.{rng.randrange(10, 250)}:8080" for _ in range(4)),
        dead=f"10.0.{third}.251:8080",
    )
    api = _TargetGroup(
        arn=f"{prefix}/{lb_name}-api/{_hex(rng, 16)}",
        targets=tuple(f"10.0.{third + 1}.{rng.randrange(10, 250)}:9000" for _ in range(3)),
        dead=f"10.0.{third + 1}.252:9000",
    )
    fn = _TargetGroup(arn=f"{prefix}/{lb_name}-fn/{_hex(rng, 16)}", targets=(), dead="")
    return web, api, fn


class _Clock:
    """Formats epoch microseconds as ALB timestamps, caching the second prefix."""

    def __init__(self) -> None:
        self._sec = -1
        self._prefix = ""

    def fmt(self, us: int) -> str:
        sec, frac = divmod(us, 1_000_000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{frac:06d}Z"


def _epoch_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _sorted_offsets(rng: random.Random, lines: int, span_us: int) -> list[int]:
    # Strictly increasing, so "earlier" and "later" are never ties
    # (the keep-alive rule of causes.md compares times).
    offsets = sorted(int(rng.random() * span_us) for _ in range(lines))
    for i in range(1, lines):
        if offsets[i] <= offsets[i - 1]:
            offsets[i] = offsets[i - 1] + 1
    return offsets


def _coverage_slots(lines: int, kinds: list[str]) -> dict[int, str]:
    """Evenly spaced line numbers that get one 502 of each kind.

    They sit between 5% and 95% of the object so that the keep-alive kind
    always finds its target answering before and after it.
    """
    if lines < 4 * len(kinds):
        return {}
    first, last = lines // 20, lines - lines // 20
    step = (last - first) / len(kinds)
    return {first + int(i * step): kind for i, kind in enumerate(kinds)}


def generate_lines(
    *,
    load_balancer: str = DEFAULT_LOAD_BALANCER,
    start: datetime,
    minutes: int = 5,
    lines: int,
    seed: int,
    include_502_causes: bool = True,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    fields: int = 33,
    rate_502: float = 0.008,
    cover_all_causes: bool = True,
) -> Iterator[str]:
    """Yield ``lines`` ALB access-log lines (no newline), sorted by ``time``.

    ``load_balancer`` is the ``elb`` value (``app/<name>/<id>``). Times are
    spread over ``minutes`` (5: one ALB log object's interval) from
    ``start``. With ``include_502_causes`` every kind of
    ``CAUSE_OF_KIND`` appears at least once when ``lines`` >= 64, plus random
    502s at ``rate_502`` (total ~1%); without it there is no 502 at all.
    ``cover_all_causes=False`` keeps only the random, weighted 502s (a
    realistic mix where rare causes are rare).
    ``fields`` picks the format generation: 29, 30, 33 (today's) or 36.
    """
    if fields not in FORMATS:
        raise ValueError(f"fields must be one of {FORMATS}, not {fields}")
    if lines <= 0:
        return
    rng = random.Random(seed)
    lb_name = load_balancer.split("/")[1] if load_balancer.count("/") == 2 else "lb"
    # A load balancer keeps its target groups, targets and certificate from
    # one object to the next: they come from its name, not from the seed.
    fleet = random.Random(f"{account}/{region}/{load_balancer}")
    web, api, fn = _target_groups(fleet, account, region, lb_name)
    domain = f"{lb_name}.example.com"
    api_domain = f"api.{lb_name}.example.com"
    cert_id = (
        f"{_hex(fleet, 8)}-{_hex(fleet, 4)}-4{_hex(fleet, 3)}-a{_hex(fleet, 3)}-{_hex(fleet, 12)}"
    )
    cert = f"arn:aws:acm:{region}:{account}:certificate/{cert_id}"
    node_ip = f"10.0.{rng.randrange(200, 250)}.{rng.randrange(2, 250)}"
    span_us = minutes * 60_000_000
    base_us = _epoch_us(start)
    offsets = _sorted_offsets(rng, lines, span_us)
    clock = _Clock()
    created_clock = _Clock()

    # Bulk draws are much faster than one weighted choice per line.
    types = rng.choices([t for t, _ in _TYPES], [w for _, w in _TYPES], k=lines)
    uas = rng.choices(_USER_AGENTS, _UA_WEIGHTS, k=lines)
    paths = rng.choices(_PATHS, _PATH_WEIGHTS, k=lines)
    methods = rng.choices(_METHODS, _METHOD_WEIGHTS, k=lines)
    outcomes = rng.choices(_OUTCOMES, [w for _, _, w in _OUTCOMES], k=lines)
    kinds = list(CAUSE_OF_KIND)
    rng.shuffle(kinds)
    coverage = _coverage_slots(lines, kinds) if include_502_causes and cover_all_causes else {}
    weighted_kinds = list(_KIND_WEIGHTS)
    kind_weights = list(_KIND_WEIGHTS.values())
    rate = rate_502 if include_502_causes else 0.0
    if fields == 29:
        tail = ""
    elif fields == 30:
        tail = " TID_{tid}"
    elif fields == 33:
        tail = ' TID_{tid} "-" "-" "-"'
    else:
        tail = ' TID_{tid} "-" "-" "-" ' + node_ip + " - -"

    pending: list[str] = []  # 502 kinds waiting for a line where they fit
    last_ok: tuple[str, _TargetGroup] | None = None
    force: tuple[str, _TargetGroup] | None = None  # keep-alive needs an answer after it

    for i in range(lines):
        us = base_us + offsets[i]
        time = clock.fmt(us)
        kind = ""
        slot = coverage.get(i)
        if slot is not None:
            pending.append(slot)
        elif rate and rng.random() < rate:
            pending.append(rng.choices(weighted_kinds, kind_weights)[0])
        if force is None and pending:
            for j, candidate in enumerate(pending):
                if candidate == "target_closed_keepalive" and (last_ok is None or i >= lines - 1):
                    continue
                kind = pending.pop(j)
                break

        typ = types[i]
        ua = uas[i]
        method = methods[i]
        path = paths[i]
        if "{n}" in path:
            path = path.replace("{n}", str(rng.randrange(1, 99_999)))
        if rng.random() < 0.06:
            prefix = _IPV6_PREFIXES[i % 3]
            client = f"{prefix}::{rng.randrange(1, 0xFFFF):x}:{rng.randrange(1, 0xFFFF):x}"
        else:
            n = rng.getrandbits(24)
            client = f"{rng.randrange(1, 223)}.{n >> 16}.{(n >> 8) & 255}.{(n & 254) + 1}"
        cport = rng.randrange(1024, 65535)
        if typ in ("http", "ws"):
            cipher, proto_tls, sni, cert_field = "-", "-", "-", "-"
            scheme, port = "http", 80
        else:
            cipher, proto_tls = _CIPHERS[i % 3]
            scheme, port = "https", 443
            cert_field = cert if rng.random() < 0.4 else "session-reused"
        http_proto = "HTTP/2.0" if typ in ("h2", "grpcs") else "HTTP/1.1"
        if typ in ("ws", "wss") or path.startswith(("/static", "/images")):
            method = "GET"

        # Where the request went.
        if kind:
            group = fn if kind.startswith("lambda") else (api if rng.random() < 0.4 else web)
        elif force is not None:
            group = force[1]
        elif path.startswith("/api/v2") and typ not in ("ws", "wss"):
            group = fn  # the orders service runs on Lambda
        elif path.startswith("/api"):
            group = api
        else:
            group = web
        host = api_domain if group is not web else domain
        if typ not in ("http", "ws"):
            sni = host
        rule = "0" if group is web else ("2" if group is api else "3")
        received = (
            rng.randrange(180, 2400)
            if method in ("GET", "HEAD", "OPTIONS")
            else rng.randrange(600, 9000)
        )
        actions = "forward"
        redirect = "-"
        reason = "-"
        tg_arn = group.arn
        rpt = f"{rng.randrange(0, 3) / 1000:.3f}"
        resp = "0.000"

        if kind == "":
            tpt = f"{rng.expovariate(25.0):.3f}"
            if force is not None:
                target = force[0]
                force = None
                elb, tsc = "200", "200"
            elif typ == "http" and rng.random() < 0.5:
                # Plain HTTP is redirected to HTTPS by a listener rule.
                target, tg_arn, tsc, elb = "-", "-", "-", "301"
                rpt, tpt, resp = "-1", "-1", "-1"
                actions = "redirect"
                redirect = f"https://{host}:443{path}"
                rule = "1"
            elif rng.random() < 0.003:
                # The client gave up before the target answered.
                target = group.targets[i % len(group.targets)] if group.targets else "-"
                elb, tsc, tpt, resp = "460", "-", "-1", "-1"
            elif rng.random() < 0.002 and group.targets:
                # The target did not answer within the idle timeout.
                target = group.targets[i % len(group.targets)]
                elb, tsc, tpt, resp = "504", "-", "-1", "-1"
            else:
                elb, tsc = outcomes[i][0], outcomes[i][1]
                if typ in ("ws", "wss"):
                    elb, tsc = "101", "101"
                if group.targets:
                    target = group.targets[rng.randrange(len(group.targets))]
                    last_ok = (target, group)
                else:
                    target = "-"  # Lambda targets log no target:port
        else:
            elb = "502"
            tsc = "-"
            tpt = f"{rng.expovariate(20.0):.3f}"
            if kind == "target_app_error":
                target = group.targets[rng.randrange(len(group.targets))]
                tsc = "502"
            elif kind == "target_unreachable":
                target = group.dead
                rpt, tpt, resp = "-1", "-1", "-1"
            elif kind == "target_closed_keepalive":
                assert last_ok is not None
                target, group = last_ok
                tg_arn = group.arn
                rpt, tpt, resp = "-1", "-1", "-1"
                force = last_ok
            elif kind == "target_connection_closed":
                target = group.targets[rng.randrange(len(group.targets))]
                tpt, resp = "-1", "-1"
            elif kind == "fixed_response":
                target, tg_arn = "-", "-"
                rpt, tpt, resp = "-1", "-1", "-1"
                actions = "fixed-response"
                rule = "5"
            elif kind == "unclassified":
                target = "-"
                rpt, tpt, resp = "-1", "-1", "-1"
            else:
                target = "-"
                reason = _CODES[kind][rng.randrange(len(_CODES[kind]))]
                if kind == "waf_error":
                    actions, tg_arn = "waf", "-"
                    rpt, tpt, resp = "-1", "-1", "-1"
                elif kind == "auth_error":
                    actions, tg_arn = "authenticate", "-"
                    rpt, tpt, resp = "-1", "-1", "-1"
                elif kind == "routing_error":
                    rpt, tpt, resp = "-1", "-1", "-1"

        sent = rng.randrange(150, 48_000) if elb in ("200", "201") else rng.randrange(90, 700)
        if target != "-" and tsc != "-":
            created_us = us - rng.randrange(500, 250_000)
        else:
            created_us = us - rng.randrange(50, 5_000)
        created = created_clock.fmt(created_us)
        target_list = target
        tsc_list = tsc
        trace = f"Root=1-{us // 1_000_000:08x}-{rng.getrandbits(96):024x}"
        line = (
            f"{typ} {time} {load_balancer} {client}:{cport} {target} {rpt} {tpt} {resp} "
            f"{elb} {tsc} {received} {sent} "
            f'"{method} {scheme}://{host}:{port}{path} {http_proto}" "{ua}" {cipher} {proto_tls} '
            f'{tg_arn} "{trace}" "{sni}" "{cert_field}" {rule} {created} "{actions}" '
            f'"{redirect}" "{reason}" "{target_list}" "{tsc_list}" "-" "-"'
        )
        if tail:
            line += tail.format(tid=f"{rng.getrandbits(64):016x}")
        yield line


def _gzip_writer(raw: BinaryIO) -> gzip.GzipFile:
    # ISA-L's igzip writes standard gzip several times faster than zlib;
    # IGzipFile is a GzipFile subclass without type hints. No name, mtime 0:
    # the bytes depend only on the lines.
    writer = igzip.IGzipFile(filename="", fileobj=raw, mode="wb", mtime=0)  # type: ignore[no-untyped-call]
    return cast(gzip.GzipFile, writer)


def write_object(path: str | Path, lines: Iterable[str]) -> None:
    """Write ``lines`` as one gzip log object (newline-terminated lines).

    The gzip header carries mtime 0 so the bytes depend only on the lines.
    """
    chunk: list[str] = []
    with open(path, "wb") as raw, _gzip_writer(raw) as out:
        for line in lines:
            chunk.append(line)
            if len(chunk) == 8192:
                chunk.append("")
                out.write("\n".join(chunk).encode())
                chunk.clear()
        if chunk:
            chunk.append("")
            out.write("\n".join(chunk).encode())


def object_key(
    account: str,
    region: str,
    load_balancer: str,
    interval_end: datetime,
    node_ip: str,
    suffix: str,
) -> str:
    """The key ALB gives a log object (without the bucket's own prefix).

    ``AWSLogs/<acct>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/
    <acct>_elasticloadbalancing_<region>_app.<name>.<id>_<yyyymmddThhmmZ>_<node-ip>_<suffix>.log.gz``;
    the date folders are the delivery date, i.e. the interval end's.
    """
    end = interval_end.astimezone(UTC) if interval_end.tzinfo else interval_end
    lb = load_balancer.replace("/", ".")
    return (
        f"AWSLogs/{account}/elasticloadbalancing/{region}/{end:%Y/%m/%d}/"
        f"{account}_elasticloadbalancing_{region}_{lb}_{end:%Y%m%dT%H%MZ}_{node_ip}_{suffix}.log.gz"
    )


def object_suffix(seed: int) -> str:
    """A deterministic stand-in for the random part of an ALB object name."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))


def main(argv: list[str] | None = None) -> None:
    """``python -m alb502.dev.traffic OUT.log.gz --lines N``: write one object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--load-balancer", default=DEFAULT_LOAD_BALANCER)
    parser.add_argument("--start", default="2026-11-20T12:00:00Z", help="ISO 8601, UTC")
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--fields", type=int, default=33, choices=FORMATS)
    parser.add_argument("--no-502-causes", action="store_true")
    args = parser.parse_args(argv)
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
    write_object(
        args.out,
        generate_lines(
            load_balancer=args.load_balancer,
            start=start,
            minutes=args.minutes,
            lines=args.lines,
            seed=args.seed,
            include_502_causes=not args.no_502_causes,
            fields=args.fields,
        ),
    )


if __name__ == "__main__":
    main()
