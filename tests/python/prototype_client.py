"""Sends like the prototype's OpenCV client: a JPEG per frame in `my_image`,
a 4-byte big-endian length, `sendall` on a plain socket. Pillow stands in for
OpenCV: each frame is 640x480, left half red, right half blue, with a grey
square that moves so no two frames are alike. Like the prototype it never
reads its socket; at the end it looks whether the receiver wrote anything
(a v1 peer must get nothing back) and prints how many bytes it found.

usage: prototype_client.py HOST PORT FRAMES
"""

import io
import socket
import sys
import time

from PIL import Image, ImageDraw

from my_image import MyImage


def frame_jpeg(number):
    image = Image.new("RGB", (640, 480), (255, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((320, 0, 639, 479), fill=(0, 0, 255))
    x = (number * 7) % 560
    draw.rectangle((x, 400, x + 40, 440), fill=(128, 128, 128))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def main():
    host, port, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    image_proto = MyImage()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server_socket:
        server_socket.connect((host, port))
        for number in range(frames):
            image_proto.image = frame_jpeg(number)
            serialized_data = image_proto.SerializeToString()
            message = len(serialized_data).to_bytes(4, byteorder="big") + serialized_data
            server_socket.sendall(message)
            time.sleep(1 / 30)
        server_socket.settimeout(1.0)
        try:
            back = len(server_socket.recv(1 << 16))
        except socket.timeout:
            back = 0
    print(f"sent {frames} frames, received {back} bytes back", flush=True)


if __name__ == "__main__":
    main()
