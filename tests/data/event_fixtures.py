"""Tiny event datasets written in their real on-disk formats, for tonic's real readers.

- N-MNIST / N-Caltech101: ATIS 40-bit records (x, y, polarity bit + 23-bit µs time), .bin
- DVS128 Gesture (tonic's release): (N, 4) .npy arrays of [x, y, p, t_ms]
- CIFAR10-DVS (tonic's release): AEDAT 4.0 — magic line, IOHeader flatbuffer with the DV XML
  description, then size-prefixed EVTS flatbuffer packets of {t:int64, x:int16, y:int16, on:bool}
- SHD: HDF5 with ragged spikes/times (s) and spikes/units, labels, extra/keys
"""

import struct
from pathlib import Path

import flatbuffers
import h5py
import numpy as np

from cfsnn_cli.data.events import CIFAR10_CLASSES


def random_events(rng, count, width, height, duration_us):
    t = np.sort(rng.integers(0, duration_us, count))
    x = rng.integers(0, width, count)
    y = rng.integers(0, height, count)
    p = rng.integers(0, 2, count)
    return x, y, t, p


def atis_bytes(x, y, t, p) -> bytes:
    records = np.zeros((len(t), 5), dtype=np.uint8)
    records[:, 0] = x
    records[:, 1] = y
    records[:, 2] = (p.astype(np.uint32) << 7) | ((t >> 16) & 0x7F)
    records[:, 3] = (t >> 8) & 0xFF
    records[:, 4] = t & 0xFF
    return records.tobytes()


def write_nmnist(root: Path, per_class: int = 2, events: int = 400, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split in ("Train", "Test"):
        for digit in range(10):
            folder = root / "NMNIST" / split / str(digit)
            folder.mkdir(parents=True)
            for index in range(per_class):
                (folder / f"{index:05d}.bin").write_bytes(atis_bytes(*random_events(rng, events, 34, 34, 300_000)))
    return root


def write_ncaltech101(
    root: Path, classes=("Faces_easy", "airplanes", "watch"), per_class: int = 10, events: int = 500, seed: int = 0
) -> Path:
    rng = np.random.default_rng(seed)
    for name in classes:
        folder = root / "NCALTECH101" / "Caltech101" / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            x, y, t, p = random_events(rng, events, 200, 150, 300_000)
            (folder / f"image_{index + 1:04d}.bin").write_bytes(atis_bytes(x + 5, y + 7, t, p))
    return root


def write_dvs_gesture(root: Path, users=None, events: int = 600, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    users = users or {"ibmGestureTrain": ["user02_lab", "user01_fluorescent"], "ibmGestureTest": ["user24_led"]}
    for split, names in users.items():
        for user in names:
            folder = root / "DVSGesture" / split / user
            folder.mkdir(parents=True)
            for label in range(11):
                x, y, t, p = random_events(rng, events, 128, 128, 6_000_000)
                # the real files hold float milliseconds with sub-ms fractions
                np.save(folder / f"{label}.npy", np.stack([x, y, p, t / 1000.0], axis=1))
    return root


def _description(width: int, height: int) -> str:
    return (
        '<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
        '<node name="0" path="/mainloop/Recorder/outInfo/0/">'
        '<attr key="compression" type="string">NONE</attr>'
        '<attr key="typeIdentifier" type="string">EVTS</attr>'
        '<node name="info" path="/mainloop/Recorder/outInfo/0/info/">'
        f'<attr key="sizeX" type="int">{width}</attr><attr key="sizeY" type="int">{height}</attr>'
        "</node></node></node></dv>"
    )


def aedat4_bytes(x, y, t, p, width: int = 128, height: int = 128, per_packet: int = 256) -> bytes:
    header = flatbuffers.Builder(1024)
    description = header.CreateString(_description(width, height))
    header.StartObject(3)
    header.PrependInt32Slot(0, 0, 0)  # compression: none
    header.PrependInt64Slot(1, -1, 0)  # file_data_position: -1 = packets run to the end of the file
    header.PrependUOffsetTRelativeSlot(2, description, 0)
    header.Finish(header.EndObject(), file_identifier=b"IOHE")
    out = bytearray(b"#!AER-DAT4.0\r\n")
    header_bytes = bytes(header.Output())
    out += struct.pack("<I", len(header_bytes)) + header_bytes
    for first in range(0, len(t), per_packet):
        chunk = range(first, min(first + per_packet, len(t)))
        packet = flatbuffers.Builder(16 * len(chunk) + 64)
        packet.StartVector(16, len(chunk), 8)
        for i in reversed(chunk):  # flatbuffers are built back to front
            packet.Prep(8, 16)
            packet.Pad(3)
            packet.PrependBool(bool(p[i]))
            packet.PrependInt16(int(y[i]))
            packet.PrependInt16(int(x[i]))
            packet.PrependInt64(int(t[i]))
        elements = packet.EndVector()
        packet.StartObject(1)
        packet.PrependUOffsetTRelativeSlot(0, elements, 0)
        packet.FinishSizePrefixed(packet.EndObject(), file_identifier=b"EVTS")
        body = bytes(packet.Output())
        out += struct.pack("<II", 0, len(body)) + body
    return bytes(out)


def write_cifar10_dvs(root: Path, per_class: int = 10, events: int = 500, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name in CIFAR10_CLASSES:
        folder = root / "CIFAR10DVS" / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            (folder / f"cifar10_{name}_{index}.aedat4").write_bytes(
                aedat4_bytes(*random_events(rng, events, 128, 128, 1_300_000))
            )
    return root


SHD_KEYS = (
    "zero one two three four five six seven eight nine null eins zwei drei vier fuenf sechs sieben acht neun"
).split()


def write_shd(root: Path, per_split: int = 6, spikes: int = 300, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = root / "SHD"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        with h5py.File(folder / f"shd_{split}.h5", "w") as handle:
            float_ragged = h5py.vlen_dtype(np.dtype("float32"))
            int_ragged = h5py.vlen_dtype(np.dtype("uint16"))
            times = handle.create_dataset("spikes/times", (per_split,), dtype=float_ragged)
            units = handle.create_dataset("spikes/units", (per_split,), dtype=int_ragged)
            for i in range(per_split):
                times[i] = np.sort(rng.uniform(0, 1.0, spikes)).astype(np.float32)
                units[i] = rng.integers(0, 700, spikes).astype(np.uint16)
            handle.create_dataset("labels", data=rng.integers(0, 20, per_split).astype(np.uint16))
            handle.create_dataset("extra/keys", data=np.array([k.encode() for k in SHD_KEYS]))
            handle.create_dataset("extra/speaker", data=np.zeros(per_split, dtype=np.uint16))
    return root
