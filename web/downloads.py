"""Large files answered a megabyte at a time, never whole in memory: an
encrypted 4096x4096 photo is 50 MB, and making it whole beside the image it
came from is what took a web worker's memory to four times the image."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse

# From this many bytes (of the file when its length is known beforehand, else
# of the image it is made from), the answer is streamed; a smaller file goes
# in one write, as the tests and every small request read it.
STREAM_MIN_BYTES = 4 << 20
CHUNK_BYTES = 1 << 20  # what the WSGI server is given to send at a time


def chunked(pieces: Iterable[bytes | memoryview], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Pieces (each used before the next is asked for: it may be a view of a
    buffer that the next one reuses) gathered into chunks of about `size`
    bytes, each copied once."""
    buffer = io.BytesIO()
    for piece in pieces:
        buffer.write(piece)
        if buffer.tell() >= size:
            yield buffer.getvalue()  # (fitted and shared, not copied again)
            buffer = io.BytesIO()
    if buffer.tell():
        yield buffer.getvalue()


def file_answer(
    pieces: Iterable[bytes | memoryview], content_type: str, *, weight: int, length: int | None = None
) -> HttpResponseBase:
    """A file as the answer's body: streamed in chunks when `weight` (its
    length, or the bytes of the image it is made from) reaches
    STREAM_MIN_BYTES, with its Content-Length when `length` is known (else
    the server sends it chunked); otherwise whole."""
    if weight < STREAM_MIN_BYTES:
        return HttpResponse(b"".join(chunked(pieces)), content_type=content_type)
    response = StreamingHttpResponse(chunked(pieces), content_type=content_type)
    if length is not None:
        response["Content-Length"] = str(length)
    return response
