"""A caller of ``imaging.client`` as a user writes one, checked by ``mypy --strict``
(``tests/test_client.py::test_a_strict_caller_type_checks``): every public name
imports without an implicit re-export, and results are typed, not ``Any``.
Never run; only type-checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from imaging.client import (
    TLS,
    AdminClient,
    AsyncClient,
    CaptionerClient,
    CaptionToken,
    Client,
    Decoding,
    FieldViolation,
    Generation,
    ImagingError,
    InvalidArgumentError,
    Progress,
    Quota,
    QuotaExceededError,
    RateLimitError,
    RetryEvent,
    RetryPolicy,
    UsageReport,
)


def log_retry(event: RetryEvent) -> None:
    print(event.method, event.attempt, event.delay_s, event.error.code_name)


def sync_caller(key: str, picture: Image.Image) -> str:
    retry = RetryPolicy(max_attempts=3, initial_backoff_s=0.1)
    with Client("127.0.0.1:50050", api_key=key, timeout_s=30, retry=retry, on_retry=log_retry) as client:
        result = client.captioner.caption(
            Path("cat.png"), b"\x89PNG...", picture, decoding=Decoding.beam_search(3)
        )
        texts: list[str] = [c.text for c in result.captions]
        stream = client.captioner.stream_caption("cat.png", decoding=Decoding.sampling(top_p=0.9, seed=1))
        tokens: list[CaptionToken] = list(stream)
        final_text: str = stream.result.text
        vectors: NDArray[np.float32] = client.captioner.embed_images(picture).vectors
        text_vectors: NDArray[np.float32] = client.captioner.embed_texts("a red circle").vectors
        similarity = float(vectors[0] @ text_vectors[0])
        best: str = client.captioner.match(picture, "a red circle", "a blue square").ranked()[0].text
        attention = client.captioner.attention(picture)
        means: NDArray[np.float32] = attention.mean()
        words: list[str] = [t.text for t in attention.tokens]
        generation: Generation = client.generator.generate("a red circle", variant="flux.1-schnell", seed=7)
        image: Image.Image = generation.images[0].image
        generation.images[0].save("out.png")
        progress = client.generator.stream_generate(
            "a red circle", variant="flux.1-schnell", aspect_ratio="16:9"
        )
        steps: list[Progress] = list(progress)
        cost_micros: int = progress.final().usage.cost.amount_micros
        report: UsageReport = client.usage.get()
        left: int | None = report.remaining_images
        print(
            texts,
            tokens,
            final_text,
            similarity,
            best,
            means.shape,
            words,
            image.size,
            steps,
            cost_micros,
            left,
        )
    return final_text


def errors_caller(key: str) -> list[FieldViolation]:
    with CaptionerClient(
        "127.0.0.1:50050", api_key=key, tls=TLS(root_certificates=Path("ca.pem"))
    ) as captioner:
        try:
            captioner.caption(b"not an image")
        except InvalidArgumentError as error:
            return list(error.field_violations)
        except RateLimitError as error:
            delay: float | None = error.retry_delay_s
            print(delay)
        except QuotaExceededError as error:
            print([(v.subject, v.description) for v in error.quota_violations])
        except ImagingError as error:
            print(error.code_name, error.reason, error.request_id, dict(error.metadata))
    return []


def admin_caller(token: str) -> str:
    with AdminClient("127.0.0.1:50050", admin_token=token, identity="alice") as admin:
        created = admin.create_key("billing", quota=Quota(plan="free", requests_per_minute=10))
        ids: list[str] = [k.key_id for k in admin.list_keys(show_revoked=True)]
        rotated = admin.rotate_key(created.key.key_id, grace_period_s=3600)
        admin.revoke_key(created.key.key_id)
        records = [r.usage.image_count for r in admin.export_usage(key_id=created.key.key_id)]
        print(ids, rotated.old_secret_expires, records)
        return rotated.secret


async def async_caller(key: str, token: str) -> tuple[str, int]:
    async with AsyncClient("127.0.0.1:50050", api_key=key, admin_token=token) as client:
        result = await client.captioner.caption("cat.png")
        stream = client.captioner.stream_caption("cat.png")
        pieces: list[str] = [token.text async for token in stream]
        async with client.generator.stream_generate("a red circle", variant="flux.1-schnell") as progress:
            async for step in progress:
                print(step.step, step.total_steps, step.remaining_s)
            generation: Generation = await progress.final()
        keys = [k.key_id async for k in client.admin.list_keys()]
        usage = await client.usage.get()
        print(pieces, keys, generation.seed)
        return result.text, usage.usage.image_count


if __name__ == "__main__":
    asyncio.run(async_caller("img_...", "token"))
