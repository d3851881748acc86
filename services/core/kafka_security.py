"""How every Kafka client of a process connects: TLS and SASL options from the settings, in aiokafka's terms.

The plain aiokafka clients (producers, the admin client, the lag consumer, the split process) take
``client_options`` as keyword arguments; the Faust worker builds its credentials from the same
``ssl_context`` and settings (streams/app.py), so one set of CRMIO_KAFKA_* settings reaches them all.
"""

from __future__ import annotations

import ssl
from typing import Any

from services.core.errors import StackError
from services.core.settings import Settings

__all__ = ["client_options", "ssl_context", "unreachable", "uses_sasl", "uses_tls"]


def uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of every client, or None without TLS; a missing file is named with its setting."""
    if not uses_tls(settings):
        return None
    for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
        path = getattr(settings, name)
        if path is not None and not path.is_file():
            raise StackError(f"CRMIO_{name.upper()}={path} is not a readable file; point it at the PEM file")
    if (settings.kafka_ssl_certfile is None) != (settings.kafka_ssl_keyfile is None):
        raise StackError(
            "CRMIO_KAFKA_SSL_CERTFILE and CRMIO_KAFKA_SSL_KEYFILE go together (a client certificate and its key); "
            "set both for mutual TLS, or neither"
        )
    context = ssl.create_default_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
    )
    if settings.kafka_ssl_certfile is not None and settings.kafka_ssl_keyfile is not None:
        context.load_cert_chain(str(settings.kafka_ssl_certfile), str(settings.kafka_ssl_keyfile))
    # Brokers reached by IP or by names their certificates do not carry; the CA still signs them.
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if uses_sasl(settings):
        if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
            raise StackError(
                f"CRMIO_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs CRMIO_KAFKA_SASL_USERNAME "
                "and CRMIO_KAFKA_SASL_PASSWORD (the principal's SASL user)"
            )
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password.get_secret_value(),
        )
    return options


def unreachable(settings: Settings) -> str:
    """Why a client could not start, as far as crmio can tell: aiokafka reports a refused SASL login or TLS
    handshake as a failed bootstrap, like a broker that is down (the broker's reason is in its log)."""
    where = f"Kafka at {settings.kafka_bootstrap} is not reachable"
    if settings.kafka_security_protocol == "PLAINTEXT":
        return f"{where}; start it with `crmio stack up` or set CRMIO_KAFKA_BOOTSTRAP"
    checks = ["CRMIO_KAFKA_SECURITY_PROTOCOL"]
    if uses_sasl(settings):
        checks += ["CRMIO_KAFKA_SASL_MECHANISM", "CRMIO_KAFKA_SASL_USERNAME", "CRMIO_KAFKA_SASL_PASSWORD"]
    if uses_tls(settings):
        checks += ["CRMIO_KAFKA_SSL_CAFILE"]
    return f"{where} or refused this client's login or certificate; check CRMIO_KAFKA_BOOTSTRAP, {', '.join(checks)}"
