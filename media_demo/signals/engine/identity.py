"""Identity stitching: which devices (`domain_userid`) belong to which signed-in reader (`user_id`).

A link is made by the first event that carries both ids (the reader signed in
on that device), so links are a function of the event log and a restart
rebuilds them. A user's attributes are the merge of their devices' states
(`AttributeEngine.merged_attributes`): each event is counted once, on the
device it came from, whichever device asks.
"""

from __future__ import annotations

from collections.abc import Iterable

from media_demo.signals.engine.events import CanonicalEvent


class IdentityLinks:
    """user_id -> the devices it signed in on, and each device's user."""

    def __init__(self) -> None:
        self._devices: dict[str, list[str]] = {}  # user_id -> domain_userids, in the order they were linked
        self._user: dict[str, str] = {}  # domain_userid -> the user who signed in on it last
        self._changed: set[str] = set()  # users whose devices changed since `take_changed`

    def observe(self, event: CanonicalEvent) -> bool:
        """Link the event's device to its user; True when the link is new."""
        atomic = event.atomic
        user, device = atomic.get("user_id"), atomic.get("domain_userid")
        if not user or not device:
            return False
        self._user[device] = user
        devices = self._devices.setdefault(user, [])
        if device in devices:
            return False
        devices.append(device)
        self._changed.add(user)
        return True

    def devices(self, user_id: str) -> list[str]:
        """Every device the user signed in on, first linked first."""
        return list(self._devices.get(user_id, ()))

    def user_of(self, domain_userid: str) -> str | None:
        """The user who signed in on this device last; None for a device never signed in on."""
        return self._user.get(domain_userid)

    def forget(self, user_ids: Iterable[str] = (), domain_userids: Iterable[str] = ()) -> None:
        """Remove users with all their links, and devices from whichever user they were linked to."""
        for user in user_ids:
            self._changed.add(user)
            for device in self._devices.pop(user, ()):
                if self._user.get(device) == user:
                    del self._user[device]
        for device in domain_userids:
            self._user.pop(device, None)
            for user, devices in list(self._devices.items()):
                if device in devices:
                    devices.remove(device)
                    self._changed.add(user)
                    if not devices:
                        del self._devices[user]

    def take_changed(self) -> set[str]:
        """The users whose devices changed (or who went) since the last call: what a checkpoint must rewrite."""
        changed, self._changed = self._changed, set()
        return changed

    def restore(self, user_id: str, devices: list[str]) -> None:
        """Put back one user's devices, in link order."""
        self._devices[user_id] = list(devices)
        for device in devices:
            self._user[device] = user_id

    def dump(self) -> dict[str, list[str]]:
        """Every user's devices as JSON, for `load`."""
        return {user: list(devices) for user, devices in self._devices.items()}

    def load(self, doc: dict[str, list[str]]) -> None:
        """Replace every link with `dump`'s document (an old whole-document checkpoint); all count as changed."""
        self._devices = {user: list(devices) for user, devices in doc.items()}
        self._user = {device: user for user, devices in self._devices.items() for device in devices}
        self._changed = set(self._devices)  # all of it still to be written entry by entry
