"""The handling workflow as an explicit state machine (SKB 2022 and the agencies' published procedures).

reported → verified/registered (or rejected) → Bawaslu study (kajian) → forwarded → recommendation (KASN; from
2024-08-24 its successor BKN) → PPK follow-up → sanctioned / not proven / cancelled, with the escalations
PPK deadline passed → BKN reprimand → Kemendagri/KemenPANRB sanction on the PPK → personnel-data block → block
lifted once the sanction is imposed. Agency rights follow the agency reference data: an agency that no longer
exists on the effective date loses its rights to its successor (KASN → BKN). A case that ended can be reopened
(``REOPENINGS``): a keberatan or banding outcome, new evidence, or a decision to end it that was itself annulled.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.core.actor import Agency


class Stage(enum.StrEnum):
    DITERIMA = "DITERIMA"
    """Report received (laporan or temuan)."""
    TERVERIFIKASI = "TERVERIFIKASI"
    """Verified and registered by the Satgas / Bawaslu."""
    DITOLAK = "DITOLAK"
    """Rejected at verification (not registered)."""
    KAJIAN = "KAJIAN"
    """Under Bawaslu study (kajian)."""
    DITERUSKAN = "DITERUSKAN"
    """Study done, forwarded for a recommendation (to KASN, from 2024-08-24 to BKN)."""
    TIDAK_TERBUKTI = "TIDAK_TERBUKTI"
    """Not proven."""
    REKOMENDASI = "REKOMENDASI"
    """Recommendation issued to the PPK; the PPK follow-up deadline runs."""
    TEGURAN_BKN = "TEGURAN_BKN"
    """PPK missed the deadline; BKN reprimanded the PPK."""
    PPK_DISANKSI = "PPK_DISANKSI"
    """Kemendagri or KemenPANRB sanctioned the non-compliant PPK."""
    DIBLOKIR = "DIBLOKIR"
    """BKN blocked the ASN's personnel data in SIASN."""
    SANKSI_DIJATUHKAN = "SANKSI_DIJATUHKAN"
    """The PPK imposed the sanction (recorded in I'DIS)."""
    BLOKIR_DIBUKA = "BLOKIR_DIBUKA"
    """Sanction imposed after a block; the block is lifted."""
    DIBATALKAN = "DIBATALKAN"
    """Cancelled (e.g. report withdrawn)."""
    ASN_NONAKTIF = "ASN_NONAKTIF"
    """The ASN left service (retired, dismissed, resigned, died) before the case ended."""


TERMINAL_STAGES = frozenset(
    {
        Stage.DITOLAK,
        Stage.TIDAK_TERBUKTI,
        Stage.SANKSI_DIJATUHKAN,
        Stage.BLOKIR_DIBUKA,
        Stage.DIBATALKAN,
        Stage.ASN_NONAKTIF,
    }
)


class Action(enum.StrEnum):
    VERIFY = "verify"
    REJECT = "reject"
    START_STUDY = "start_study"
    FORWARD = "forward"
    DISMISS = "dismiss"
    RECOMMEND = "recommend"
    IMPOSE_SANCTION = "impose_sanction"
    REPRIMAND = "reprimand"
    SANCTION_PPK = "sanction_ppk"
    BLOCK = "block"
    LIFT_BLOCK = "lift_block"
    CANCEL = "cancel"
    DEACTIVATE = "deactivate"
    REOPEN = "reopen"
    """Only through ``POST /cases/{case_id}/reopen`` (a coded reason and a reference): see ``REOPENINGS``."""
    CORRECT_SANCTION = "correct_sanction"
    """Only through ``POST /cases/{case_id}/sanction-corrections`` (a coded reason and a reference): see
    ``SANCTION_CORRECTIONS``."""


class DeadlineKind(enum.StrEnum):
    VERIFICATION = "verification"
    REGISTRATION_FOLLOW_UP = "registration_follow_up"
    STUDY = "study"
    RECOMMENDATION = "recommendation"
    PPK_FOLLOW_UP = "ppk_follow_up"
    REPRIMAND_COMPLIANCE = "reprimand_compliance"
    PPK_SANCTION_AGEING = "ppk_sanction_ageing"
    BLOCK_AGEING = "block_ageing"


class DayCount(enum.StrEnum):
    CALENDAR = "calendar"
    WORKING = "working"
    """No weekends, national holidays or cuti bersama (``app.core.clock``)."""


@dataclass(frozen=True, slots=True)
class Deadline:
    kind: DeadlineKind
    unit: DayCount


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    source: Stage
    target: Stage
    agencies: frozenset[Agency]
    requires_sanction: bool = False
    requires_reference: bool = False
    requires_deadline_passed: bool = False
    """The current stage's deadline must have passed on the effective date (escalations)."""


