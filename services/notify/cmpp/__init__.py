"""CMPP 3.0 (China Mobile Peer to Peer) SMS: codec and asyncio SP client.

The gateway peer for tests and the embedded default is `services.notify.cmpp.peer`.
"""

from services.notify.cmpp.client import (
    CmppAuthError,
    CmppClient,
    CmppClientConfig,
    CmppConnectionError,
    CmppSubmitError,
    CmppTimeoutError,
)
from services.notify.cmpp.codec import (
    CmppDecodeError,
    CmppEncodeError,
    CmppError,
    ConnectStatus,
    DeliverResult,
    MsgFmt,
    MsgId,
    SubmitResult,
)

__all__ = [
    "CmppAuthError",
    "CmppClient",
    "CmppClientConfig",
    "CmppConnectionError",
    "CmppDecodeError",
    "CmppEncodeError",
    "CmppError",
    "CmppSubmitError",
    "CmppTimeoutError",
    "ConnectStatus",
    "DeliverResult",
    "MsgFmt",
    "MsgId",
    "SubmitResult",
]
