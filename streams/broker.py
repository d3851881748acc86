"""How the Faust app reaches Kafka: broker URLs, TLS/SASL credentials and an idempotent producer.

Faust turns on idempotence only for exactly-once processing, which crmio does not use (its effects
are made exactly-once by the apply ledger, docs/architecture.md); its producer sends with acks=all
(``producer_acks`` -1) but without idempotence, so a retried send after a broker failover could write an
event twice. The transport below is Faust's aiokafka transport with a producer that always asks for
both, registered under the ``crmio`` URL scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.auth import SASLCredentials, SSLCredentials
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.auth import CredentialsT

from services.core.kafka_security import ssl_context, uses_sasl
from services.core.settings import Settings

__all__ = ["Transport", "broker_urls", "credentials"]

SCHEME = "crmio"


class Producer(faust_aiokafka.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class Transport(faust_aiokafka.Transport):
    Producer = Producer


drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"


def broker_urls(settings: Settings) -> str:
    """Faust's broker setting: one URL per bootstrap server (a cluster lists several)."""
    servers = [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]
    return ";".join(f"{SCHEME}://{server}" for server in servers)


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
