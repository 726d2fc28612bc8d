"""``UsageService``: the calling key's usage this month and what is left."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeAlias

import grpc

from gateway import convert
from gateway.auth import Authenticator, text_metadata
from gateway.ratelimit import RateLimiter, take_token
from gateway.store.ledger import Ledger, period_of, period_start
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc

_Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class UsageServicer(gateway_pb2_grpc.UsageServiceServicer):
    def __init__(
        self,
        auth: Authenticator,
        limiter: RateLimiter,
        ledger: Ledger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._auth = auth
        self._limiter = limiter
        self._ledger = ledger
        self._clock = clock

    async def GetUsage(
        self, request: gateway_pb2.GetUsageRequest, context: _Context
    ) -> gateway_pb2.GetUsageResponse:
        principal = await self._auth.authenticate(text_metadata(context), context.peer())
        await take_token(self._limiter, principal.subject, principal.limits.requests_per_minute)
        now = self._clock()
        period = period_of(now)
        counter, breakdown = await self._ledger.period_usage(principal.subject, period)
        limits = principal.limits
        currency = limits.currency_code
        images_used = counter.images_used if counter else 0
        spend_used = counter.spend_used_micros if counter else 0
        response = gateway_pb2.GetUsageResponse(
            period_start_time=convert.timestamp(period_start(period)),
            period_usage=common_pb2.Usage(
                image_count=images_used,
                megapixels=sum(row.megapixels or 0.0 for row in breakdown),
                input_megapixels=sum(row.input_megapixels or 0.0 for row in breakdown),
                token_count=sum(int(row.tokens or 0) for row in breakdown),
                cost=common_pb2.Cost(currency_code=currency, amount_micros=spend_used),
            ),
            breakdown=[
                gateway_pb2.UsageBreakdown(
                    method=row.method,
                    model=row.model,
                    usage=common_pb2.Usage(
                        image_count=int(row.images),
                        megapixels=float(row.megapixels or 0.0),
                        input_megapixels=float(row.input_megapixels or 0.0),
                        token_count=int(row.tokens or 0),
                        cost=common_pb2.Cost(currency_code=currency, amount_micros=int(row.cost_micros or 0)),
                    ),
                )
                for row in breakdown
            ],
        )
        if principal.key is not None:
            response.key.CopyFrom(convert.api_key(principal.key, now))
        else:
            response.key.CopyFrom(gateway_pb2.ApiKey(key_id=principal.subject, quota=convert.quota(limits)))
        reserved_images = counter.images_reserved if counter else 0
        reserved_spend = counter.spend_reserved_micros if counter else 0
        if limits.images_per_month:
            response.remaining_images = max(limits.images_per_month - images_used - reserved_images, 0)
        if limits.spend_per_month_micros:
            response.remaining_spend.CopyFrom(
                common_pb2.Cost(
                    currency_code=currency,
                    amount_micros=max(limits.spend_per_month_micros - spend_used - reserved_spend, 0),
                )
            )
        return response