def _edges(
    action: Action,
    sources: tuple[Stage, ...],
    target: Stage,
    agencies: tuple[Agency, ...],
    **flags: bool,
) -> list[Transition]:
    return [Transition(action, source, target, frozenset(agencies), **flags) for source in sources]


_BAWASLU, _KASN, _BKN = Agency.BAWASLU, Agency.KASN, Agency.BKN
_OPEN_BEFORE_RECOMMENDATION = (Stage.DITERIMA, Stage.TERVERIFIKASI, Stage.KAJIAN, Stage.DITERUSKAN)

TRANSITIONS: tuple[Transition, ...] = tuple(
    _edges(Action.VERIFY, (Stage.DITERIMA,), Stage.TERVERIFIKASI, (_BAWASLU, _BKN))
    + _edges(Action.REJECT, (Stage.DITERIMA,), Stage.DITOLAK, (_BAWASLU, _BKN))
    + _edges(Action.START_STUDY, (Stage.TERVERIFIKASI,), Stage.KAJIAN, (_BAWASLU,))
    + _edges(Action.FORWARD, (Stage.KAJIAN,), Stage.DITERUSKAN, (_BAWASLU,))
    + _edges(Action.DISMISS, (Stage.KAJIAN,), Stage.TIDAK_TERBUKTI, (_BAWASLU,))
    + _edges(Action.DISMISS, (Stage.DITERUSKAN, Stage.REKOMENDASI), Stage.TIDAK_TERBUKTI, (_KASN,))
    + _edges(
        Action.RECOMMEND,
        (Stage.DITERUSKAN,),
        Stage.REKOMENDASI,
        (_KASN,),
        requires_sanction=True,
        requires_reference=True,
    )
    + _edges(
        Action.IMPOSE_SANCTION,
        (Stage.REKOMENDASI, Stage.TEGURAN_BKN, Stage.PPK_DISANKSI),
        Stage.SANKSI_DIJATUHKAN,
        (_BKN, _KASN),
        requires_sanction=True,
    )
    + _edges(Action.REPRIMAND, (Stage.REKOMENDASI,), Stage.TEGURAN_BKN, (_BKN,), requires_deadline_passed=True)
    + _edges(
        Action.SANCTION_PPK,
        (Stage.TEGURAN_BKN,),
        Stage.PPK_DISANKSI,
        (Agency.KEMENDAGRI, Agency.KEMENPANRB),
        requires_deadline_passed=True,
    )
    + _edges(Action.BLOCK, (Stage.TEGURAN_BKN,), Stage.DIBLOKIR, (_BKN,), requires_deadline_passed=True)
    + _edges(Action.BLOCK, (Stage.PPK_DISANKSI,), Stage.DIBLOKIR, (_BKN,))
    + _edges(Action.LIFT_BLOCK, (Stage.DIBLOKIR,), Stage.BLOKIR_DIBUKA, (_BKN,), requires_sanction=True)
    + _edges(Action.CANCEL, _OPEN_BEFORE_RECOMMENDATION, Stage.DIBATALKAN, (_BAWASLU, _BKN))
    + _edges(Action.CANCEL, (Stage.REKOMENDASI,), Stage.DIBATALKAN, (_BKN, _KASN))
    + _edges(
        Action.DEACTIVATE,
        tuple(stage for stage in Stage if stage not in TERMINAL_STAGES),
        Stage.ASN_NONAKTIF,
        (_BKN,),
    )
)

HANDED_ON_AT: dict[str, Stage] = {Agency.BAWASLU.value: Stage.DITERUSKAN}
"""Where an agency's part of a case ends: Bawaslu forwards its rekomendasi (DITERUSKAN) to KASN/BKN, and its own
record rightly stays there while the case goes on to the recommendation and the PPK."""

_BY_ACTION_AND_SOURCE: dict[tuple[Action, Stage], Transition] = {(t.action, t.source): t for t in TRANSITIONS}

