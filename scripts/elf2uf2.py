#!/usr/bin/env python3
"""ELF (32-bit little-endian, as built for thumbv6m-none-eabi) to UF2 for the
RP2040's USB boot ROM: hold BOOTSEL, plug the Pico in, copy the .uf2 onto the
RPI-RP2 drive.

UF2 (https://github.com/microsoft/uf2): 512-byte blocks, each carrying up to
476 data bytes for one target address; the RP2040 boot ROM takes 256-byte
payloads at 256-byte aligned flash addresses and the family id 0xe48bff56.
Only loadable segments (PT_LOAD with file bytes) that lie in flash
(0x10000000..0x11000000) are written, at their load address (p_paddr), so
.data's initial values (stored in flash, run in RAM) are included.

    elf2uf2.py IN.elf OUT.uf2
"""
import struct
import sys

MAGIC_START0 = 0x0A324655
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_FAMILY_ID = 0x00002000
RP2040_FAMILY = 0xE48BFF56
FLASH_START = 0x10000000
FLASH_END = 0x11000000
PAGE = 256


def load_segments(data):
    """(address, bytes) of every PT_LOAD segment with file contents."""
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    if data[4] != 1 or data[5] != 1:
        raise ValueError("not a 32-bit little-endian ELF (is it the thumbv6m build?)")
    (e_phoff,) = struct.unpack_from("<I", data, 28)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 42)
    segs = []
    for i in range(e_phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz, _memsz, _flags, _align = struct.unpack_from(
            "<8I", data, e_phoff + i * e_phentsize
        )
        if p_type == 1 and p_filesz > 0:
            segs.append((p_paddr, data[p_offset : p_offset + p_filesz]))
    return segs


def pages(segs):
    """Flash image as {page address: 256 bytes}, gaps inside a page zero-filled."""
    out = {}
    for addr, blob in segs:
        if addr < FLASH_START or addr + len(blob) > FLASH_END:
            raise ValueError(f"segment at {addr:#010x} (+{len(blob)} bytes) is outside the RP2040 flash")
        for i, b in enumerate(blob):
            a = addr + i
            base = a - a % PAGE
            page = out.setdefault(base, bytearray(PAGE))
            page[a - base] = b
    return out


def uf2(image):
    addrs = sorted(image)
    blocks = []
    for n, a in enumerate(addrs):
        payload = bytes(image[a]).ljust(476, b"\0")
        head = struct.pack("<8I", MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID, a, PAGE, n, len(addrs), RP2040_FAMILY)
        blocks.append(head + payload + struct.pack("<I", MAGIC_END))
    return b"".join(blocks)


def main(argv):
    if len(argv) != 3:
        print("usage: elf2uf2.py IN.elf OUT.uf2", file=sys.stderr)
        return 2
    try:
        with open(argv[1], "rb") as f:
            data = f.read()
        image = pages(load_segments(data))
    except (OSError, ValueError, struct.error) as e:
        print(f"elf2uf2: {argv[1]}: {e}", file=sys.stderr)
        return 1
    if FLASH_START not in image:
        print(f"elf2uf2: {argv[1]}: nothing at {FLASH_START:#010x} (no boot2), the boot ROM would not start it", file=sys.stderr)
        return 1
    out = uf2(image)
    with open(argv[2], "wb") as f:
        f.write(out)
    print(f"elf2uf2: {argv[2]}: {len(image)} blocks, {len(image) * PAGE} bytes of flash")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
