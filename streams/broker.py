"""How the Faust app reaches Kafka: broker URLs and the TLS/SASL credentials of every other client.

Faust's producer sends with acks=all (``producer_acks`` -1, its default) but without idempotence, which
Faust turns on only for exactly-once processing. Turning it on (a transport whose producer asked for it)
was tried for issue 16: with one broker of three SIGKILLed during an import, the worker's producer never
finished a flush again, so Faust committed no offset and sent no result (the job stalled for good); with
acks=all alone the same run was exact with a 4.7 s stall. What the worker sends is safe to receive twice:
results are recounted from the apply ledger, status events are compacted per job, the progress table keeps
the last value, start requests are handled once (docs/architecture.md). The plain aiokafka producers (API,
CLI, the split process) do send with idempotence.
"""

from __future__ import annotations

from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from services.core.kafka_security import ssl_context, uses_sasl
from services.core.settings import Settings

__all__ = ["broker_urls", "credentials"]


def broker_urls(settings: Settings) -> str:
    """Faust's broker setting: one URL per bootstrap server (a cluster lists several)."""
    servers = [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]
    return ";".join(f"kafka://{server}" for server in servers)


def credentials(settings: Settings) -> CredentialsT | None:
    """Faust's broker credentials from the same settings (and TLS context) as every other client."""
    context = ssl_context(settings)
    if uses_sasl(settings):
        password = settings.kafka_sasl_password
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password is not None else None,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    return SSLCredentials(context) if context is not None else None
