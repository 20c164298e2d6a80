"""What an image file says about itself before a pixel is decoded: its width and height.

read_image refuses an image from these alone, so that a decompression bomb (a few hundred KB
declaring 12000 x 12000 pixels) is never expanded, whatever OpenCV was told: the limit given to
OpenCV (OPENCV_IO_MAX_IMAGE_PIXELS) holds only when it is set before cv2 loads, and an application
may import cv2 first. OpenCV picks its decoder from the bytes, not the file name, so the format is
told by its signature: JPEG, PNG, BMP, TIFF and WebP (what IMAGE_SUFFIXES name); anything else is
refused. A JPEG whose scan data never ends (no EOI marker after its first SOS) is refused as
truncated: libjpeg would decode it with its missing rows grey, and only warn. Standard library only.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI, JPEG_EOI, JPEG_SOS = b"\xff\xd8", b"\xff\xd9", 0xDA
# Start-of-frame markers (baseline, progressive, lossless, arithmetic...): C0-CF but DHT (C4), JPG (C8), DAC (CC).
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length: TEM and the restart markers.
JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])
TIFF_WIDTH, TIFF_HEIGHT = 256, 257  # the ImageWidth and ImageLength tags
# TIFF field types that hold one integer: SHORT, LONG, LONG8 (BigTIFF) -> struct format.
TIFF_INTEGERS = {3: "H", 4: "I", 16: "Q"}


class HeaderError(ValueError):
    """Why an image file cannot be decoded whole, in words for its user."""


def header_size(data: bytes) -> tuple[int, int]:
    """(width, height) as the file's header declares them; HeaderError if the bytes are not one of
    the formats poseforge reads, the header is cut short, or a JPEG's scan data has no end."""
    if data.startswith(JPEG_SOI):
        return _jpeg(data)
    if data.startswith(PNG_SIGNATURE):
        return _png(data)
    if data.startswith(b"BM"):
        return _bmp(data)
    if data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return _tiff(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    raise HeaderError("not a JPEG, PNG, BMP, TIFF or WebP image")


def _unpack(fmt: str, data: bytes, offset: int, what: str) -> tuple[int, ...]:
    """struct.unpack_from, with a header that ends too soon said in words."""
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise HeaderError(f"its {what} header is cut short")
    return struct.unpack_from(fmt, data, offset)


def _png(data: bytes) -> tuple[int, int]:
    if data[12:16] != b"IHDR":  # the first chunk, always
        raise HeaderError("a PNG without its IHDR header")
    width, height = _unpack(">II", data, 16, "PNG")
    return width, height


def _jpeg(data: bytes) -> tuple[int, int]:
    """The first frame header's size, found by walking the marker segments by their lengths from SOI
    to the first SOS (an APPn segment may hold an EXIF thumbnail with markers of its own, which are
    skipped with it); then the image must have an EOI after that SOS."""
    size, pos = None, len(JPEG_SOI)
    while True:
        pos = data.find(b"\xff", pos)  # libjpeg too skips stray bytes before a marker
        while 0 <= pos < len(data) - 1 and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos < 0 or pos >= len(data) - 1:
            raise HeaderError("a JPEG cut short before its image data (no SOS marker)")
        marker, pos = data[pos + 1], pos + 2
        if marker == 0 or marker in JPEG_STANDALONE:
            continue
        if marker == JPEG_SOS:
            break
        (length,) = _unpack(">H", data, pos, "JPEG segment")
        if length < 2:
            raise HeaderError(f"a JPEG segment (marker {marker:02X}) of impossible length {length}")
        if marker in JPEG_SOF and size is None:
            height, width = _unpack(">xHH", data, pos + 2, "JPEG frame")
            size = (width, height)
        pos += length
    if size is None:
        raise HeaderError("a JPEG without a frame header (no SOFn marker before its image data)")
    if data.rfind(JPEG_EOI, pos) < 0:
        raise HeaderError("a truncated JPEG: its image data has no end (no EOI marker)")
    return size


def _bmp(data: bytes) -> tuple[int, int]:
    (header,) = _unpack("<I", data, 14, "BMP")
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sides
        width, height = _unpack("<HH", data, 18, "BMP")
    else:
        width, height = _unpack("<ii", data, 18, "BMP")
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _tiff(data: bytes) -> tuple[int, int]:
    """The first image file directory's ImageWidth and ImageLength (OpenCV decodes the first page);
    classic TIFF and BigTIFF, either byte order."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\0", b"\0+")
    count_fmt, entry_size, value_at = ("Q", 20, 12) if big else ("H", 12, 8)
    (directory,) = _unpack(order + ("Q" if big else "I"), data, 8 if big else 4, "TIFF")
    (count,) = _unpack(order + count_fmt, data, directory, "TIFF directory")
    first = directory + struct.calcsize(count_fmt)
    if first + count * entry_size > len(data):
        raise HeaderError("its TIFF directory is cut short")
    found = {}
    for entry in range(first, first + count * entry_size, entry_size):
        tag, kind = _unpack(order + "HH", data, entry, "TIFF directory")
        if tag in (TIFF_WIDTH, TIFF_HEIGHT) and kind in TIFF_INTEGERS:
            (found[tag],) = _unpack(order + TIFF_INTEGERS[kind], data, entry + value_at, "TIFF directory")
    if len(found) < 2:
        raise HeaderError("a TIFF without its width or height (ImageWidth, ImageLength)")
    return found[TIFF_WIDTH], found[TIFF_HEIGHT]


def _webp(data: bytes) -> tuple[int, int]:
    """The size a WebP's first chunk declares: lossy (VP8), lossless (VP8L) or extended (VP8X, the canvas)."""
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise HeaderError("a WebP whose VP8 frame lacks its start code")
        width, height = _unpack("<HH", data, 26, "WebP")
        return width & 0x3FFF, height & 0x3FFF  # the top 2 bits are a scaling hint
    if chunk == b"VP8L":
        if data[20:21] != b"\x2f":
            raise HeaderError("a WebP whose VP8L data lacks its signature")
        (bits,) = _unpack("<I", data, 21, "WebP")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        if len(data) < 30:
            raise HeaderError("its WebP header is cut short")
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1  # the canvas
    raise HeaderError("a WebP without a VP8, VP8L or VP8X chunk first")