_CALENDAR, _WORKING = DayCount.CALENDAR, DayCount.WORKING
STAGE_DEADLINES: dict[Stage, Deadline] = {
    # Satgas verification of a report: "max 7 days" (BKN's 2024 flow).
    Stage.DITERIMA: Deadline(DeadlineKind.VERIFICATION, _CALENDAR),
    # A registered report is followed up by Bawaslu "within 3 days" (its violation-handling flow): the kajian starts.
    Stage.TERVERIFIKASI: Deadline(DeadlineKind.REGISTRATION_FOLLOW_UP, _CALENDAR),
    # Bawaslu's kajian: "max 3 working days" (BKN's 2024 flow); Pemilu and Pilkada may differ (settings).
    Stage.KAJIAN: Deadline(DeadlineKind.STUDY, _WORKING),
    # No published period for KASN/BKN's examination: an ageing threshold of SBT's own (settings).
    Stage.DITERUSKAN: Deadline(DeadlineKind.RECOMMENDATION, _CALENDAR),
    # The PPK's follow-up of a recommendation and a reprimanded PPK's compliance run in working days, as
    # administrative deadlines of a letter do (10 and 3 days as quoted by Kemendagri and PP 12/2017).
    Stage.REKOMENDASI: Deadline(DeadlineKind.PPK_FOLLOW_UP, _WORKING),
    Stage.TEGURAN_BKN: Deadline(DeadlineKind.REPRIMAND_COMPLIANCE, _WORKING),
    # After the PPK is sanctioned, or the data blocked, nothing is published: ageing thresholds of SBT's own.
    Stage.PPK_DISANKSI: Deadline(DeadlineKind.PPK_SANCTION_AGEING, _CALENDAR),
    Stage.DIBLOKIR: Deadline(DeadlineKind.BLOCK_AGEING, _CALENDAR),
}
"""Every open stage runs against a deadline or ageing threshold, counted from the day the stage is entered (Asia/
Jakarta); the number of days is a setting per kind (``Settings.days_for``). Past it, the case is overdue."""


SANCTIONED_ENDS = frozenset({Stage.SANKSI_DIJATUHKAN, Stage.BLOKIR_DIBUKA})
"""Terminal stages with an imposed sanction."""


class ReopenReason(enum.StrEnum):
    KEBERATAN = "KEBERATAN"
    """A keberatan (objection to the PPK's superior) annulled the imposed sanction."""
    BANDING = "BANDING"
    """A banding (appeal) annulled the imposed sanction."""
    BUKTI_BARU = "BUKTI_BARU"
    """New evidence on a case that was rejected, dismissed or cancelled."""
    PENGHENTIAN_DIBATALKAN = "PENGHENTIAN_DIBATALKAN"
    """The decision that ended the case (rejection, dismissal, cancellation) was itself annulled on review."""
    STATUS_ASN_DIPULIHKAN = "STATUS_ASN_DIPULIHKAN"
    """The ASN is in service after all (reinstated, or the retirement/dismissal was recorded in error)."""
    SALAH_CATAT = "SALAH_CATAT"
    """The step that ended the case was recorded in error."""


@dataclass(frozen=True, slots=True)
class Reopening:
    reasons: frozenset[ReopenReason]
    target: Stage | None
    """Where the case returns; None: to the stage it ended from (the last transition's source)."""


_ANNULLED_SANCTION = frozenset({ReopenReason.KEBERATAN, ReopenReason.BANDING, ReopenReason.SALAH_CATAT})
_ENDED_TOO_EARLY = frozenset({ReopenReason.BUKTI_BARU, ReopenReason.PENGHENTIAN_DIBATALKAN, ReopenReason.SALAH_CATAT})
REOPENINGS: dict[Stage, Reopening] = {
    Stage.DITOLAK: Reopening(_ENDED_TOO_EARLY, None),
    Stage.TIDAK_TERBUKTI: Reopening(_ENDED_TOO_EARLY, None),
    Stage.DIBATALKAN: Reopening(_ENDED_TOO_EARLY, None),
    Stage.ASN_NONAKTIF: Reopening(frozenset({ReopenReason.STATUS_ASN_DIPULIHKAN, ReopenReason.SALAH_CATAT}), None),
    # An annulled sanction leaves the recommendation standing: the PPK decides again, against a new deadline.
    Stage.SANKSI_DIJATUHKAN: Reopening(_ANNULLED_SANCTION, Stage.REKOMENDASI),
    Stage.BLOKIR_DIBUKA: Reopening(_ANNULLED_SANCTION, Stage.REKOMENDASI),
}
"""How each terminal stage is reopened. Who reopens: the agencies that may take the step that ended the case (the
last transition's edge, with KASN's rights passing to BKN), since the agency that recorded an outcome is the one
that records its reversal: Bawaslu or BKN a rejection; Bawaslu its own dismissal after the kajian and KASN/BKN
theirs; BKN an imposed sanction (the PPK's decision, in I'DIS), a lifted block and the ASN's status."""


SANCTION_CORRECTIONS: dict[Stage, Action] = {
    Stage.SANKSI_DIJATUHKAN: Action.IMPOSE_SANCTION,
    Stage.BLOKIR_DIBUKA: Action.LIFT_BLOCK,
}
"""The stages whose recorded sanction may be corrected, with the step that recorded it: the agencies that take that
step correct it (the case stays in its stage)."""


def find_transition(action: Action, source: Stage) -> Transition | None:
    return _BY_ACTION_AND_SOURCE.get((action, source))


def sources_of(action: Action) -> list[Stage]:
    return [t.source for t in TRANSITIONS if t.action is action]


def actions_from(stage: Stage) -> list[Transition]:
    return [t for t in TRANSITIONS if t.source is stage]
