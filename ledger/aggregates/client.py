"""The client: licences and key handovers, implementation, personal configurations,
pilots, the dedicated engineer (R-PTP-2, R-PTP-3, R-PTP-5, R-PTP-6, R-PTP-7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ledger.aggregates.base import LedgerAggregate, require_not_before
from ledger.errors import AlreadyExistsError, ConflictingStateError, NotFoundError
from ledger.events import (
    ClientRegistered,
    EngineerAssigned,
    ImplementationFinished,
    ImplementationStarted,
    LicenseIssued,
    LicenseKeyHandedOver,
    PersonalConfigurationRegistered,
    PilotEnded,
    PilotStarted,
)
from ledger.rules.coverage import KeyHandover, first_license_key_handover
from ledger.timeutil import start_of_day


@dataclass
class License:
    product: str
    issued_on: date
    key_handed_over_at: datetime | None = None


@dataclass
class Pilot:
    contract: str
    started_at: datetime
    ended_at: datetime | None = None


class Client(LedgerAggregate):
    stream_prefix = "client"

    @classmethod
    def register(cls, client_id: str, name: str, registered_at: datetime) -> Client:
        return cls._start(
            ClientRegistered, client_id, client_id=client_id, name=name, registered_at=registered_at
        )

    # --- licences (R-PTP-6) -------------------------------------------------------------

    def issue_license(self, license_id: str, product: str, issued_on: date) -> None:
        if license_id in self.licenses:
            raise AlreadyExistsError(
                f"licence {license_id!r} was already issued to {self.client_id!r}",
                field="license_id",
            )
        self._record(LicenseIssued, license_id=license_id, product=product, issued_on=issued_on)

    def hand_over_license_key(self, license_id: str, at: datetime) -> bool:
        """Record the handover; True when, as now known, it is the first licence key
        handover (`first_key_handover`), which starts the free priority month (R-PTP-6)."""
        license = self._license(license_id)
        if license.key_handed_over_at is not None:
            raise ConflictingStateError(
                f"the key of licence {license_id!r} was already handed over at "
                f"{license.key_handed_over_at.isoformat()}",
                field="license_id",
            )
        require_not_before(at, start_of_day(license.issued_on), field="at", what="the licence was issued")
        self._record(LicenseKeyHandedOver, license_id=license_id, at=at)
        first = self.first_key_handover
        return first is not None and first.license_id == license_id

    def _license(self, license_id: str) -> License:
        try:
            return self.licenses[license_id]
        except KeyError:
            raise NotFoundError(
                f"client {self.client_id!r} has no licence {license_id!r}", field="license_id"
            ) from None

    # --- implementation (R-PTP-2) and personal configurations (R-PTP-3) ---------------

    def start_implementation(self, at: datetime) -> None:
        if self.implementation_in_progress:
            raise ConflictingStateError(
                f"an implementation is already in progress since "
                f"{self.implementations[-1][0].isoformat()}",
                rule="R-PTP-2",
            )
        self._record(ImplementationStarted, at=at)

    def finish_implementation(self, at: datetime) -> None:
        if not self.implementation_in_progress:
            raise ConflictingStateError("no implementation is in progress", rule="R-PTP-2")
        require_not_before(at, self.implementations[-1][0], field="at", what="the implementation started")
        self._record(ImplementationFinished, at=at)

    @property
    def implementation_in_progress(self) -> bool:
        return bool(self.implementations) and self.implementations[-1][1] is None

    def register_personal_configuration(self, configuration_id: str, at: datetime) -> None:
        if configuration_id in self.personal_configurations:
            raise AlreadyExistsError(
                f"personal configuration {configuration_id!r} is already registered",
                field="configuration_id",
            )
        self._record(PersonalConfigurationRegistered, configuration_id=configuration_id, at=at)

    # --- pilots (R-PTP-7) -----------------------------------------------------------------

    def start_pilot(self, pilot_id: str, at: datetime, contract: str) -> None:
        if pilot_id in self.pilots:
            raise AlreadyExistsError(f"pilot {pilot_id!r} was already started", field="pilot_id")
        self._record(PilotStarted, pilot_id=pilot_id, at=at, contract=contract)

    def end_pilot(self, pilot_id: str, at: datetime) -> None:
        pilot = self.pilots.get(pilot_id)
        if pilot is None:
            raise NotFoundError(f"client {self.client_id!r} has no pilot {pilot_id!r}", field="pilot_id")
        if pilot.ended_at is not None:
            raise ConflictingStateError(
                f"pilot {pilot_id!r} already ended at {pilot.ended_at.isoformat()}", field="pilot_id"
            )
        require_not_before(at, pilot.started_at, field="at", what="the pilot started")
        self._record(PilotEnded, pilot_id=pilot_id, at=at)

    # --- the dedicated engineer (R-PTP-5) -------------------------------------------------

    def assign_engineer(self, engineer: str, at: datetime) -> None:
        self._record(EngineerAssigned, engineer=engineer, at=at)

    # --- what the rules read ------------------------------------------------------------

    @property
    def first_key_handover(self) -> KeyHandover | None:
        """The first licence key handover as known (one definition for R-PTP-6 and R-PTP-4,
        I-8: `ledger.rules.coverage.first_license_key_handover`): the free month starts
        there, and continuity counts from there."""
        return first_license_key_handover(
            {license_id: (l.issued_on, l.key_handed_over_at) for license_id, l in self.licenses.items()}
        )

    @property
    def first_key_handover_at(self) -> datetime | None:
        first = self.first_key_handover
        return None if first is None else first.at

    def mandatory_priority_reasons(self, at: datetime) -> list[str]:
        """R-PTP-2, R-PTP-3: why priority support is mandatory for this client at `at`."""
        reasons = [
            f"R-PTP-2: implementation in progress since {start.isoformat()}"
            for start, end in self.implementations
            if start <= at and (end is None or at < end)
        ]
        reasons += [
            f"R-PTP-3: personal configuration {configuration_id} (registered {registered.isoformat()})"
            for configuration_id, registered in self.personal_configurations.items()
            if registered <= at
        ]
        return reasons

    def engineer_at(self, at: datetime) -> str | None:
        """R-PTP-5: the dedicated engineer assigned last at or before `at`."""
        assigned = [(when, engineer) for when, engineer in self.engineers if when <= at]
        # The sort is stable: of two assignments at the same instant, the later recorded wins.
        return sorted(assigned, key=lambda pair: pair[0])[-1][1] if assigned else None

    # --- state ------------------------------------------------------------------------------

    @LedgerAggregate.when.register
    def _(self, event: ClientRegistered) -> None:
        self.client_id = event.client_id
        self.name = event.name
        self.registered_at = event.registered_at
        self.licenses: dict[str, License] = {}
        self.implementations: list[tuple[datetime, datetime | None]] = []
        self.personal_configurations: dict[str, datetime] = {}
        self.pilots: dict[str, Pilot] = {}
        self.engineers: list[tuple[datetime, str]] = []

    @LedgerAggregate.when.register
    def _(self, event: LicenseIssued) -> None:
        self.licenses[event.license_id] = License(event.product, event.issued_on)

    @LedgerAggregate.when.register
    def _(self, event: LicenseKeyHandedOver) -> None:
        self.licenses[event.license_id].key_handed_over_at = event.at

    @LedgerAggregate.when.register
    def _(self, event: ImplementationStarted) -> None:
        self.implementations.append((event.at, None))

    @LedgerAggregate.when.register
    def _(self, event: ImplementationFinished) -> None:
        self.implementations[-1] = (self.implementations[-1][0], event.at)

    @LedgerAggregate.when.register
    def _(self, event: PersonalConfigurationRegistered) -> None:
        self.personal_configurations[event.configuration_id] = event.at

    @LedgerAggregate.when.register
    def _(self, event: PilotStarted) -> None:
        self.pilots[event.pilot_id] = Pilot(event.contract, event.at)

    @LedgerAggregate.when.register
    def _(self, event: PilotEnded) -> None:
        self.pilots[event.pilot_id].ended_at = event.at

    @LedgerAggregate.when.register
    def _(self, event: EngineerAssigned) -> None:
        self.engineers.append((event.at, event.engineer))
