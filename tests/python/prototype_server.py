"""Receives like the prototype's PySide6 server, without Qt: accept one
client, buffer what arrives, cut it at the 4-byte big-endian length, parse
`my_image`, and load its image (Pillow in place of QPixmap.loadFromData).
Every image must be a complete, decodable JPEG of the expected size.

usage: prototype_server.py FRAMES WIDTH HEIGHT
Prints "listening on PORT", then "OK <n> frames" or "FAIL <reason>".
"""

import io
import socket
import sys

from PIL import Image

from my_image import MyImage


def main():
    wanted, width, height = (int(a) for a in sys.argv[1:4])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(f"listening on {listener.getsockname()[1]}", flush=True)
    client, _ = listener.accept()
    client.settimeout(30)
    buffer = b""
    shown = 0
    video_data = MyImage()
    while shown < wanted:
        chunk = client.recv(1 << 16)
        if not chunk:
            print(f"FAIL connection closed after {shown} frames", flush=True)
            return 1
        buffer += chunk
        while len(buffer) >= 4:
            message_size = int.from_bytes(buffer[:4], "big")
            if len(buffer) < 4 + message_size:
                break
            video_data.ParseFromString(buffer[4 : 4 + message_size])
            buffer = buffer[4 + message_size :]
            if not video_data.image:
                continue  # a keep-alive: the prototype would blank its label
            data = video_data.image
            if not (data.startswith(b"\xff\xd8") and data.rstrip(b"\x00").endswith(b"\xff\xd9")):
                print(f"FAIL frame {shown} is not a complete JPEG", flush=True)
                return 1
            picture = Image.open(io.BytesIO(data))
            picture.load()
            if picture.size != (width, height):
                print(f"FAIL frame {shown} is {picture.size}, not {(width, height)}", flush=True)
                return 1
            shown += 1
    centre = picture.convert("RGB").getpixel((width // 16, height // 3))
    print(f"OK {shown} frames, first bar {centre}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
