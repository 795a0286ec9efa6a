"""Named values stored in the register and shown to staff: outcomes, stages, statuses."""

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"


class IdentityState(StrEnum):
    """How far a raw address or number could be understood."""

    OK = "ok"
    WITHHELD = "withheld"
    UNPARSEABLE = "unparseable"


class Stage(StrEnum):
    WARNING = "warning"
    STAGE1 = "stage1"
    STAGE2 = "stage2"
    CEASE_AND_DESIST = "cease_and_desist"


class Category(StrEnum):
    A = "A"  # aggressive or abusive
    B = "B"  # unreasonable demands
    C = "C"  # unreasonable levels of contact
    D = "D"  # unreasonable use of the complaints process


class EmailMeasure(StrEnum):
    NONE = "none"
    REDIRECT = "redirect"
    COPY = "copy"
    FILE = "file"
    REJECT = "reject"


class PhoneMeasure(StrEnum):
    NONE = "none"
    WINDOWS = "windows"
    BARRED = "barred"


class ResponseTimetable(StrEnum):
    """How often the SPOC answers a restricted customer ("responses on a set time frame
    only"): a digest of what is due goes to the SPOC mailbox on that timetable."""

    NONE = "none"
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"


class Mode(StrEnum):
    SHADOW = "shadow"
    ENFORCE = "enforce"


class RestrictionStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    VARIED = "varied"
    LIFTED = "lifted"
    WITHDRAWN = "withdrawn"  # a proposal that never came into force
    EXPIRED = "expired"
    DORMANT = "dormant"
    PURGED = "purged"


class RetentionCategory(StrEnum):
    """Why a case is kept beyond the usual retention period (set by information governance)."""

    REPEATED_HISTORY = "repeated_history"  # behaviour that recurs: the history is the evidence
    PRE_POLICY = "pre_policy"  # decided under an earlier policy, kept until it is reviewed


class Outcome(StrEnum):
    DELIVER = "deliver"
    REDIRECT = "redirect"
    COPY = "copy"
    FILE = "file"
    REJECT = "reject"
    ALLOW = "allow"  # a call with nothing to flag
    FLAG = "flag"  # a call that breaks a restriction: staff are told, the call is not blocked


class FlagKind(StrEnum):
    OUTSIDE_WINDOW = "outside_window"
    PHONE_BARRED = "phone_barred"
    OVER_CALL_LIMIT = "over_call_limit"
    OVER_DURATION = "over_duration"
    WRONG_LINE = "wrong_line"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ReviewOutcome(StrEnum):
    CONTINUE = "continue"
    VARY = "vary"
    LIFT = "lift"


class ImportConfirmation(StrEnum):
    """Where an imported restriction stands with the approver named on the import."""

    AWAITING = "awaiting"  # in force, on the approver's work list to confirm or withdraw
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"  # lifted: the approver did not stand by it


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"
    ESCALATED = "escalated"
    MERGED = "merged"  # identities were linked: the person's alert continues as another one
    # A safeguarding alert is closed by what a person did about it, never as "reasonable".
    REFERRED = "referred"  # passed to the police, social care or another agency
    NO_CONCERN = "no_concern"  # read by a person, who found no risk to act on


class Referral(StrEnum):
    """Who a safeguarding concern was referred to."""

    POLICE = "police"
    ADULT_SOCIAL_CARE = "adult_social_care"
    CHILDRENS_SERVICES = "childrens_services"
    OTHER = "other"


class Role(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    APPROVER = "approver"
    SENIOR_APPROVER = "senior_approver"  # also approves the stages settings reserve for them
    ADMIN = "admin"
    IG = "ig"  # information governance: subject access, correction, erasure


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # claimed by a worker until claimed_until
    DELIVERED = "delivered"
    DEAD = "dead"  # given up: listed by `ccr mail dead-letters`, retried by `ccr mail retry`


class CallImportStatus(StrEnum):
    """Where one call-log file is on its way into the contact events."""

    QUEUED = "queued"  # uploaded, waiting for a worker
    RUNNING = "running"
    DONE = "done"  # read to the end; bad rows, if any, are listed in the import's report
    FAILED = "failed"  # nothing usable: unknown format, unreadable file, or no readable row


class LetterKind(StrEnum):
    """The letters the council sends a customer about their restriction."""

    NOTIFICATION = "notification"
    VARIATION = "variation"
    REVIEW_OUTCOME = "review_outcome"
    LIFTING = "lifting"
    APPEAL_OUTCOME = "appeal_outcome"


class LetterMethod(StrEnum):
    """How a letter (or an appeal) travelled."""

    POST = "post"
    EMAIL = "email"
    BY_HAND = "by_hand"


class AppealDecision(StrEnum):
    UPHELD = "upheld"  # the restriction stays as it is
    VARIED = "varied"  # its terms change, through a variation
    LIFTED = "lifted"  # it ends now
