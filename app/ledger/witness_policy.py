"""Which cosignatures make a checkpoint *witnessed*: a C2SP ``tlog-policy`` (pure; stdlib + ``cryptography``).

A policy names witnesses by their cosignature keys and a quorum: one witness, a group (``k`` of its members,
``any`` or ``all``; groups may nest) or ``none``. It is read from a tlog-policy file (``log``, ``witness``,
``group`` and ``quorum`` lines; ``log`` lines are read and checked but the log's key is given separately), or
built from a list of keys and a number (``--witness KEY --quorum N``, ``SBT_WITNESSES`` / ``SBT_WITNESS_QUORUM``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.ledger.cosignature import CosignatureVerifier, cosignatures_in
from app.ledger.note import NoteError, NoteVerifier

NONE = "none"
QUORUM_GROUP = "quorum"


class PolicyError(ValueError):
    """A policy file or key list that cannot be used (one line)."""


@dataclass(frozen=True)
class Group:
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class WitnessPolicy:
    witnesses: Mapping[str, CosignatureVerifier]
    """Policy name (a witness's key name, unless the file names it otherwise) -> its key."""
    groups: Mapping[str, Group] = field(default_factory=dict)
    quorum: str = NONE
    logs: tuple[NoteVerifier, ...] = ()

    @classmethod
    def threshold(cls, keys: Sequence[CosignatureVerifier], quorum: int) -> WitnessPolicy:
        """``quorum`` of these witnesses (0: none needed)."""
        if not 0 <= quorum <= len(keys):
            raise PolicyError(f"a quorum of {quorum} cannot be met by {len(keys)} witness(es)")
        witnesses: dict[str, CosignatureVerifier] = {}
        for key in keys:
            if key.name in witnesses or any(w.public_key == key.public_key for w in witnesses.values()):
                raise PolicyError(f"witness {key.name} is listed twice")
            witnesses[key.name] = key
        if quorum == 0:
            return cls(witnesses)
        return cls(witnesses, {QUORUM_GROUP: Group(quorum, tuple(witnesses))}, QUORUM_GROUP)

    @classmethod
    def parse(cls, text: str) -> WitnessPolicy:
        """A tlog-policy file; ``PolicyError`` naming the line at fault."""
        witnesses: dict[str, CosignatureVerifier] = {}
        groups: dict[str, Group] = {}
        logs: list[NoteVerifier] = []
        quorum: str | None = None
        for number, raw in enumerate(text.split("\n"), start=1):
            words = raw.replace("\t", " ").split()
            if not words or words[0].startswith("#"):
                continue
            where = f"policy line {number}"
            try:
                keyword, arguments = words[0], words[1:]
                if keyword == "log" and len(arguments) in (1, 2):
                    logs.append(NoteVerifier.parse(arguments[0]))
                elif keyword == "witness" and len(arguments) in (2, 3):
                    name, key = arguments[0], CosignatureVerifier.parse(arguments[1])
                    _new_name(name, witnesses, groups)
                    if any(w.public_key == key.public_key for w in witnesses.values()):
                        raise PolicyError("this witness key is listed twice")
                    witnesses[name] = key
                elif keyword == "group" and len(arguments) >= 3:
                    name, members = arguments[0], tuple(arguments[2:])
                    _new_name(name, witnesses, groups)
                    for member in members:
                        if member not in witnesses and member not in groups:
                            raise PolicyError(f"group member {member!r} is not defined above")
                    groups[name] = Group(_threshold(arguments[1], len(members)), members)
                elif keyword == "quorum" and len(arguments) == 1:
                    if quorum is not None:
                        raise PolicyError("a second quorum line")
                    if arguments[0] != NONE and arguments[0] not in witnesses and arguments[0] not in groups:
                        raise PolicyError(f"quorum {arguments[0]!r} is not defined above")
                    quorum = arguments[0]
                else:
                    raise PolicyError(f"unknown or malformed line {raw.strip()!r}")
            except (PolicyError, NoteError) as exc:
                raise PolicyError(f"{where}: {exc}") from None
        if quorum is None:
            raise PolicyError("the policy has no quorum line")
        return cls(witnesses, groups, quorum, tuple(logs))

    def cosigned_by(self, note: str) -> set[str]:
        """Policy names of the witnesses with a valid cosignature in the note."""
        by_key_name = cosignatures_in(note, list(self.witnesses.values()))
        return {name for name, key in self.witnesses.items() if key.name in by_key_name}

    def satisfied(self, cosigned: set[str]) -> bool:
        return self.quorum == NONE or self._holds(self.quorum, cosigned)

    def _holds(self, name: str, cosigned: set[str]) -> bool:
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        return sum(self._holds(member, cosigned) for member in group.members) >= group.threshold

    def describe(self) -> str:
        if self.quorum == NONE:
            return "no cosignature needed"
        if self.quorum in self.witnesses:
            return f"a cosignature by {self.quorum}"
        group = self.groups[self.quorum]
        return f"{group.threshold} of {len(group.members)} ({', '.join(group.members)})"

    def shortfall(self, note: str) -> str | None:
        """Why the note is not witnessed under this policy (one line), or None when it is."""
        cosigned = self.cosigned_by(note)
        if self.satisfied(cosigned):
            return None
        held = ", ".join(sorted(cosigned)) or "no witness"
        return f"not witnessed: valid cosignatures by {held}; the policy needs {self.describe()}"


def _new_name(name: str, witnesses: Mapping[str, object], groups: Mapping[str, object]) -> None:
    if name == NONE or name in witnesses or name in groups:
        raise PolicyError(f"name {name!r} is reserved or already defined")


def _threshold(text: str, members: int) -> int:
    if text == "all":
        return members
    if text == "any":
        return 1
    if not text.isdigit() or text != str(int(text)) or not 1 <= int(text) <= members:
        raise PolicyError(f"threshold {text!r} must be all, any or a number from 1 to {members}")
    return int(text)
