#!/usr/bin/python3
"""Page-cache folio sizes of files, as a histogram of bytes (needs root).

    folio_layout.py FILE_OR_DIR...     -> "4k:12% 16k:3% 256k:85% (1.0 GiB cached of 1.0 GiB)"

Small writes into a large folio cost more on ext4 (every buffer head of the folio is walked), so
the bench records the layout each target's data had. For each cached page of each file (mincore),
the page is mapped (a read of one byte: the page cache's folio is mapped as it is), its frame
number read from /proc/self/pagemap, and its flags from /proc/kpageflags: a compound head starts
a folio, compound tails continue it, a page with neither is a folio of its own.
"""
import ctypes
import mmap
import os
import struct
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
KPF_COMPOUND_HEAD = 1 << 15
KPF_COMPOUND_TAIL = 1 << 16
libc = ctypes.CDLL(None, use_errno=True)
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _dirs, names in os.walk(p):
                for n in names:
                    yield os.path.join(root, n)
        else:
            yield p


libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def folio_sizes(path, pagemap, kflags):
    """Sizes in pages of the folios of path's cached pages (a folio cut by the file's end counts
    the pages the file has)."""
    sizes = []
    length = os.path.getsize(path)
    if length == 0:
        return sizes, 0
    n = (length + PAGE - 1) // PAGE
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), f"mmap {path}")
    finally:
        os.close(fd)
    try:
        vec = ctypes.create_string_buffer(n)
        if libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(length), vec) != 0:
            raise OSError(ctypes.get_errno(), "mincore")
        res = [vec.raw[i] & 1 for i in range(n)]
        for i in range(n):
            if res[i]:  # map the cached page (it is resident: no read from disk)
                ctypes.c_char.from_address(addr + i * PAGE).value
        pagemap.seek(addr // PAGE * 8)
        ents = struct.unpack(f"<{n}Q", pagemap.read(8 * n))
        run = 0
        for i in range(n):
            pfn = ents[i] & ((1 << 55) - 1)
            if not res[i] or not ents[i] >> 63 or not pfn:
                if run:
                    sizes.append(run)
                run = 0
                continue
            kflags.seek(pfn * 8)
            (fl,) = struct.unpack("<Q", kflags.read(8))
            if fl & KPF_COMPOUND_TAIL and run:
                run += 1
                continue
            if run:
                sizes.append(run)
            run = 1
        if run:
            sizes.append(run)
        return sizes, length
    finally:
        libc.munmap(ctypes.c_void_p(addr), ctypes.c_size_t(length))


def human(n):
    for unit in ("", "k", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:g}{unit}"
        n /= 1024


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    hist, total, cached = {}, 0, 0
    with open("/proc/self/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as kf:
        for p in files(sys.argv[1:]):
            sizes, length = folio_sizes(p, pagemap, kf)
            total += length
            for s in sizes:
                hist[s] = hist.get(s, 0) + s
                cached += s
    if not cached:
        print(f"nothing cached (0 of {human(total)}B)")
        return
    parts = [f"{human(s * PAGE)}:{100 * n / cached:.0f}%" for s, n in sorted(hist.items())
             if 100 * n / cached >= 0.5]
    print(" ".join(parts) + f" ({human(cached * PAGE)}B cached of {human(total)}B)")


if __name__ == "__main__":
    main()
