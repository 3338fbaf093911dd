"""`digits-events`: the bundled handwritten digits seen by an emulated event camera.

Each 8×8 digit is enlarged onto a 34×34 sensor (N-MNIST's size) and moved through three small
saccades forming a triangle, as N-MNIST's recordings move an ATIS camera in front of a screen.
Every pixel keeps a reference log intensity; whenever the log intensity it sees drifts from that
reference by the contrast threshold C, the pixel emits an ON (brighter) or OFF (darker) event and
moves its reference by C — several events when it crosses several thresholds within one sub-step.
The result is a tonic-style structured array (x, y, t in µs, p) that goes through the same
Downsample/ToFrame path, cache and augmentations as the recorded datasets. Each sample's saccade
jitter is seeded by its split and index, so the events are the same on every run.
"""

import itertools
from typing import Annotated, Literal

import numpy as np
from annotated_types import Ge, Gt, Le, Lt
from scipy import ndimage

from cfsnn_cli.data.base import DatasetSplit
from cfsnn_cli.data.digits import digits_arrays
from cfsnn_cli.data.event_augment import frame_augmentation
from cfsnn_cli.data.frames import event_framer, framed_split
from cfsnn_cli.data.registry import DATASETS, INPUT_SHAPES
from cfsnn_cli.options import NonNegative, NonNegativeInt, Probability

SENSOR = 34
DIGIT_SIZE = 24  # pixels the 8×8 digit covers on the sensor
SACCADE_US = 100_000  # one saccade lasts 100 ms, as in N-MNIST
STEPS_PER_SACCADE = 50
EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
BACKGROUND = 0.02  # a dim screen, so that log intensity stays finite


def sensor_image(digit: np.ndarray) -> np.ndarray:
    """The 8×8 digit (values in [0, 1]) enlarged smoothly and centred on the sensor."""
    enlarged = ndimage.zoom(digit, DIGIT_SIZE / digit.shape[0], order=1).clip(0, 1)
    canvas = np.full((SENSOR, SENSOR), BACKGROUND)
    start = (SENSOR - DIGIT_SIZE) // 2
    canvas[start : start + DIGIT_SIZE, start : start + DIGIT_SIZE] = np.maximum(enlarged, BACKGROUND)
    return canvas


def saccade_path(rng: np.random.Generator) -> np.ndarray:
    """[steps, 2] sub-pixel (dy, dx) offsets: three straight moves around a jittered triangle."""
    corners = np.array([[0.0, 0.0], [1.5, 1.5], [-1.5, 1.5], [0.0, 0.0]]) + rng.uniform(-0.4, 0.4, (4, 2))
    corners[-1] = corners[0]
    fractions = np.linspace(0, 1, STEPS_PER_SACCADE, endpoint=False)[:, None]
    return np.concatenate([a + (b - a) * fractions for a, b in itertools.pairwise(corners)] + [corners[-1:]])


def emulate_events(digit: np.ndarray, seed: int, contrast: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = sensor_image(digit)
    path = saccade_path(rng)
    step_us = SACCADE_US / STEPS_PER_SACCADE
    reference = np.log(ndimage.shift(image, path[0], order=1, mode="nearest"))
    chunks = []
    for step, offset in enumerate(path[1:], start=1):
        level = np.log(ndimage.shift(image, offset, order=1, mode="nearest"))
        crossings = np.trunc((level - reference) / contrast).astype(np.int64)  # signed threshold crossings
        reference += crossings * contrast
        ys, xs = np.nonzero(crossings)
        counts = np.abs(crossings[ys, xs])
        if len(counts) == 0:
            continue
        ys, xs = np.repeat(ys, counts), np.repeat(xs, counts)
        polarity = (np.repeat(crossings[crossings != 0], counts) > 0).astype(np.int8)
        # events of one sub-step spread over it, as a real sensor's latencies would
        times = ((step - 1) * step_us + rng.uniform(0, step_us, len(xs))).astype(np.int64)
        chunk = np.empty(len(xs), dtype=EVENT_DTYPE)
        chunk["x"], chunk["y"], chunk["t"], chunk["p"] = xs, ys, times, polarity
        chunks.append(chunk)
    events = np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)
    return events[np.argsort(events["t"], kind="stable")]


@INPUT_SHAPES.register("digits-events")
def _input_shape(frame_size: int = SENSOR, **_) -> tuple[int, ...]:
    return (2, frame_size, frame_size)  # ON and OFF events


@DATASETS.register("digits-events")
def digits_events(
    split: Literal["train", "test"],
    augment: bool,
    timesteps: int,
    frame_size: Annotated[int, Ge(4), Le(SENSOR)] = SENSOR,
    contrast: Annotated[float, Gt(0), Lt(1)] = 0.15,
    window_ms: NonNegative = 0.0,
    flip: bool = False,
    roll: NonNegativeInt = 0,
    drop: Probability = 0.0,
    nda: bool = False,
    cache: bool = True,
    cache_dir: str = "",
) -> DatasetSplit:
    """The digits' fixed stratified split, as ON/OFF event streams framed to [T, 2, F, F].

    Args:
        split: "train" or "test", the split of `digits`.
        augment: apply the augmentations below (the engine turns them on for the training split).
        timesteps: T, the number of frames per sample.
        window_ms: 0 splits each recording (about 300 ms) into T equal bins; > 0 makes frames of that
            many milliseconds of real time and keeps the first T (padding with empty frames).
        frame_size: F, the side of the square frames in pixels, 4 to 34 (the sensor's side).
        contrast: the emulated camera's contrast threshold C in (0, 1), a step of log intensity;
            smaller C gives more events.
        flip: mirror left-right with probability 1/2.
        roll: shift by up to ± this many pixels in x and y, wrapping around; 0 = off.
        drop: remove each event with this probability in [0, 1).
        nda: Li et al.'s neuromorphic data augmentation (a flip, then a roll, rotation or shear);
            replaces `flip` and `roll`.
        cache: keep the framed samples on disk (keyed by every setting that shapes a frame).
        cache_dir: the cache folder; "" means $XDG_CACHE_HOME/cfsnn/frames (~/.cache/cfsnn/frames).
    """
    images, labels = digits_arrays(split)
    seed_base = 0 if split == "train" else 1_000_000
    events = [(lambda i=i: emulate_events(images[i], seed_base + i, contrast)) for i in range(len(labels))]
    return framed_split(
        kind="digits-events",
        split=split,
        dataset=_Lazy(events),
        indices=list(range(len(labels))),
        labels=[int(label) for label in labels],
        class_names=[str(d) for d in range(10)],
        identity=lambda i: f"{split}#{i}",
        to_frames=event_framer((SENSOR, SENSOR, 2), (frame_size, frame_size), timesteps, window_ms),
        input_shape=(2, frame_size, frame_size),
        settings={
            "timesteps": timesteps,
            "frame_size": frame_size,
            "contrast": contrast,
            "window_ms": window_ms,
            "emulator": 1,
        },
        timesteps=timesteps,
        cache=cache,
        cache_dir=cache_dir,
        augment=frame_augmentation(flip, roll, drop, nda) if augment else None,
    )


class _Lazy:
    """Index → (events, None), emulating only the samples that are asked for."""

    def __init__(self, makers):
        self.makers = makers

    def __getitem__(self, index):
        return self.makers[index](), None
