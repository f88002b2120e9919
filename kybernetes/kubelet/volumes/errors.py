"""The one error volume setup raises; the pod worker turns it into a FailedMount event."""

from __future__ import annotations


class VolumeError(Exception):
    """A volume could not be set up. ``message`` is the event message the kubelet
    records (``MountVolume.SetUp failed for volume "cfg" : configmap "x" not found``),
    ``reason`` the event reason (``FailedMount``), ``volume`` the volume's name."""

    def __init__(self, reason: str, message: str, volume: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.volume = volume


def setup_failed(volume: str, cause: str) -> VolumeError:
    """As the kubelet's operation executor words a failed SetUp."""
    return VolumeError("FailedMount", f'MountVolume.SetUp failed for volume "{volume}" : {cause}', volume)


class MountError(VolumeError, ValueError):
    """A container's volumeMounts cannot be made (a bad subPath...): the kubelet
    reports CreateContainerConfigError. Also a ValueError, for callers that
    treat bad container input alike."""

    def __init__(self, message: str):
        super().__init__("CreateContainerConfigError", message)
