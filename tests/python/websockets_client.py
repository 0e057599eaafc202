"""A d-zone viewer written with python `websockets` (compression on, as by
default): prints, one JSON object per line, the extension the server
answered, the server list, the answer to a connect, and the Close code
after a message over the size limit. Used by tests/compression.rs."""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def main(uri: str, big: int) -> None:
    async with connect(uri, max_size=None) as ws:
        deflate = [e for e in ws.protocol.extensions if e.name == "permessage-deflate"]
        print(json.dumps({
            "header": ws.response.headers.get("Sec-WebSocket-Extensions"),
            "remote_no_context_takeover": deflate[0].remote_no_context_takeover if deflate else None,
            "local_no_context_takeover": deflate[0].local_no_context_takeover if deflate else None,
        }), flush=True)
        print(json.dumps({"list": await ws.recv()}), flush=True)
        await ws.send(json.dumps({"type": "connect", "data": {"server": "dworld"}}))
        print(json.dumps({"join": await ws.recv()}), flush=True)
        # Compressible padding: small on the wire, over the limit inflated.
        await ws.send(json.dumps({"type": "connect", "data": {"server": " " * big}}))
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            print(json.dumps({"close": [rcvd.code, rcvd.reason] if rcvd else None}), flush=True)


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
